#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: memory_convergence
short_description: Poll every node until the writes a history requires are on all of them, or a deadline passes
description:
  - Reads the whole of O(namespace) on every node of O(nodes), paging C(GET /api/v1/memories) with C(limit=1000)
    and C(offset) until a page adds nothing (a capped page is never taken for the whole), and appends each read
    to O(history) as a C(read) op holding the id, title and content digest of every memory (or a reference to
    the previous identical read of that node).
  - Polls every O(interval) seconds until every required write is present, intact and under its id, on every
    node, or O(deadline) seconds pass. There is no fixed settle time.
  - Required writes are those of the history acknowledged with 201 (restricted to O(write_steps) if given), and
    with O(include_kept) also the 503 C(quorum_not_met) writes whose local commit the leader keeps (known by
    title until a read finds their id).
  - With O(confirm_by_id), once converged a sample of the required ids (at most O(confirm_sample), the same ids on
    every node, chosen by the hash of the id) is also read with C(GET /api/v1/memories/{id}) on every node
    (C(get) ops), so the by-id path is cross-checked against the list; if the deadline passes first, the missing
    ones are read that way, so the history says whether they are absent or only hidden from the list.
  - Not converging is not a module failure; the result says so and the checker turns the check red. With no
    required write at all, every node is read once and RV(converged) is false (nothing to converge is no pass).
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
requirements:
  - httpx (Debian C(python3-httpx)) on the host that runs the module
  - cryptography (Debian C(python3-cryptography)) on that host, when O(agent_keys) is set (signed writes)
extends_documentation_fragment:
  - aimemory.swarm.attributes
  - aimemory.swarm.endpoint
