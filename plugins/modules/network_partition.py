#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: network_partition
short_description: Cut a host off from given addresses with nftables, or heal the cut
description:
  - O(state=present) installs an nftables table that drops every packet to and from O(isolate_from) on the host
    (input and output hooks), at the network level; the ai-memory service keeps running.
  - O(state=absent) deletes the table; healing is idempotent and always safe, so it also belongs in C(always).
  - Runtime state only; nothing is persisted.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
requirements:
  - nft (nftables)
options:
  state:
    description: C(present) isolates, C(absent) heals.
    type: str
    choices: [present, absent]
    default: present
  isolate_from:
    description: IPv4 addresses this host must not exchange packets with.
    type: list
    elements: str
    default: []
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Isolate node-c from the other peers
  aimemory.swarm.network_partition:
    isolate_from: [10.250.0.10, 10.250.0.11]

- name: Heal the partition
  aimemory.swarm.network_partition:
    state: absent
"""

RETURN = r"""
rules:
  description: The nftables script applied (state present).
  returned: changed and state is present
  type: str
time:
  description: Unix time at which the rules took effect or were removed.
  returned: success
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._nemesis.partition import TABLE, ruleset


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(state=dict(type="str", choices=["present", "absent"], default="present"),
                           isolate_from=dict(type="list", elements="str", default=[])),
        required_if=[("state", "present", ["isolate_from"])],
        supports_check_mode=True,
    )
    nft = module.get_bin_path("nft", required=True)
    exists = module.run_command([nft, "list", "table", "inet", TABLE])[0] == 0
    if module.params["state"] == "absent":
        if exists and not module.check_mode:
            module.run_command([nft, "delete", "table", "inet", TABLE], check_rc=True)
        module.exit_json(changed=exists, time=time.time())
    try:
        script = ruleset(module.params["isolate_from"])
    except ValueError as exc:
        module.fail_json(msg=f"isolate_from: {exc}")
    if not module.check_mode:
        if exists:
            module.run_command([nft, "delete", "table", "inet", TABLE], check_rc=True)
        module.run_command([nft, "-f", "-"], data=script, check_rc=True)
    module.exit_json(changed=True, rules=script, time=time.time())


if __name__ == "__main__":
    main()
