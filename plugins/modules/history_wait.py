#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: history_wait
short_description: Wait, with a deadline, until a history holds enough operations of a kind
description:
  - Polls the JSONL history O(history) (while another task, for example an C(async) M(aimemory.swarm.memory_workload),
    appends to it) until it holds at least O(count) ops of function O(f) with a type in O(types), optionally of one
    O(step) or O(namespace), recorded after O(after_index).
  - This is how a nemesis is timed to hit while requests are in flight (a kill mid-write), instead of a fixed sleep.
  - Fails when the deadline passes first, saying how many were seen.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  history:
    description: History file (JSONL) on the host running the module; it may not exist yet.
    type: path
    required: true
  f:
    description: Function of the ops to count (C(write), C(read), ...).
    type: str
    default: write
  types:
    description: Op types to count.
    type: list
    elements: str
    default: [ok, fail, info]
  step:
    description: Only ops of this step.
    type: str
  namespace:
    description: Only ops whose C(value.namespace) is this.
    type: str
  after_index:
    description: Only ops with a larger index.
    type: int
    default: -1
  count:
    description: How many matching ops to wait for.
    type: int
    default: 1
  deadline:
    description: Seconds to wait at most.
    type: float
    default: 60
  interval:
    description: Seconds between two reads of the history.
    type: float
    default: 0.05
attributes:
  check_mode:
    description: Reads only; it changes nothing in either mode.
    support: full
  diff_mode:
    support: none
seealso:
  - module: aimemory.swarm.memory_workload
  - module: aimemory.swarm.node_process
"""

EXAMPLES = r"""
- name: Wait until five writes of this cycle have completed
  aimemory.swarm.history_wait:
    history: /var/lib/aimemory-checks/c1/phase4.jsonl
    namespace: p4-c1-kill-1
    count: 5
    deadline: 60
"""

RETURN = r"""
seen:
  description: Matching ops found when the wait ended.
  returned: always
  type: int
  sample: 5
last_index:
  description: Index of the last op of the history when the wait ended (-1 when empty).
  returned: always
  type: int
  sample: 42
seconds:
  description: Seconds waited.
  returned: always
  type: float
  sample: 0.8
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._history import matching, read_history


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            history=dict(type="path", required=True),
            f=dict(type="str", default="write"),
            types=dict(type="list", elements="str", default=["ok", "fail", "info"]),
            step=dict(type="str"),
            namespace=dict(type="str"),
            after_index=dict(type="int", default=-1),
            count=dict(type="int", default=1),
            deadline=dict(type="float", default=60.0),
            interval=dict(type="float", default=0.05),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["count"] < 1 or p["deadline"] <= 0 or p["interval"] <= 0:
        module.fail_json(msg="count must be >= 1, deadline and interval > 0")
    start = time.monotonic()
    stop_at = start + p["deadline"]
    while True:
        ops = read_history(p["history"])[0] if os.path.exists(p["history"]) else []
        seen = len(matching(ops, p["f"], p["types"], p["step"], p["namespace"], p["after_index"]))
        last = int(ops[-1].get("index", -1)) if ops else -1
        if seen >= p["count"]:
            module.exit_json(changed=False, seen=seen, last_index=last, seconds=round(time.monotonic() - start, 3))
        if time.monotonic() >= stop_at:
            module.fail_json(msg=f"only {seen} of {p['count']} {p['f']} op(s) of types {p['types']} in "
                                 f"{p['history']} after {p['deadline']:g} s", seen=seen, last_index=last,
                             seconds=round(time.monotonic() - start, 3))
        time.sleep(min(p["interval"], max(0.0, stop_at - time.monotonic())))


if __name__ == "__main__":
    main()
