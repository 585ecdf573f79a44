#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: memory_mutation
short_description: Update and delete acknowledged writes through other peers, and record every operation
description:
  - Reads the acknowledged writes of O(history) (in O(namespaces)) and, chosen from O(seed), deletes O(deletes) of
    them and updates O(updates) others (a C(PUT) of content, tags, priority and metadata), each through another
    peer than the one that created it. The first O(concurrent) updates are pairs of different updates of one
    memory sent at once through two different peers, so the product's ordering rule decides which survives.
  - Each mutation is an C(update) or C(delete) op (invoke, then its completion); with O(held), right after each
    acknowledgement a C(held) op records which nodes already hold its result (the updated record, or the
    memory's absence). The convergence checker then judges every node against the last acknowledged state of
    every memory (and that deleted ones stay deleted).
version_added: 0.2.0
author: AI Memory Swarm Team (@aimemory)
requirements:
  - httpx (Debian C(python3-httpx)) on the host that runs the module
  - cryptography (Debian C(python3-cryptography)) on that host, when O(agent_keys) is set (signed writes)
extends_documentation_fragment:
  - aimemory.swarm.attributes
  - aimemory.swarm.endpoint
options:
  leaders:
    description: Peers the mutations go through, each a dict with C(name) and C(url) (at least two).
    type: list
    elements: dict
    required: true
  history:
    description: History file (JSONL) holding the acknowledged writes; the mutations are appended to it.
    type: path
    required: true
  namespaces:
    description: Only writes of these namespaces are mutated; empty means all.
    type: list
    elements: str
    default: []
  seed:
    description: Seed choosing which memories are updated and deleted, and the updates' content.
    type: int
    required: true
  updates:
    description: Memories to update.
    type: int
    default: 0
  deletes:
    description: Memories to delete.
    type: int
    default: 0
  concurrent:
    description: How many of the updates are pairs of concurrent updates through two peers.
    type: int
    default: 0
  concurrency:
    description: Mutations in flight at once.
    type: int
    default: 4
  step:
    description: Label of the ops.
    type: str
    default: mutate
  held:
    description: Every peer (C(name), C(url)) read right after each acknowledgement (C(held) ops).
    type: list
    elements: dict
    default: []
attributes:
  check_mode:
    description: Plans the mutations without sending them.
    support: full
  diff_mode:
    support: none
seealso:
  - module: aimemory.swarm.memory_workload
  - module: aimemory.swarm.memory_convergence
"""

EXAMPLES = r"""
- name: Update 40 and delete 20 of S1's writes through other peers, 10 updates concurrent
  aimemory.swarm.memory_mutation:
    leaders: "{{ endpoints }}"
    history: /var/lib/aimemory-checks/c1/s1_quorum_write.jsonl
    seed: 1796199395
    updates: 40
    deletes: 20
    concurrent: 10
    held: "{{ endpoints }}"
"""

RETURN = r"""
planned:
  description: Mutation groups planned (a concurrent pair is one group).
  returned: always
  type: int
  sample: 50
counts:
  description: Outcomes by kind and status, for example C(update:200).
  returned: success
  type: dict
  sample: {"delete:200": 20, "update:200": 50}
seconds:
  description: Wall time.
  returned: success
  type: float
  sample: 2.5
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    ENDPOINT_ARGSPEC,
    HAS_CRYPTOGRAPHY,
    HAS_HTTPX,
    HTTPX_IMPORT_ERROR,
    endpoint_kwargs,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History, read_history
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.writes import MutationWorkload, acked_creates


def _pairs(items: list[dict]) -> list[tuple[str, str]]:
    return [(str(x["name"]), str(x["url"])) for x in items]


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            leaders=dict(type="list", elements="dict", required=True),
            history=dict(type="path", required=True),
            namespaces=dict(type="list", elements="str", default=[]),
            seed=dict(type="int", required=True),
            updates=dict(type="int", default=0),
            deletes=dict(type="int", default=0),
            concurrent=dict(type="int", default=0),
            concurrency=dict(type="int", default=4),
            step=dict(type="str", default="mutate"),
            held=dict(type="list", elements="dict", default=[]),
            **ENDPOINT_ARGSPEC,
        ),
        supports_check_mode=True,
    )
    if not HAS_HTTPX:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    if module.params.get("agent_keys") and not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    p = module.params
    for name in ("leaders", "held"):
        if any(not isinstance(x, dict) or not x.get("name") or not x.get("url") for x in p[name]):
            module.fail_json(msg=f"{name}: every item needs a name and a url")
    if min(p["updates"], p["deletes"], p["concurrent"]) < 0 or p["concurrent"] > p["updates"] \
            or p["concurrency"] < 1:
        module.fail_json(msg="updates, deletes and concurrent must be >= 0, concurrent <= updates, concurrency >= 1")
    ops, problems = read_history(p["history"])
    for problem in problems:
        module.warn(problem)
    creates = acked_creates(ops, p["namespaces"] or None)
    if p["updates"] + p["deletes"] > len(creates):
        module.fail_json(msg=f"{p['updates']} updates and {p['deletes']} deletes need that many acknowledged writes, "
                             f"the history holds {len(creates)}")
    try:
        workload = MutationWorkload(History(p["history"]), _pairs(p["leaders"]), endpoint_kwargs(p), p["seed"],
                                    p["step"], _pairs(p["held"]))
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    groups = workload.plan(creates, p["updates"], p["deletes"], p["concurrent"])
    if module.check_mode:
        module.exit_json(changed=bool(groups), planned=len(groups))
    first_process = 1 + max((op["process"] for op in ops if isinstance(op.get("process"), int)
                             and not isinstance(op.get("process"), bool)), default=-1)
    result = workload.run(groups, p["concurrency"], first_process)
    errors = result.pop("errors")
    if errors:
        module.fail_json(msg="mutation worker(s) failed: " + "; ".join(errors), planned=len(groups), **result)
    module.exit_json(changed=bool(groups), planned=len(groups), **result)


if __name__ == "__main__":
    main()
