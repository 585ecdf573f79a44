#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: crate_source
short_description: Prepare a Rust crate's source for an offline build (published crate or git commit, vendored)
description:
  - O(kind=crate) downloads C(<name>-<version>.crate) from a registry (crates.io by default), checks its sha256
    against the registry's sparse index (or O(checksum)), refuses a yanked version and extracts it safely.
  - O(kind=git) resolves O(git_ref) to a commit and checks that commit out.
  - With O(vendor=true), runs C(cargo vendor --locked) in the tree so a build host without registry access can
    build with C(cargo build --offline --locked).
  - The tree is C(<dest>/<name>-<version>) or C(<dest>/git-<commit>); a stamp file written last records its
    identity, so a second run with the same identity does nothing (and needs no network for a crate).
version_added: 0.2.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  kind:
    description: Where the source comes from.
    type: str
    choices: [crate, git]
    default: crate
  name:
    description: Crate name (O(kind=crate)).
    type: str
    default: ai-memory
  version:
    description: Crate version, exactly (O(kind=crate)).
    type: str
  download_url:
    description: Download URL template with C({name}) and C({version}).
    type: str
    default: https://static.crates.io/crates/{name}/{name}-{version}.crate
  index_url:
    description: Base URL of the registry's sparse index (the checksum and the yanked flag come from it).
    type: str
    default: https://index.crates.io
  checksum:
    description: Expected sha256 of the C(.crate); when set the index is not read.
    type: str
    default: ""
  git_url:
    description: Repository (O(kind=git)).
    type: str
  git_ref:
    description: Branch, tag or commit (O(kind=git)).
    type: str
  dest:
    description: Directory holding the source trees.
    type: path
    required: true
  vendor:
    description: Vendor the dependencies into the tree (C(cargo vendor --locked --versioned-dirs)).
    type: bool
    default: true
  cargo:
    description: The cargo command (argv list) used to vendor, for example C([/root/.cargo/bin/cargo]).
    type: list
    elements: str
    default: [cargo]
  cargo_home:
    description: CARGO_HOME for cargo (its registry cache is reused).
    type: path
  timeout:
    description: Seconds each download or command may take (vendoring gets five times this).
    type: float
    default: 120
attributes:
  check_mode:
    description: Reports whether the tree would be prepared; downloads nothing.
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: ai-memory 0.7.0 from crates.io, vendored
  aimemory.swarm.crate_source:
    name: ai-memory
    version: 0.7.0
    dest: /var/lib/aimemory-build/src
  register: source
"""

RETURN = r"""
tree:
  description: The source tree (Cargo.toml at its root).
  returned: success
  type: str
  sample: /var/lib/aimemory-build/src/ai-memory-0.7.0
identity:
  description: What the tree is; part of the build's cache key.
  returned: success
  type: dict
  sample: {"kind": "crate", "name": "ai-memory", "version": "0.7.0", "sha256": "5f0c...", "vendored": true}
package:
  description: The package's name, version and rust-version from its Cargo.toml.
  returned: success
  type: dict
  sample: {"name": "ai-memory", "version": "0.7.0", "rust_version": "1.96"}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.aimemory.swarm.plugins.module_utils._build.source import (
    SourceError,
    package_of,
    prepare_crate,
    prepare_git,
    read_stamp,
    resolve_git,
    vendor,
    write_stamp,
)


def fetch(url: str, timeout: float) -> bytes:
    try:
        with open_url(url, timeout=timeout, http_agent="aimemory.swarm crate_source") as resp:
            return resp.read()
    except Exception as exc:  # urllib raises many kinds; each is a clear failure of this download
        raise SourceError(f"cannot download {url}: {exc}") from exc


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            kind=dict(type="str", choices=["crate", "git"], default="crate"),
            name=dict(type="str", default="ai-memory"),
            version=dict(type="str"),
            download_url=dict(type="str", default="https://static.crates.io/crates/{name}/{name}-{version}.crate"),
            index_url=dict(type="str", default="https://index.crates.io"),
            checksum=dict(type="str", default=""),
            git_url=dict(type="str"),
            git_ref=dict(type="str"),
            dest=dict(type="path", required=True),
            vendor=dict(type="bool", default=True),
            cargo=dict(type="list", elements="str", default=["cargo"]),
            cargo_home=dict(type="path"),
            timeout=dict(type="float", default=120),
        ),
        required_if=[("kind", "crate", ["version"]), ("kind", "git", ["git_url", "git_ref"])],
        supports_check_mode=True,
    )
    p = module.params
    env = dict(os.environ)
    if p["cargo_home"]:
        env.update(CARGO_HOME=p["cargo_home"], PATH=f"{p['cargo_home']}/bin:{env.get('PATH', '/usr/bin:/bin')}")
    git = module.get_bin_path("git", required=p["kind"] == "git") or "git"
    try:
        if p["kind"] == "crate":
            tree = os.path.join(p["dest"], f"{p['name']}-{p['version']}")
            want = {"kind": "crate", "name": p["name"], "version": p["version"]}
        else:
            commit = resolve_git(git, p["git_url"], p["git_ref"], env, p["timeout"])
            tree = os.path.join(p["dest"], f"git-{commit[:12]}")
            want = {"kind": "git", "url": p["git_url"], "commit": commit}
        stamp = read_stamp(tree)
        if stamp and all(stamp.get("identity", {}).get(k) == v for k, v in want.items()) \
                and stamp.get("identity", {}).get("vendored") == p["vendor"]:
            module.exit_json(changed=False, tree=tree, identity=stamp["identity"], package=stamp["package"])
        if module.check_mode:
            module.exit_json(changed=True, tree=tree, identity=want, package={},
                             msg=f"would prepare {tree}")
        os.makedirs(p["dest"], mode=0o755, exist_ok=True)
        if p["kind"] == "crate":
            tree, identity = prepare_crate(p["dest"], p["name"], p["version"], p["download_url"], p["index_url"],
                                           fetch, p["timeout"], p["checksum"])
        else:
            tree, identity = prepare_git(p["dest"], p["git_url"], p["git_ref"], commit, git, env, p["timeout"])
        with open(os.path.join(tree, "Cargo.toml")) as fh:
            package = package_of(fh.read())
        if not package.get("rust_version"):
            package["rust_version"] = "1.0"  # no rust-version declared: any toolchain cargo accepts
        if p["vendor"]:
            done = vendor(tree, p["cargo"], env, p["timeout"] * 5)
            if not done.ok:
                raise SourceError(f"vendoring failed: {done.why()}")
        identity["vendored"] = p["vendor"]
        write_stamp(tree, {"identity": identity, "package": package})
    except (SourceError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=True, tree=tree, identity=identity, package=package)


if __name__ == "__main__":
    main()
