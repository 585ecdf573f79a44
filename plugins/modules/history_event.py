#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: history_event
short_description: Record a fault or note operation in a check's history
description:
  - Appends one operation with process C(nemesis) (for example C(stop), C(restart), C(partition), C(heal)) to the
    JSONL history of a check, so the checker can anchor timings such as time to converge after a heal.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
options:
  history:
    description: Path of the history file on the host running the module.
    type: path
    required: true
  f:
    description: What happened (C(stop), C(restart), C(partition), C(heal), ...).
    type: str
    required: true
  value:
    description: Details (nodes affected, rules applied).
    type: raw
  node:
    description: Node the event concerns, if one.
    type: str
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Record that node-b and node-c were stopped
  aimemory.swarm.history_event:
    history: /var/lib/aimemory-checks/c1/s2_quorum_not_met.jsonl
    f: stop
    value: [node-b, node-c]
"""

RETURN = r"""
op:
  description: The operation appended.
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(history=dict(type="path", required=True), f=dict(type="str", required=True),
                           value=dict(type="raw"), node=dict(type="str")),
        supports_check_mode=True,
    )
    op = {"process": "nemesis", "type": "info", "f": module.params["f"], "node": module.params["node"],
          "value": module.params["value"]}
    if module.check_mode:
        module.exit_json(changed=True, op=op)
    written = History(module.params["history"]).append(op)
    module.exit_json(changed=True, op=written[0])


if __name__ == "__main__":
    main()
