# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Set-full convergence: every required write present, intact, under its id, on every node (Jepsen ``set-full``).

A write is *required* when the system acknowledged it (201), and optionally when the contract says it was kept
(503 ``quorum_not_met`` keeps the leader's local commit). Acknowledged updates and deletes of it are folded in
(``ops.apply_mutations``): a node must hold the write as its last acknowledged update left it (the ordering rule
picks among concurrent ones), and must not hold a deleted write at all. Each node's state is its latest
observation: the latest complete list read of the namespace, overridden per id by a later get-by-id read.
Whole records are compared: a node's memory must have the write's intent (every client-chosen field, records.py),
and every node must hold the same replicated record (server-stamped fields included). The verdict names every
(write, node) that is ``lost`` (missing), ``corrupted`` (another intent, with the differing fields when a get read
recorded the record), ``diverged`` (same title under another id), ``resurrected`` (deleted, yet held), and every
write whose nodes ``disagree`` (with the differing fields); memories nobody attempted are ``unexpected``;
``info`` writes that landed are ``recovered``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from ansible_collections.aimemory.swarm.plugins.module_utils._checker.ops import (
    as_bool,
    figure,
    require_observed_events,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._ops import (
    GET_F,
    HELD_F,
    NEMESIS,
    READ_F,
    Snapshots,
    Write,
    apply_mutations,
    fingerprint,
    nemesis_ops,
    op_time,
    pair_mutations,
    pair_writes,
    time_ns,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.records import CLOCK_KEY, agreement, differing

PRESENT, MISSING, CORRUPTED, DIVERGED, UNREAD = "present", "missing", "corrupted", "diverged", "unread"
ANCHOR_EVENTS = ("heal", "restart", "start")
EXAMPLES = 8


def examples(items: list[str]) -> str:
    more = f" (+{len(items) - EXAMPLES} more)" if len(items) > EXAMPLES else ""
    return ", ".join(items[:EXAMPLES]) + more


# a runtime alias (not an annotation): Optional, since `str | None` is evaluated on the module's oldest Pythons
FP = tuple[str, Optional[str], Optional[str], Optional[str]]  # noqa: UP045


class _Node:
    __slots__ = ("by_title", "gets", "list_index", "records", "snapshot")

    def __init__(self) -> None:
        self.list_index = -1
        self.snapshot: dict[str, FP] | None = None
        self.by_title: dict[str, list[str]] = {}
        self.gets: dict[str, tuple[int, FP | None]] = {}
        self.records: dict[str, dict[str, Any]] = {}  # whole records some get reads recorded


class SetFull:
    """Incremental observer: feed it read and get ops in history order; ask which required writes are where."""

    def __init__(self, nodes: list[str], required: list[Write], snapshots: Snapshots) -> None:
        self.nodes = list(nodes)
        self.required = list(required)
        self.snapshots = snapshots
        self.state = {n: _Node() for n in self.nodes}
        self.present = {n: 0 for n in self.nodes}

    def observe(self, op: dict[str, Any]) -> bool:
        """Apply one op; True if it changed what is known of a node."""
        node = op.get("node")
        if node not in self.state or op.get("type") != "ok":
            return False
        st = self.state[node]
        if op.get("f") == READ_F:
            snap = self.snapshots.of(op)
            if snap is None:
                return False
            if snap is st.snapshot and not any(i > st.list_index for i, _fp in st.gets.values()):
                st.list_index = int(op.get("index", 0))  # the same read again (unchanged_since): nothing moved
                return True
            st.snapshot, st.list_index = snap, int(op.get("index", 0))
            st.by_title = {}
            for mem_id, (title, *_digests) in snap.items():
                st.by_title.setdefault(title, []).append(mem_id)
        elif op.get("f") == GET_F:
            value = op.get("value") or {}
            if not isinstance(value.get("id"), str):
                return False
            st.gets[value["id"]] = (int(op.get("index", 0)), fingerprint(value.get("found")))
            if isinstance(value.get("record"), dict):
                st.records[value["id"]] = value["record"]
        else:
            return False
        self.present[node] = sum(1 for w in self.required if not w.deleted and self.where(node, w)[0] == PRESENT)
        return True

    def observed(self, node: str, mem_id: str) -> FP | None:
        """What the node's latest observation shows of an id (None: absent or not read)."""
        st = self.state[node]
        if mem_id in st.gets and st.gets[mem_id][0] > st.list_index:
            return st.gets[mem_id][1]
        return (st.snapshot or {}).get(mem_id)

    def record(self, node: str, mem_id: str) -> dict[str, Any] | None:
        return self.state[node].records.get(mem_id)

    def where(self, node: str, w: Write) -> tuple[str, str | None]:
        """(state, id found) of a required write on a node."""
        st = self.state[node]
        wid = w.id
        if wid is not None and wid in st.gets and st.gets[wid][0] > st.list_index:
            fp = st.gets[wid][1]
            if fp is None:
                return MISSING, None
            return (PRESENT if _same(fp, w) else CORRUPTED), wid
        if st.snapshot is None:
            return UNREAD, None
        if wid is not None:
            fp = st.snapshot.get(wid)
            if fp is not None:
                return (PRESENT if _same(fp, w) else CORRUPTED), wid
            others = st.by_title.get(w.title)
            return (DIVERGED, others[0]) if others else (MISSING, None)
        ids = st.by_title.get(w.title) or []
        if not ids:
            return MISSING, None
        if len(ids) > 1:
            return DIVERGED, ids[0]
        return (PRESENT if _same(st.snapshot[ids[0]], w) else CORRUPTED), ids[0]

    def set_required(self, writes: list[Write]) -> None:
        """Replace the writes waited for (a poller following a history that is still being written)."""
        self.required = list(writes)
        self.present = {n: sum(1 for w in self.required if not w.deleted and self.where(n, w)[0] == PRESENT)
                        for n in self.nodes}

    def converged(self) -> bool:
        live = sum(1 for w in self.required if not w.deleted)
        gone = all(self.observed(n, w.id) is None for n in self.nodes for w in self.required
                   if w.deleted and w.id and self.state[n].snapshot is not None)
        return gone and all(self.present[n] == live for n in self.nodes)

    def read_nodes(self) -> list[str]:
        return [n for n in self.nodes if self.state[n].snapshot is not None or self.state[n].gets]

    def titles_on(self, node: str) -> dict[str, list[str]]:
        return self.state[node].by_title

    def count(self, node: str) -> int | None:
        snap = self.state[node].snapshot
        return None if snap is None else len(snap)


def _disagreement(seen: dict[str, FP], records: dict[str, dict[str, Any]]) -> list[str]:
    """The fields in which the nodes' latest observations of one memory differ ([] when they agree): named from
    the whole records when every node's was read, else "fields not read"; a vector clock that differs is named
    from its own digest (records.py), read or not."""
    if len({fp[2] for fp in seen.values()}) < 2 and len({fp[3] for fp in seen.values()}) < 2:
        return []
    named = agreement(records) if len(records) == len(seen) > 1 else []
    if named:
        return named
    fields = ["fields not read"] if len({fp[2] for fp in seen.values()}) > 1 else []
    if len({fp[3] for fp in seen.values()}) > 1:
        fields.append(f"metadata.{CLOCK_KEY}")
    return fields


def _same(fp: FP, w: Write) -> bool:
    return fp[0] == w.title and w.holds(fp[1])


def select_writes(ops: list[dict[str, Any]], params: dict[str, Any]) -> tuple[list[Write], list[str]]:
    """Writes of the history restricted by ``namespace`` (one or a list) and ``write_steps`` params, with the
    acknowledged updates and deletes of them folded in."""
    writes, problems = pair_writes(ops)
    mutations, more = pair_mutations(ops)
    problems += more
    problems += apply_mutations(writes, mutations)
    namespace = params.get("namespace")
    if namespace:
        wanted = set(namespace) if isinstance(namespace, list) else {namespace}
        writes = [w for w in writes if w.namespace is None or w.namespace in wanted]
    steps = params.get("write_steps")
    if steps:
        writes = [w for w in writes if w.step in set(steps)]
    return writes, problems


def anchor_op(ops: list[dict[str, Any]], events: list[str] | tuple[str, ...]) -> dict[str, Any] | None:
    found = nemesis_ops(ops, *events)
    return found[-1] if found else None


def _reads_namespace(value: dict[str, Any], namespace: str | list[str]) -> bool:
    """Whether a read/get op covers the judged namespace(s) (a get names none: it is kept)."""
    wanted = set(namespace) if isinstance(namespace, list) else {namespace}
    covered = value.get("namespaces") or ([value["namespace"]] if value.get("namespace") is not None else None)
    return covered is None or wanted <= set(covered)


def judge(ops: list[dict[str, Any]], nodes: list[str], required: list[Write], *, attempted: list[Write],
          anchor: dict[str, Any] | None = None, reads: Callable[[dict[str, Any]], bool] | None = None,
          namespace: str | list[str] | None = None, label: str = "") -> dict[str, Any]:
    """Set-full verdict of ``required`` over ``nodes``, from the reads after ``anchor`` that ``reads`` accepts."""
    snapshots = Snapshots(ops)
    sf = SetFull(nodes, required, snapshots)
    after = int(anchor.get("index", -1)) if anchor else -1
    since: dict[str, Any] | None = None
    for op in ops:
        if op.get("f") not in (READ_F, GET_F) or int(op.get("index", -1)) <= after:
            continue
        if reads is not None and not reads(op):
            continue
        if namespace and isinstance(op.get("value"), dict) and not _reads_namespace(op["value"], namespace):
            continue
        if sf.observe(op):
            done = bool(required) and sf.converged()
            since = (since or op) if done else None

    lost, corrupted, diverged, resurrected = [], [], [], []
    ids_by_title: dict[str, set[str]] = {}
    live = [w for w in required if not w.deleted]
    for node in nodes:
        for w in required:
            if w.deleted:
                if w.id and sf.state[node].snapshot is not None and sf.observed(node, w.id) is not None:
                    resurrected.append({"id": w.id, "title": w.title, "node": node})
                continue
            state, found_id = sf.where(node, w)
            entry = {"id": w.id or found_id, "title": w.title, "node": node}
            if state == MISSING:
                lost.append(entry)
            elif state == CORRUPTED:
                record = sf.record(node, found_id) if found_id else None
                if record is not None and isinstance((w.invoke.get("request") or {}), dict):
                    entry["fields"] = differing({**w.invoke.get("request", {}), **_last_update(ops, w)}, record)
                corrupted.append(entry)
            elif state == DIVERGED:
                diverged.append({**entry, "found_id": found_id})
            elif state == PRESENT and w.id is None and found_id:
                ids_by_title.setdefault(w.title, set()).add(found_id)
    for title, ids in sorted(ids_by_title.items()):
        if len(ids) > 1:  # a kept write known by title only: every node must hold it under one id
            diverged.append({"id": None, "title": title, "node": "*", "found_id": sorted(ids)})

    required_set = set(required)
    attempted_titles = {w.title: w for w in attempted}
    unexpected: list[dict[str, Any]] = []
    seen: set[str] = set()
    recovered: dict[str, list[str]] = {}
    failed_present: dict[str, list[str]] = {}
    for node in nodes:
        for title, ids in sorted(sf.titles_on(node).items()):
            seen.update(ids)
            w = attempted_titles.get(title)
            if w is None:
                unexpected.extend({"id": i, "title": title, "node": node} for i in ids)
            elif w.type in ("info", "pending") and w not in required_set:
                recovered.setdefault(title, []).append(node)
            elif w.type == "fail":
                failed_present.setdefault(title, []).append(node)

    disagree = []
    for w in live:
        seen = {n: fp for n in nodes if w.id and (fp := sf.observed(n, w.id)) is not None and fp[2]}
        records = {n: r for n in seen if (r := sf.record(n, str(w.id))) is not None}
        fields = _disagreement(seen, records)
        if fields:
            disagree.append({"id": w.id, "title": w.title, "nodes": sorted(seen), "fields": fields})
    unread = [n for n in nodes if n not in sf.read_nodes()]
    where = f" {label}" if label else ""
    reasons: list[str] = list(snapshots.problems)
    if not required:
        reasons.append(f"no acknowledged write to judge{where}: a check that acknowledged nothing cannot pass")
    if unread:
        reasons.append(f"no successful read{where} of node(s) {unread}")
    if lost:
        reasons.append(f"{len(lost)} acknowledged write(s) missing{where} at the last read (never converged): "
                       + examples([f"{x['title']}@{x['node']}" for x in lost]))
    by_fields: dict[str, list[dict[str, Any]]] = {}
    for x in corrupted:  # one reason per set of differing fields, so a reader (and a known finding) can tell them
        by_fields.setdefault(", ".join(x.get("fields") or []) or "fields not read", []).append(x)
    for fields, group in sorted(by_fields.items()):
        reasons.append(f"{len(group)} write(s){where} present with other content than last written, differing in "
                       f"{fields}: " + examples([f"{x['title']}@{x['node']}" for x in group]))
    if resurrected:
        reasons.append(f"{len(resurrected)} deleted write(s) held again{where} (a delete that did not hold or was "
                       "undone by catch-up, replay or restart): "
                       + examples([f"{x['title']}@{x['node']}" for x in resurrected]))
    split_by: dict[str, list[dict[str, Any]]] = {}
    for x in disagree:  # one reason per set of differing fields (a known finding names exactly one set)
        split_by.setdefault(", ".join(x["fields"]), []).append(x)
    for fields, group in sorted(split_by.items()):
        reasons.append(f"{len(group)} write(s){where} whose nodes hold different records, differing in {fields}: "
                       + examples([f"{x['title']} on {', '.join(x['nodes'])}" for x in group]))
    if diverged:
        reasons.append(f"{len(diverged)} write(s){where} held under another id: "
                       + examples([f"{x['title']}@{x['node']}" for x in diverged]))
    if unexpected:
        reasons.append(f"{len(unexpected)} unexpected memories{where}, never attempted: "
                       + examples([f"{x['title']}@{x['node']}" for x in unexpected]))
    if failed_present:
        reasons.append(f"{len(failed_present)} write(s) answered as certainly not done are present{where}: "
                       + examples([f"{t}@{','.join(ns)}" for t, ns in sorted(failed_present.items())]))

    converged = bool(required) and not unread and sf.converged() and not disagree
    converged_at = op_time(since) if since is not None and converged else None
    if anchor is not None:
        start, start_from = op_time(anchor), f"{anchor.get('f')} (op {anchor.get('index')})"
    else:
        done = [time_ns(w.completion.get("time")) for w in required if w.completion]
        start = max((t for t in done if t is not None), default=None)
        start_from = "last acknowledged write"
    ttc = None
    if converged_at is not None and start is not None:
        ttc = round(max(0, converged_at - start) / 1e6, 3)
    pairs = len(live) * len(nodes)
    present_pairs = sum(sf.present.values())
    return {
        "reasons": reasons,
        "converged": converged,
        "required": len(required),
        "present_pairs": present_pairs,
        "pairs": pairs,
        "lost": lost,
        "corrupted": corrupted,
        "diverged": diverged,
        "resurrected": resurrected,
        "disagree": disagree,
        "deleted": sum(1 for w in required if w.deleted),
        "updated": sum(1 for w in live if w.updates),
        "unexpected": unexpected,
        "recovered": [{"title": t, "nodes": ns} for t, ns in sorted(recovered.items())],
        "failed_but_present": [{"title": t, "nodes": ns} for t, ns in sorted(failed_present.items())],
        "per_node_counts": {n: sf.count(n) for n in nodes},
        "per_node_present": dict(sf.present),
        "distinct_ids_seen": len(seen),
        "time_to_converge_ms": ttc,
        "time_to_converge_from": start_from,
        "converged_at_op": since.get("index") if since is not None and converged else None,
    }


def held_right_after_ack(ops: list[dict[str, Any]], writes: list[Write], quorum: int) -> dict[str, Any]:
    """An acknowledgement means held: each ``held`` op (a read on every node right after a create, update or
    delete was acknowledged) must show at least ``quorum`` nodes holding its result; and every acknowledged
    mutation of the history must have its ``held`` op (a workload that checked some acks and skipped others
    proves nothing about the others). Concurrent updates are not judged here (the ordering rule decides them)."""
    helds = [op for op in ops if op.get("f") == HELD_F and op.get("type") == "ok"]
    short: dict[str, list[str]] = {}  # by kind and what the other nodes held instead
    for op in helds:
        value = op.get("value") or {}
        if len(value.get("holders") or []) < quorum:
            others = sorted({str(state) for state in (value.get("states") or {}).values() if state != "held"})
            key = (f"{value.get('kind')} acknowledgement(s) held by fewer than W={quorum} node(s) right after the ack,"
                   f" the others holding {' or '.join(others) or 'nothing'}")
            short.setdefault(key, []).append(f"{value.get('title')} held by {value.get('holders')}")
    checked = {((op.get("value") or {}).get("kind"), (op.get("value") or {}).get("id")) for op in helds}
    expected = {("create", w.id) for w in writes if w.id}
    mutations, _problems = pair_mutations(ops)
    expected |= {(m.f, m.id) for m in mutations if m.type == "ok" and m.id and not _concurrent(m, mutations)}
    unchecked = sorted(f"{kind} {mem_id}" for kind, mem_id in expected - checked)
    reasons = [f"{len(items)} {key}: {examples(items)}" for key, items in sorted(short.items())]
    if unchecked:
        reasons.append(f"{len(unchecked)} acknowledged write(s) never read right after their ack: "
                       f"{examples(unchecked)}")
    shorts = [item for items in short.values() for item in items]
    return {"reasons": reasons, "figure": figure(len(helds) - len(shorts), len(helds)),
            "held_checked": len(helds), "held_short": shorts[:50], "held_unchecked": unchecked[:50]}


def _concurrent(m: Any, mutations: list[Any]) -> bool:
    return any(o is not m and o.id == m.id and o.f == m.f == "update" and o.started < m.ended and m.started < o.ended
               for o in mutations)


def replicated_observations(result: dict[str, Any], required: list[Write], nodes: list[str]) -> dict[str, int]:
    """Per node, how many acknowledged writes it was checked for that reached it by replication (it did not lead
    them; found or found lost, each is one chance to catch a node that loses replicated writes: docs/checks.md,
    detection power). A node never read counts none."""
    read = {n for n in nodes if result.get("per_node_counts", {}).get(n) is not None}
    return {n: sum(1 for w in required if not w.deleted and w.id and w.node != n) if n in read else 0
            for n in nodes}


def _last_update(ops: list[dict[str, Any]], w: Write) -> dict[str, Any]:
    """The request body of the last acknowledged update of ``w`` (what its fields must now be), or {}."""
    if not w.updates or not w.id:
        return {}
    body: dict[str, Any] = {}
    for op in ops:
        if op.get("f") == "update" and op.get("type") == "invoke" and (op.get("value") or {}).get("id") == w.id:
            request = op.get("request") or {}
            if w.allowed and (op.get("value") or {}).get("digest") in w.allowed:
                body = {k: v for k, v in request.items() if k not in ("method", "path")}
    return body


def set_figures(result: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    figs = {
        f"{prefix}writes_present_on_every_node": figure(result["present_pairs"], result["pairs"]),
        f"{prefix}lost_writes": figure(len(result["lost"]), result["pairs"], 0, "<="),
    }
    if result["distinct_ids_seen"] or result["unexpected"]:
        figs[f"{prefix}unexpected_memories"] = figure(len(result["unexpected"]), result["distinct_ids_seen"], 0, "<=")
    return figs


def ttc_figure(ttc: float | None, deadline_ms: Any) -> dict[str, Any]:
    threshold = float(deadline_ms) if deadline_ms is not None else None
    if ttc is None:
        return figure(0, 0, threshold, "<=")
    return figure(round(ttc), 1, threshold, "<=")


def fault_window(ops: list[dict[str, Any]], start: str, end: str) -> tuple[int, int] | None:
    """Index range from the last ``start`` nemesis op to the first ``end`` op after it."""
    starts = nemesis_ops(ops, start)
    if not starts:
        return None
    begin = int(starts[-1].get("index", -1))
    ends = [op for op in nemesis_ops(ops, end) if int(op.get("index", -1)) > begin]
    return begin, int(ends[0].get("index", -1)) if ends else 1 << 62


def convergence(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """S4 and reusable: every acknowledged write (and with ``include_kept`` every kept 503 write) on every node.

    params: ``nodes`` (required); ``namespace``, ``write_steps``, ``include_kept`` (false); ``anchor_events``
    (default heal/restart/start: time to converge counts from the last of them, and only reads after it judge);
    ``require_events`` (nemesis ops that must be in the history, each fault among them observed to take
    effect); ``fault_window`` ([start, end] nemesis ops
    between which at least one write must have been acknowledged; default [partition, heal] when the history
    holds a partition, [] to disable); ``deadline_ms`` (time to converge must not exceed it).
    """
    nodes = [str(n) for n in params["nodes"]]
    if not nodes:
        raise ValueError("params.nodes is empty")
    writes, problems = select_writes(ops, params)
    acked = [w for w in writes if w.type == "ok"]
    required = acked + ([w for w in writes if w.kept] if as_bool(params.get("include_kept")) else [])
    reasons = list(problems)
    # each required nemesis op is in the history, and each fault among them was observed to take effect
    reasons += require_observed_events(ops, [str(n) for n in params.get("require_events") or []])
    window = params.get("fault_window")
    if window is None and nemesis_ops(ops, "partition"):
        window = ["partition", "heal"]
    during = None
    if window:
        rng = fault_window(ops, str(window[0]), str(window[1]))
        if rng is None:
            reasons.append(f"the history holds no {window[0]!r} nemesis op: the fault was never injected")
        else:
            during = [w for w in acked if rng[0] < w.index < rng[1]]
            if not during:
                reasons.append(f"no write was acknowledged between {window[0]} and {window[1]}: "
                               "the fault was never exercised")
    anchor = anchor_op(ops, params.get("anchor_events") or ANCHOR_EVENTS)
    steps = set(params.get("read_steps") or [])
    result = judge(ops, nodes, required, attempted=writes, anchor=anchor, namespace=params.get("namespace"),
                   reads=(lambda op: op.get("step") in steps) if steps else None,
                   label=f"after {anchor.get('f')}" if anchor else "")
    reasons += result["reasons"]
    deadline = params.get("deadline_ms")
    ttc = result["time_to_converge_ms"]
    if deadline is not None and ttc is not None and ttc > float(deadline):
        reasons.append(f"converged in {ttc} ms, later than the deadline of {deadline} ms")
    figs = {"writes_acknowledged": figure(len(acked), len(writes), None)}
    if during is not None:
        figs["writes_acknowledged_during_fault"] = figure(len(during), len(writes), None)
    figs.update(set_figures(result))
    if ttc is not None or deadline is not None:
        figs["time_to_converge_ms"] = ttc_figure(ttc, deadline)
    details = {k: v for k, v in result.items() if k != "reasons"}
    details["anchor"] = None
    if anchor is not None:
        details["anchor"] = {"f": anchor.get("f"), "index": anchor.get("index"), "process": NEMESIS}
    details["writes_attempted"] = len(writes)
    details["writes_during_fault"] = None if during is None else len(during)
    return {"valid": not reasons, "reasons": reasons, "figures": figs, **details}


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation: always a measured value); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil(n * pct / 100)
    return ordered[int(min(rank, len(ordered))) - 1]


def convergence_times(ops: list[dict[str, Any]], nodes: list[str], required: list[Write],
                      reads: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, float | None]:
    """Per required write (by title): ms from its acknowledgement to the first read after which every node held it
    and kept holding it; None when some node never did. Resolution: one poll round of the reads."""
    snapshots = Snapshots(ops)
    sf = SetFull(nodes, [], snapshots)
    sf.required = list(required)
    since: dict[str, dict[Write, int]] = {n: {} for n in nodes}
    for op in ops:
        if op.get("f") not in (READ_F, GET_F) or op.get("node") not in since:
            continue
        if reads is not None and not reads(op):
            continue
        if not sf.observe(op):
            continue
        at = op_time(op)
        node_since = since[op["node"]]
        for w in required:
            if sf.where(op["node"], w)[0] == PRESENT:
                if w not in node_since and at is not None:
                    node_since[w] = at
            else:
                node_since.pop(w, None)
    out: dict[str, float | None] = {}
    for w in required:
        acked = time_ns(w.completion.get("time")) if w.completion else None
        seen = [since[n].get(w) for n in nodes]
        if acked is None or any(t is None for t in seen):
            out[w.title] = None
        else:
            out[w.title] = round(max(0, max(t for t in seen if t is not None) - acked) / 1e6, 3)
    return out