options:
  nodes:
    description: Nodes to read, each a dict with C(name) and C(url).
    type: list
    elements: dict
    required: true
  namespace:
    description: Namespace holding the check's writes.
    type: str
    required: true
  namespaces:
    description: Every namespace holding the check's writes (varied writes); each read covers all of them.
      Default O(namespace).
    type: list
    elements: str
    default: []
  history:
    description: History file (JSONL) on the host running the module; it must hold the writes.
    type: path
    required: true
  write_steps:
    description: Steps whose writes are required; empty means every write of O(namespace).
    type: list
    elements: str
    default: []
  include_kept:
    description: Also require the 503 C(quorum_not_met) writes (the contract keeps the leader's local write).
    type: bool
    default: false
  step:
    description: Label of the read ops in the history.
    type: str
    default: final
  deadline:
    description: Seconds to wait for convergence.
    type: float
    default: 60
  interval:
    description: Seconds between poll rounds.
    type: float
    default: 0.25
  once:
    description: Read every node once and stop (no waiting), for example to record a state.
    type: bool
    default: false
  confirm_by_id:
    description: Read a sample of the required ids on every node by id after converging (or the missing ones at
      the deadline).
    type: bool
    default: true
  confirm_sample:
    description:
      - How many required ids, at most, are read by id on every node once converged (0 - all of them). Every id
        was already read whole in the list reads; reading all 4700 of S1's ids on three nodes cost 14,100 requests
        and tripled its history, so the cross-check is a sample.
    type: int
    default: 250
  anchor_events:
    description:
      - Nemesis ops of the history from the last of which RV(time_to_converge_ms) counts (the heal of a partition,
        the restart of stopped peers). Without one, it counts from the last acknowledged write.
    type: list
    elements: str
    default: [heal, restart, start]
  settle_deleted:
    description: Once every live write is on every node and only deleted writes are still held somewhere, keep
      polling this many seconds for them to go, then stop (a delete undone by replication does not resolve by
      waiting out the whole O(deadline)); the checker judges what the last reads saw.
    type: float
    default: 20
  follow_writes:
    description:
      - Poll while the writes are still being made (an C(async) M(aimemory.swarm.memory_workload) on the same
        history). Each round re-reads the history and waits for every write acknowledged so far, until the history
        holds this many completed writes of O(write_steps) and all of them converged, or the deadline passes;
        the O(deadline) then counts from the moment the last of them completed (writing may take up to 600 s).
      - Then the reads interleave with the writes, so the time each write takes to reach every node can be judged
        per write (ship-gate phase 2). 0 waits only for the writes already in the history.
    type: int
    default: 0
attributes:
  check_mode:
    description: Reads every node once and reports, without appending to the history.
    support: full
  diff_mode:
    support: none
notes:
  - Uses only the Python standard library on the host.
seealso:
  - module: aimemory.swarm.memory_workload
  - module: aimemory.swarm.history_check
"""

EXAMPLES = r"""
- name: Poll every peer until each acknowledged write is on all of them (90 s deadline)
  aimemory.swarm.memory_convergence:
    nodes:
      - {name: node-a, url: "https://10.250.0.10:9077"}
      - {name: node-b, url: "https://10.250.0.11:9077"}
      - {name: node-c, url: "https://10.250.0.12:9077"}
    namespace: s4-c1
    history: /var/lib/aimemory-checks/c1/s4_partition_convergence.jsonl
    write_steps: [partitioned]
    step: after_heal
    deadline: 90
  register: converge

- name: Wait until the 503 writes kept by the leader are on every restarted peer
  aimemory.swarm.memory_convergence:
    nodes: "{{ peer_endpoints }}"
    namespace: s2-c1
    history: /var/lib/aimemory-checks/c1/s2_quorum_not_met.jsonl
    include_kept: true
    step: after_restart
"""

RETURN = r"""
converged:
  description: Whether every required write was seen, intact, on every node before the deadline.
  returned: always
  type: bool
  sample: true
required:
  description: Number of required writes.
  returned: always
  type: int
  sample: 20
seconds:
  description: Time spent polling.
  returned: always
  type: float
  sample: 3.52
polls:
  description: Number of poll rounds.
  returned: always
  type: int
  sample: 14
per_node_counts:
  description: Memories of the namespace on each node at its last successful read (null if never read).
  returned: always
  type: dict
  sample: {"node-a": 20, "node-b": 20, "node-c": 20}
per_node_present:
  description: Required writes present and intact on each node at the end.
  returned: always
  type: dict
  sample: {"node-a": 20, "node-b": 20, "node-c": 20}
missing:
  description: Required writes absent (or corrupted, or under another id) at the end, up to 50, each
    C({title, id, node}).
  returned: always
  type: list
  elements: dict
  sample: []
time_to_converge_ms:
  description: From the anchor (RV(anchor)) to the first read at which the last missing write was seen; null if
    not converged.
  returned: always
  type: float
  sample: 2150.4
anchor:
  description: The nemesis op RV(time_to_converge_ms) counts from (C({f, index})), or null.
  returned: always
  type: dict
  sample: {"f": "heal", "index": 43}
reads:
  description: Number of read and get ops appended to the history (0 in check mode).
  returned: always
  type: int
  sample: 45
"""

import hashlib
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

FOLLOW_CAP_S = 600.0
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.convergence import (
    ANCHOR_EVENTS,
    PRESENT,
    SetFull,
    anchor_op,
    judge,
    select_writes,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    ENDPOINT_ARGSPEC,
    HAS_CRYPTOGRAPHY,
    HAS_HTTPX,
    HTTPX_IMPORT_ERROR,
    Endpoint,
    endpoint_kwargs,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History, read_history
from ansible_collections.aimemory.swarm.plugins.module_utils._ops import Snapshots, Write
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.reads import (
    LIMIT,
    LIST_PATH,
    fingerprint,
    get_memory,
    read_namespace,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.writes import response_record

MAX_BY_ID_MISSING = 1000
CONFIRM_SAMPLE = 250


def confirm_sample(writes: list, size: int) -> list:
    """At most ``size`` of ``writes`` (all when ``size`` <= 0), chosen by the SHA-256 of their id: the same ids
    whoever asks, spread over the run rather than its first writes."""
    if size <= 0 or len(writes) <= size:
        return list(writes)
    return sorted(writes, key=lambda w: hashlib.sha256(str(w.id).encode()).hexdigest())[:size]


class Poller:
    def __init__(self, module: AnsibleModule, history: History | None) -> None:
        p = module.params
        self.p, self.history = p, history
        self.args = endpoint_kwargs(p)
        self.clients = {str(n["name"]): Endpoint(str(n["url"]), **self.args) for n in p["nodes"]}
        self.last: dict[str, tuple[int, dict]] = {}
        self.appended = 0

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def _append(self, op: dict) -> dict:
        if self.history is None:
            return {**op, "index": -1 - self.appended, "time": time.time_ns()}
        self.appended += 1
        return self.history.append(op)[0]

    def read(self, node: str, deadline: float) -> dict:
        """One read op: every namespace of the check read completely on ``node``, merged (a failed page of any
        namespace makes the whole read a failure: a partial read is no read)."""
        spaces = self.p["namespaces"] or [self.p["namespace"]]
        request = {"method": "GET", "path": LIST_PATH, "namespace": spaces[0], "namespaces": spaces, "limit": LIMIT,
                   "agent_id": self.args.get("agent_id")}
        found: dict = {}
        pages, sizes, duplicates, foreign, latency = 0, [], 0, 0, 0.0
        res = None
        for ns in spaces:
            res = read_namespace(self.clients[node], ns, deadline=deadline)
            pages, latency = pages + res.pages, latency + res.latency_ms
            if not res.ok:
                break
            found.update(res.found())
            sizes += res.page_sizes
            duplicates, foreign = duplicates + res.duplicates, foreign + res.foreign
        if res is None:
            raise ValueError("no namespace to read")
        op = {"process": "reader", "f": "read", "node": node, "step": self.p["step"], "request": request,
              "status": res.status, "latency_ms": round(latency, 3), "error_class": res.error_class}
        if not res.ok:
            return self._append({**op, "type": "fail", "detail": res.detail,
                                 "value": {"key": "id", "namespace": spaces[0], "namespaces": spaces,
                                           "pages": pages}})
        found = dict(sorted(found.items()))
        value = {"key": "id", "namespace": spaces[0], "namespaces": spaces, "count": len(found), "pages": pages,
                 "page_sizes": sizes, "duplicates": duplicates, "foreign": foreign}
        prev = self.last.get(node)
        if prev is not None and prev[1] == found and self.history is not None:
            value["unchanged_since"] = prev[0]
        else:
            value["found"] = found
        rec = self._append({**op, "type": "ok", "value": value})
        if "found" in value:
            self.last[node] = (rec["index"], found)
        return rec

    def get(self, node: str, memory_id: str, whole: bool = False) -> dict:
        """A get-by-id op; ``whole`` also records the memory itself (to name the fields of a mismatch)."""
        resp, memory = get_memory(self.clients[node], memory_id)
        kind = "ok" if resp.status in (200, 404) else ("info" if resp.status is None else "fail")
        rec = response_record(resp)
        rec.pop("response", None)  # the memory itself is summarized in value.found
        request = {"method": "GET", "path": f"{LIST_PATH}/{memory_id}", "agent_id": self.args.get("agent_id")}
        value = {"id": memory_id, "found": fingerprint(memory) if memory else None}
        if whole and memory:
            value["record"] = memory
        return self._append({"process": "reader", "type": kind, "f": "get", "node": node, "step": self.p["step"],
                             "value": value, "request": request, **rec})


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            nodes=dict(type="list", elements="dict", required=True),
            namespace=dict(type="str", required=True),
            namespaces=dict(type="list", elements="str", default=[]),
            history=dict(type="path", required=True),
            write_steps=dict(type="list", elements="str", default=[]),
            include_kept=dict(type="bool", default=False),
            step=dict(type="str", default="final"),
            deadline=dict(type="float", default=60.0),
            interval=dict(type="float", default=0.25),
            once=dict(type="bool", default=False),
            confirm_by_id=dict(type="bool", default=True),
            confirm_sample=dict(type="int", default=CONFIRM_SAMPLE),
            anchor_events=dict(type="list", elements="str", default=list(ANCHOR_EVENTS)),
            follow_writes=dict(type="int", default=0),
            settle_deleted=dict(type="float", default=20.0),
            **ENDPOINT_ARGSPEC,
        ),
        supports_check_mode=True,
    )
    if not HAS_HTTPX:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    if module.params.get("agent_keys") and not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    p = module.params
    if not p["nodes"] or any(not isinstance(n, dict) or not n.get("name") or not n.get("url") for n in p["nodes"]):
        module.fail_json(msg="nodes: every item needs a name and a url")
    if p["deadline"] <= 0 or p["interval"] <= 0 or p["follow_writes"] < 0:
        module.fail_json(msg="deadline and interval must be > 0, follow_writes >= 0")
    ops, problems = read_history(p["history"])
    for problem in problems:
        module.warn(problem)
    spaces = p["namespaces"] or [p["namespace"]]
    writes, pair_problems = select_writes(ops, {"namespace": spaces, "write_steps": p["write_steps"]})
    for problem in pair_problems:
        module.warn(problem)
    required = [w for w in writes if w.type == "ok"] + ([w for w in writes if w.kept] if p["include_kept"] else [])
    anchor = anchor_op(ops, p["anchor_events"])
    try:
        poller = Poller(module, None if module.check_mode else History(p["history"]))
    except (ValueError, OSError) as exc:
        module.fail_json(msg=f"cannot build the client: {exc}")
    names = list(poller.clients)
    snapshots = Snapshots(ops)
    observer = SetFull(names, required, snapshots)
    start = time.monotonic()
    deadline = start + p["deadline"]
    polls = 0
    selection = {"namespace": spaces, "write_steps": p["write_steps"]}

    def completed(found: list[Write]) -> int:
        return sum(1 for w in found if w.completion is not None)

    following = p["follow_writes"] > 0 and completed(writes) < p["follow_writes"]
    settle_since: float | None = None
    try:
        while True:
            polls += 1
            if following:  # the writes are still being made (an async workload): wait for the new ones too
                current = select_writes(read_history(p["history"])[0], selection)[0]
                observer.set_required([w for w in current if w.type == "ok" or (p["include_kept"] and w.kept)])
                required = observer.required
                following = completed(current) < p["follow_writes"]
                # the deadline counts from the end of the writes (within FOLLOW_CAP_S of writing at most)
                now = time.monotonic()
                deadline = min(now, start + FOLLOW_CAP_S) + p["deadline"]
            for name in names:
                rec = poller.read(name, deadline + float(p["timeout"]))
                snapshots.add(rec)
                observer.observe(rec)
            done = bool(required) and observer.converged() and not following
            now = time.monotonic()
            if done or (not required and not following) or p["once"] or module.check_mode or now >= deadline:
                break
            # every live write is everywhere and only deleted ones are still held: a delete that came back does not
            # go away by waiting, so after settle_deleted seconds of that the state is final
            only_deleted = not following and all(observer.present[n] == sum(1 for w in required if not w.deleted)
                                                 for n in names)
            settle_since = (settle_since or now) if only_deleted else None
            if settle_since is not None and now - settle_since >= p["settle_deleted"]:
                break
            time.sleep(min(p["interval"], max(0.0, deadline - now)))
        if p["confirm_by_id"] and not module.check_mode:
            live = [w for w in required if w.id and not w.deleted]
            if done:  # every id was seen whole in the lists: the same sample of ids read by id on every node
                sample = confirm_sample(live, p["confirm_sample"])
                pairs = [(n, w) for n in names for w in sample]
            else:
                pairs = [(n, w) for n in names for w in live if observer.where(n, w)[0] != PRESENT]
            for name, w in pairs[: None if done else MAX_BY_ID_MISSING]:
                observer.observe(poller.get(name, str(w.id), whole=observer.where(name, w)[0] != PRESENT))
            # deleted writes: read by id where a list still shows them (absent, or resurrected: the record says)
            for name in names:
                for w in required:
                    if w.deleted and w.id and observer.observed(name, w.id) is not None:
                        observer.observe(poller.get(name, str(w.id), whole=True))
            # writes whose nodes hold different replicated records: every node's record, to name the fields
            split = [w for w in live if len({fp[2] for n in names if (fp := observer.observed(n, str(w.id)))
                                             is not None and fp[2]}) > 1]
            for w in split[:MAX_BY_ID_MISSING]:
                for name in names:
                    observer.observe(poller.get(name, str(w.id), whole=True))
    finally:
        poller.close()
    seconds = round(time.monotonic() - start, 3)
    converged = bool(required) and observer.converged()
    if module.check_mode:
        missing = [{"title": w.title, "id": w.id, "node": n} for n in names for w in required
                   if observer.where(n, w)[0] != PRESENT]
        module.exit_json(changed=False, converged=converged, required=len(required), seconds=seconds, polls=polls,
                         per_node_counts={n: observer.count(n) for n in names},
                         per_node_present=dict(observer.present), missing=missing[:50], time_to_converge_ms=None,
                         anchor=None, reads=0)
    final_ops = read_history(p["history"])[0]
    final_writes = select_writes(final_ops, {"namespace": spaces, "write_steps": p["write_steps"]})[0]
    final_required = [w for w in final_writes if w.type == "ok" or (p["include_kept"] and w.kept)]
    result = judge(final_ops, names, final_required, attempted=final_writes,
                   anchor=anchor_op(final_ops, p["anchor_events"]), namespace=spaces)
    missing = result["lost"] + result["corrupted"] + result["diverged"]
    module.exit_json(changed=poller.appended > 0, converged=converged, required=len(required), seconds=seconds,
                     polls=polls, per_node_counts=result["per_node_counts"],
                     per_node_present=result["per_node_present"], missing=missing[:50],
                     time_to_converge_ms=result["time_to_converge_ms"] if converged else None,
                     anchor=None if anchor is None else {"f": anchor.get("f"), "index": anchor.get("index")},
                     reads=poller.appended)


if __name__ == "__main__":
    main()
