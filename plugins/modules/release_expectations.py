#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_expectations
short_description: What the ai-memory release of a binary is expected to do, where releases differ
description:
  - Asks the binary for C(--version) (with a deadline) and returns the collection's expectations for that
    release (schema version, MCP tools per profile, whether HTTP writes need agent attestation, the precision
    times keep across backends, the release's known product findings).
  - A release the collection does not know is returned with C(source) set to C(reported by the binary) and no
    pinned values; the checks then take those values from the binary and the evidence says so.
  - Resolves the write-attestation posture the campaign runs (O(posture), or the release's own default) into what
    the nodes need (C(env)), whether the workloads sign their writes and whether the attestation scenario can be
    judged; a posture the release cannot run (attested without a known signature scheme) fails.
version_added: 0.2.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  binary:
    description: The ai-memory binary (or the stand-in) on the host running the module.
    type: path
    required: true
  timeout:
    description: Seconds C(--version) may take.
    type: float
    default: 30
  environment:
    description:
      - Extra environment of the C(--version) call, for example C(AI_MEMORY_STANDIN_RELEASE) for the stand-in
        impersonating another release (the nodes get the same through their host-wide file).
    type: dict
    default: {}
  posture:
    description:
      - Write-attestation posture to run - C(attested) (HTTP writes signed by a key bound to their agent, refused
        otherwise), C(permissive) (unsigned writes accepted as bare claims); empty is the release's own default.
    type: str
    choices: ["", attested, permissive]
    default: ""
attributes:
  check_mode:
    description: Read-only; runs the same in check mode.
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: What is the campaign certifying?
  aimemory.swarm.release_expectations:
    binary: /var/lib/aimemory-build/artifacts/ai-memory-0.7.0-0123456789abcdef/ai-memory
  register: release
"""

RETURN = r"""
version_output:
  description: The first line C(--version) printed.
  returned: success
  type: str
  sample: ai-memory 0.7.0
expectations:
  description: The release's expectations and where they come from.
  returned: success
  type: dict
  sample: {"release": "0.7.0", "source": "aimemory.swarm release table", "schema_version": 57,
           "mcp_profiles": {"core": ["memory_capabilities", "memory_get"]}, "http_write_attestation": false,
           "cross_backend_time_precision": "microsecond", "known_findings": []}
posture:
  description: The posture the campaign runs and what it takes.
  returned: success
  type: dict
  sample: {"posture": "attested", "default": "attested", "env": {}, "signed": true, "judged": true,
           "label": "attested (the release's default)"}
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._process import run
from ansible_collections.aimemory.swarm.plugins.module_utils._releases import expectations, posture


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(binary=dict(type="path", required=True), timeout=dict(type="float", default=30),
                           environment=dict(type="dict", default={}),
                           posture=dict(type="str", choices=["", "attested", "permissive"], default="")),
        supports_check_mode=True,
    )
    # a scratch HOME: ai-memory writes a default config.toml into $HOME/.config on its first run
    with tempfile.TemporaryDirectory(prefix="aimemory-version-") as home:
        done = run([module.params["binary"], "--version"], timeout=module.params["timeout"],
                   env=dict(os.environ, HOME=home, AI_MEMORY_NO_CONFIG="1",
                            **{str(k): str(v) for k, v in module.params["environment"].items()}), cwd=home)
    line = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
    if not done.ok or not line:
        module.fail_json(msg=f"cannot ask the binary for its version: {done.why()}")
    expect = expectations(line)
    try:
        chosen = posture(expect, module.params["posture"])
    except ValueError as exc:
        module.fail_json(msg=f"campaign_ai_memory_posture: {exc}", version_output=line, expectations=expect)
    module.exit_json(changed=False, version_output=line, expectations=expect, posture=chosen)


if __name__ == "__main__":
    main()
