#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: local_swarm_image
short_description: Bake the Debian trixie host image of the local swarm, once per recipe
description:
  - Builds a Debian root filesystem with C(debootstrap) plus the packages the swarm hosts need (systemd, OpenSSH,
    Python with cryptography and psycopg, nftables, PostgreSQL 17 with pgvector and Apache AGE, libfaketime).
  - The image directory name carries the hash of its recipe, so an unchanged recipe reuses the image and a changed
    one bakes a new one. The image is built in a temporary directory and renamed into place only when complete.
  - Runs on the controller as root.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  path:
    description: Directory that holds the images.
    type: path
    default: /var/lib/aimemory-swarm/images
  suite:
    description: Debian suite to bootstrap.
    type: str
    default: trixie
  mirror:
    description: Debian mirror; empty means the one this machine's apt uses.
    type: str
    default: ""
  packages:
    description: Extra packages to install on top of the recipe's.
    type: list
    elements: str
    default: []
  prune:
    description: Remove images of other recipes.
    type: bool
    default: false
  state:
    description: C(present) bakes or reuses the image; C(absent) removes every image under O(path).
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Bake the host image, or reuse it while its recipe is unchanged
  aimemory.swarm.local_swarm_image:
    state: present
  register: image
"""

RETURN = r"""
image_dir:
  description: Directory of the image for this recipe.
  returned: state is present
  type: str
  sample: /var/lib/aimemory-swarm/images/trixie-ae08aa4c1121
recipe_hash:
  description: SHA-256 of the recipe (suite, mirror, packages, recipe version).
  returned: state is present
  type: str
bake_seconds:
  description: Time the bake took (0 when the image was reused).
  returned: state is present
  type: float
pruned:
  description: Image directories removed.
  returned: always
  type: list
  elements: str
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._swarm import image


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/var/lib/aimemory-swarm/images"),
            suite=dict(type="str", default="trixie"),
            mirror=dict(type="str", default=""),
            packages=dict(type="list", elements="str", default=[]),
            prune=dict(type="bool", default=False),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["state"] == "absent":
        existing = sorted(os.listdir(p["path"])) if os.path.isdir(p["path"]) else []
        if existing and not module.check_mode:
            shutil.rmtree(p["path"])
        module.exit_json(changed=bool(existing), pruned=[os.path.join(p["path"], e) for e in existing])
    mirror = p["mirror"] or image.default_mirror()
    rec = image.recipe(p["suite"], mirror, p["packages"])
    digest = image.recipe_hash(rec)
    target = image.image_dir(p["path"], p["suite"], digest)
    if image.is_baked(target, digest):
        pruned = [] if module.check_mode or not p["prune"] else image.prune(p["path"], target)
        module.exit_json(changed=bool(pruned), image_dir=target, recipe_hash=digest, bake_seconds=0.0,
                         pruned=pruned)
    if module.check_mode:
        module.exit_json(changed=True, image_dir=target, recipe_hash=digest, bake_seconds=0.0, pruned=[])
    for tool in ("debootstrap", "chroot", "mount"):
        module.get_bin_path(tool, required=True)
    try:
        target, digest, seconds, _log = image.bake(p["path"], p["suite"], mirror, p["packages"])
    except (RuntimeError, OSError) as exc:
        module.fail_json(msg=f"baking the {p['suite']} image failed: {exc}")
    pruned = image.prune(p["path"], target) if p["prune"] else []
    module.exit_json(changed=True, image_dir=target, recipe_hash=digest, bake_seconds=round(seconds, 1),
                     pruned=pruned)


if __name__ == "__main__":
    main()
