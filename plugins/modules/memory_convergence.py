#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: memory_convergence
short_description: Read every node until the writes a check requires are present on all of them, or a deadline
description:
  - Reads the complete content of O(namespace) on every node (paging with C(limit) and C(offset) until a short
    page; a single capped page never counts as complete) and records each read in the history.
  - Polls every O(interval) seconds until each required write (by title, id and content digest) is on every node,
    or O(deadline) seconds pass. No fixed settle time.
  - Required writes are those of O(write_steps) acknowledged with 201, plus with O(include_kept) the 503
    C(quorum_not_met) writes whose local commit the contract keeps.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.endpoint
options:
  nodes:
    description: Nodes to read, each C({name, url}).
    type: list
    elements: dict
    required: true
  namespace:
    description: Namespace holding the check's writes.
    type: str
    required: true
  history:
    description: History file (JSONL) on the host running the module.
    type: path
    required: true
  write_steps:
    description: Steps whose writes are required; empty means every step.
    type: list
    elements: str
    default: []
  include_kept:
    description: Also require the 503 quorum_not_met writes (kept locally by the leader).
    type: bool
    default: false
  step:
    description: Label of the reads in the history.
    type: str
    default: final
  deadline:
    description: Seconds to wait for convergence.
    type: float
    default: 60
  interval:
    description: Seconds between polls.
    type: float
    default: 0.25
  once:
    description: Read every node once and stop (no waiting).
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Wait until every acknowledged write is on every peer
  aimemory.swarm.memory_convergence:
    nodes: "{{ peer_endpoints }}"
    namespace: s4-c1
    history: /var/lib/aimemory-checks/c1/s4.jsonl
    write_steps: [partitioned]
    step: after_heal
    deadline: 90
"""

RETURN = r"""
converged:
  description: Whether every required write was seen on every node before the deadline.
  returned: success
  type: bool
seconds:
  description: Time spent polling.
  returned: success
  type: float
polls:
  description: Number of poll rounds.
  returned: success
  type: int
per_node_present:
  description: Required writes present (intact) per node at the last poll.
  returned: success
  type: dict
required:
  description: Number of required writes.
  returned: success
  type: int
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.convergence import (
    completed_writes,
    judge,
    quorum_kept,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import ENDPOINT_ARGSPEC, Endpoint
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History, read_history
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.reads import read_namespace


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            nodes=dict(type="list", elements="dict", required=True),
            namespace=dict(type="str", required=True),
            history=dict(type="path", required=True),
            write_steps=dict(type="list", elements="str", default=[]),
            include_kept=dict(type="bool", default=False),
            step=dict(type="str", default="final"),
            deadline=dict(type="float", default=60),
            interval=dict(type="float", default=0.25),
            once=dict(type="bool", default=False),
            **ENDPOINT_ARGSPEC,
        ),
        supports_check_mode=True,
    )
    p = module.params
    if module.check_mode:
        module.exit_json(changed=False, converged=False, seconds=0.0, polls=0, per_node_present={}, required=0)
    history = History(p["history"])
    ops, problems = read_history(p["history"])
    if problems:
        module.fail_json(msg="; ".join(problems))
    steps = set(p["write_steps"]) or None
    required = [op for op in completed_writes(ops, steps)
                if op["type"] == "ok" or (p["include_kept"] and quorum_kept(op))]
    args = {k: p[k] for k in ("api_key", "agent_id", "ca_cert", "client_cert", "client_key", "timeout")}
    clients = {n["name"]: Endpoint(n["url"], **args) for n in p["nodes"]}
    names = list(clients)
    start = time.monotonic()
    deadline = start + p["deadline"]
    polls, converged, result = 0, False, {}
    try:
        while True:
            polls += 1
            for name, client in clients.items():
                found, error, pages = read_namespace(client, p["namespace"])
                op = {"process": "reader", "f": "read", "node": name, "step": p["step"]}
                if found is None:
                    history.append({**op, "type": "fail", "error": error, "value": {"pages": pages}})
                else:
                    history.append({**op, "type": "ok", "value": {"found": found, "pages": pages}})
            ops, problems = read_history(p["history"])
            result = judge(ops, names, required, None, {p["step"]})
            converged = bool(required) and not result["lost"] and not result["corrupted"] and \
                not any(n not in result["per_node_present"] for n in names)
            if converged or p["once"] or time.monotonic() >= deadline:
                break
            time.sleep(p["interval"])
    finally:
        for client in clients.values():
            client.close()
    module.exit_json(changed=True, converged=converged, seconds=round(time.monotonic() - start, 3), polls=polls,
                     per_node_present=result.get("per_node_present", {}), required=len(required))


if __name__ == "__main__":
    main()
