#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: memory_workload
short_description: Write distinct memories through ai-memory nodes and record every operation in a history
description:
  - Jepsen-style set workload. Writes O(count) memories with titles unique in O(namespace) (C(<title_prefix>-<n>),
    numbered after the writes of the same prefix already in the history), choosing the leader round-robin among
    O(leaders), with O(concurrency) workers, each with its own keep-alive mTLS connection.
  - Every write is appended to O(history) as an C(invoke) op before the request and a completion after it
    (C(ok) on 201; C(fail) when it certainly did not happen, a 4xx or a connection refused before the request;
    C(info) when unknown, such as a 503 C(quorum_not_met) whose local write the node keeps, another 5xx, a timeout).
    Each op records the request (method, path, title, namespace, scope, agent id, content; never the API key), the
    status, the relevant response body and headers, and the latency.
  - The verdict is never computed here; see M(aimemory.swarm.history_check).
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
requirements:
  - httpx (Debian C(python3-httpx)) on the host that runs the module
extends_documentation_fragment:
  - aimemory.swarm.attributes
  - aimemory.swarm.endpoint
options:
  leaders:
    description: Nodes that receive the writes, each a dict with C(name) and C(url) (C(https://<ip>:9077)).
    type: list
    elements: dict
    required: true
  count:
    description: Number of writes.
    type: int
    default: 10
  concurrency:
    description: Concurrent workers (Jepsen processes); each is one C(process) in the history.
    type: int
    default: 1
  agents:
    description:
      - Agent identities writing concurrently; worker C(i) sends C(X-Agent-Id) C(agents[i % len(agents)]) and
        records it in every op, instead of O(agent_id). O(concurrency) must be at least their number.
      - Reads keep using O(agent_id); use a non-private O(scope) so they can see every agent's writes.
    type: list
    elements: str
    default: []
  namespace:
    description: Namespace of the writes; use a fresh one per check (or cycle) so checks never see each other.
    type: str
    required: true
  title_prefix:
    description: Prefix of the unique titles.
    type: str
    default: w
  scope:
    description:
      - Visibility scope sent with each write (contract §3.3) and recorded in every op. C(private) relies on the
        same O(agent_id) being used by the reads.
    type: str
    choices: [private, team, unit, org, collective]
    default: collective
  tier:
    description: Memory tier of the writes.
    type: str
    choices: [short, mid, long]
    default: mid
  history:
    description: History file (JSONL) on the host running the module, for example
      C(/var/lib/aimemory-checks/<campaign>/<check>.jsonl). Created if missing.
    type: path
    required: true
  step:
    description: Label of this step, recorded in each op (checkers may select writes by step).
    type: str
    default: main
  deadline:
    description: Seconds after which no new write starts (each request still has O(timeout)).
    type: float
    default: 300
  until_event:
    description:
      - Keep writing until a nemesis op of this name (for example C(kill)) is appended to O(history) by another task,
        then stop; O(count) is then a cap. Run the module with C(async) and inject the fault meanwhile, so writes are
        certainly in flight when it lands (a kill mid-write, not between writes).
    type: str
  stagger:
    description: Seconds each worker waits between two of its writes (0 writes back to back).
    type: float
    default: 0
  pause_after_refused:
    description: Seconds a worker waits after a write whose connection was refused (the node is down), so a killed
      leader is not hammered while the fault is being recorded.
    type: float
    default: 0
  seed:
    description:
      - Vary the writes from this seed (recorded in every write's metadata as C(w_seed)); each write's namespace
        (one of O(namespaces)), agent (one of O(agents)), tier, scope (team, unit, org or collective), tags,
        priority and metadata come from it, so a failing run can be replayed. O(namespace) then only names the
        numbering of the titles.
    type: int
  namespaces:
    description: The namespaces varied writes go to (with O(seed)); default O(namespace).
    type: list
    elements: str
    default: []
  held:
    description:
      - Every peer (C(name), C(url)); right after each acknowledgement the write is read by id on all of them at
        once and a C(held) op records which hold it (the checker wants at least W holders for every ack).
    type: list
    elements: dict
    default: []
  bulk:
    description:
      - Send the writes in batches of this many through C(POST /api/v1/memories/bulk) (each batch through the next
        leader, as one agent) instead of one by one; 0 writes one by one. Each memory is still its own op pair
        (step C(bulk)); the answer carries no ids, so the checkers find them by title.
    type: int
    default: 0
attributes:
  check_mode:
    description: Plans the writes without sending them or touching the history.
    support: full
  diff_mode:
    support: none
notes:
  - Uses only the Python standard library on the host.
seealso:
  - module: aimemory.swarm.memory_convergence
  - module: aimemory.swarm.history_check
"""

EXAMPLES = r"""
- name: Write 20 memories through node-a and node-b with two workers
  aimemory.swarm.memory_workload:
    leaders:
      - {name: node-a, url: "https://10.250.0.10:9077"}
      - {name: node-b, url: "https://10.250.0.11:9077"}
    count: 20
    concurrency: 2
    namespace: s4-c1
    title_prefix: s4
    step: partitioned
    history: /var/lib/aimemory-checks/c1/s4_partition_convergence.jsonl
    api_key: "{{ api_key }}"
    ca_cert: /etc/aimemory-checks/ca.pem
    client_cert: /etc/aimemory-checks/client.pem
    client_key: /etc/aimemory-checks/client.key
  register: writes

- name: Show what the swarm acknowledged
  ansible.builtin.debug:
    msg: "{{ writes.ok }} of {{ writes.attempted }} acknowledged: {{ writes.statuses }}"
"""

RETURN = r"""
attempted:
  description: Writes sent (or, in check mode, 0).
  returned: always
  type: int
  sample: 20
ok:
  description: Writes acknowledged with 201 (Jepsen C(ok)).
  returned: always
  type: int
  sample: 18
fail:
  description: Writes that certainly did not happen (4xx, refused before the request).
  returned: always
  type: int
  sample: 0
info:
  description: Writes whose outcome is unknown (503, other 5xx, timeouts, resets).
  returned: always
  type: int
  sample: 2
acked:
  description: Same as RV(ok) (kept for older plays).
  returned: always
  type: int
  sample: 18
acked_ids:
  description: Ids of the acknowledged writes, sorted.
  returned: always
  type: list
  elements: str
  sample: [0b6f3c1e-6a43-4e43-9a0c-3f2f8f1d9a11]
statuses:
  description: Histogram of HTTP statuses (or error classes when no status came).
  returned: always
  type: dict
  sample: {"201": 18, "503": 2}
titles:
  description: First and last title written (or planned in check mode).
  returned: always
  type: list
  elements: str
  sample: [s4-00000, s4-00019]
namespace:
  description: Namespace written.
  returned: always
  type: str
  sample: s4-c1
scope:
  description: Scope sent with every write.
  returned: always
  type: str
  sample: collective
seconds:
  description: Wall time of the workload.
  returned: always
  type: float
  sample: 1.234
deadline_reached:
  description: Whether O(deadline) stopped the workload before O(count) writes.
  returned: always
  type: bool
  sample: false
until_event_seen:
  description: With O(until_event), whether the event stopped the writes (false means O(count) ran out first).
  returned: when O(until_event) is set
  type: bool
  sample: true
history:
  description: Path of the history file.
  returned: always
  type: str
  sample: /var/lib/aimemory-checks/c1/s4_partition_convergence.jsonl
seed:
  description: The seed the writes were varied from (null when not varied).
  returned: success
  type: int
  sample: 1796199395
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import (
    ENDPOINT_ARGSPEC,
    HAS_HTTPX,
    HTTPX_IMPORT_ERROR,
    Endpoint,
    endpoint_kwargs,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History, read_history
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.records import Varied
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.writes import SCOPES, WriteWorkload, next_numbers


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            leaders=dict(type="list", elements="dict", required=True),
            count=dict(type="int", default=10),
            concurrency=dict(type="int", default=1),
            agents=dict(type="list", elements="str", default=[]),
            namespace=dict(type="str", required=True),
            title_prefix=dict(type="str", default="w"),
            scope=dict(type="str", choices=list(SCOPES), default="collective"),
            tier=dict(type="str", choices=["short", "mid", "long"], default="mid"),
            history=dict(type="path", required=True),
            step=dict(type="str", default="main"),
            deadline=dict(type="float", default=300.0),
            until_event=dict(type="str"),
            stagger=dict(type="float", default=0.0),
            pause_after_refused=dict(type="float", default=0.0),
            seed=dict(type="int"),
            namespaces=dict(type="list", elements="str", default=[]),
            held=dict(type="list", elements="dict", default=[]),
            bulk=dict(type="int", default=0),
            **ENDPOINT_ARGSPEC,
        ),
        supports_check_mode=True,
    )
    if not HAS_HTTPX:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    p = module.params
    leaders = p["leaders"]
    if not leaders or any(not isinstance(x, dict) or not x.get("name") or not x.get("url") for x in leaders):
        module.fail_json(msg="leaders: every item needs a name and a url")
    if p["count"] < 0 or p["concurrency"] < 1 or p["deadline"] <= 0 or p["stagger"] < 0 \
            or p["pause_after_refused"] < 0:
        module.fail_json(msg="count must be >= 0, concurrency >= 1, deadline > 0, stagger and pause_after_refused >= 0")
    if p["agents"] and p["concurrency"] < len(p["agents"]) and not p["bulk"]:
        module.fail_json(msg=f"concurrency={p['concurrency']} is less than the {len(p['agents'])} agents")
    if p["agents"] and p["scope"] == "private":
        module.fail_json(msg="agents with scope=private: the reads (agent_id) could not see the other agents' writes")
    if any(not isinstance(x, dict) or not x.get("name") or not x.get("url") for x in p["held"]):
        module.fail_json(msg="held: every item needs a name and a url")
    varied = None
    if p["seed"] is not None:
        varied = Varied(p["seed"], p["namespaces"] or [p["namespace"]], p["agents"] or [p["agent_id"]])
    args = endpoint_kwargs(p)
    try:
        for leader in leaders:  # refuse bad URLs or unreadable certificate files before any op is recorded
            Endpoint(str(leader["url"]), **args).close()
    except (ValueError, OSError) as exc:
        module.fail_json(msg=f"cannot build the client: {exc}")

    ops, problems = read_history(p["history"]) if os.path.exists(p["history"]) else ([], [])
    for problem in problems:
        module.warn(problem)
    first, process = next_numbers(ops, p["namespace"], p["title_prefix"])
    pairs = [(str(x["name"]), str(x["url"])) for x in leaders]
    if module.check_mode:
        titles = [f"{p['title_prefix']}-{n:05d}" for n in (first, first + p["count"] - 1)] if p["count"] else []
        module.exit_json(changed=p["count"] > 0, attempted=0, ok=0, fail=0, info=0, acked=0, acked_ids=[],
                         statuses={}, titles=titles, namespace=p["namespace"], scope=p["scope"], seconds=0.0,
                         deadline_reached=False, until_event_seen=None, history=p["history"])
    workload = WriteWorkload(History(p["history"]), pairs, args, p["namespace"], p["title_prefix"], p["scope"],
                             p["step"], p["tier"], first, process, p["agents"], varied,
                             [(str(x["name"]), str(x["url"])) for x in p["held"]])
    if p["bulk"] < 0 or p["bulk"] > 1000:
        module.fail_json(msg="bulk must be 0 (one by one) to 1000 (the API's maximum batch)")
    if p["bulk"]:
        result = workload.run_bulk(p["count"], p["bulk"])
    else:
        result = workload.run(p["count"], p["concurrency"], p["deadline"], p["until_event"], p["stagger"],
                              p["pause_after_refused"])
    errors = result.pop("errors")
    if errors:
        module.fail_json(msg="workload worker(s) failed: " + "; ".join(errors), **result)
    module.exit_json(changed=result["attempted"] > 0, history=p["history"], seed=p["seed"], **result)


if __name__ == "__main__":
    main()
