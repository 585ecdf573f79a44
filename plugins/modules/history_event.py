#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: history_event
short_description: Record a fault or a note as an operation of a check's history
description:
  - Appends one operation to the JSONL history of a check, by default with process C(nemesis) and type C(info)
    (Jepsen records nemesis ops in the same history as the client ops).
  - Checkers read these ops. C(stop)/C(kill) and C(start)/C(restart) with the nodes in O(value) tell which nodes
    were live at each write (so an ack count above the live nodes is a phantom ack); C(partition) and C(heal)
    bound the fault window; the last C(heal)/C(restart) anchors the time to converge.
  - O(at) records when the fault really took effect (for example the C(applied_at_ns) that
    M(aimemory.swarm.network_partition) returns), which then anchors timings instead of the time of this append.
  - O(observed) records the observation that a fault took effect (the C(observed) that
    M(aimemory.swarm.network_partition), M(aimemory.swarm.node_process) and M(aimemory.swarm.port_probe) return).
    The checkers require it on every fault (C(stop), C(kill), C(partition), C(pause)); a fault recorded without a
    positive observation makes its check red, so record a fault after observing it, never before.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  history:
    description: History file (JSONL) on the host running the module.
    type: path
    required: true
  f:
    description: What happened, a Jepsen-style name (C(stop), C(kill), C(restart), C(start), C(partition), C(heal),
      C(note), ...).
    type: str
    required: true
  value:
    description: Details; for C(stop)/C(kill)/C(start)/C(restart) the list of node names (or C({nodes, ...})).
    type: raw
  node:
    description: Node the event concerns, if one.
    type: str
  process:
    description: Process of the op.
    type: str
    default: nemesis
  type:
    description: Op type; a nemesis op that is not a pair of invoke and completion is C(info).
    type: str
    choices: [invoke, ok, fail, info]
    default: info
  at:
    description: When the event took effect, as unix ns (int), unix seconds (float) or RFC 3339 text.
    type: raw
  observed:
    description: What was observed of the event's effect (a dict, for example C({refused, nodes, probes}) for a
      stop, C({blocked, probes}) for a partition, C({gone, pid}) for a kill).
    type: dict
attributes:
  check_mode:
    description: Returns the op it would append without appending it.
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Record that node-b and node-c were stopped, as observed (both refuse connections)
  aimemory.swarm.history_event:
    history: /var/lib/aimemory-checks/c1/s2_quorum_not_met.jsonl
    f: stop
    value: [node-b, node-c]
    at: "{{ down.observed_at_ns }}"
    observed: "{{ down.observed }}"

- name: Record the heal at the time the rules were removed
  aimemory.swarm.history_event:
    history: /var/lib/aimemory-checks/c1/s4_partition_convergence.jsonl
    f: heal
    node: node-c
    at: "{{ healed.applied_at_ns }}"
"""

RETURN = r"""
op:
  description: The operation appended (in check mode, without C(index)).
  returned: always
  type: dict
  sample: {"index": 7, "time": 1795368633278227800, "process": "nemesis", "type": "info", "f": "stop",
           "node": null, "value": ["node-b", "node-c"]}
"""

import contextlib

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History
from ansible_collections.aimemory.swarm.plugins.module_utils._ops import time_ns


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            history=dict(type="path", required=True),
            f=dict(type="str", required=True),
            value=dict(type="raw"),
            node=dict(type="str"),
            process=dict(type="str", default="nemesis"),
            type=dict(type="str", choices=["invoke", "ok", "fail", "info"], default="info"),
            at=dict(type="raw"),
            observed=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    op = {"process": p["process"], "type": p["type"], "f": p["f"], "node": p["node"], "value": p["value"]}
    if p["at"] not in (None, ""):
        at = p["at"]
        if isinstance(at, str) and at.strip().lstrip("-").isdigit():
            at = int(at)
        elif isinstance(at, str):
            with contextlib.suppress(ValueError):
                at = float(at)
        stamp = time_ns(at)
        if stamp is None:
            module.fail_json(msg=f"at: {p['at']!r} is not unix ns, unix seconds or RFC 3339 text")
        op["at"] = stamp
    if p["observed"] is not None:
        op["observed"] = p["observed"]
    if module.check_mode:
        module.exit_json(changed=True, op=op)
    written = History(p["history"]).append(op)
    module.exit_json(changed=True, op=written[0])


if __name__ == "__main__":
    main()
