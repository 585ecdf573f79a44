"""What the report plots, computed from a check's history (never from the figures the check module claimed).

Each function takes the recorded ops (and the check's parameters where the history alone cannot say which nodes
or classes were meant) and returns a JSON-able series: the rows a plot draws, each naming the op index it comes
from, so a reader of ``report-data.json`` can find every plotted point in the history. Times are seconds since the
check's first op; latencies and times to converge are milliseconds. Percentiles are nearest-rank (a measured
value, never interpolated), as everywhere in this project.
"""

from __future__ import annotations

import math
from typing import Any

from verify.summary import registry

WRITE_FS = ("write", "update", "delete")
# nemesis ops that inject a fault, and the ops that heal each one
INJECT = {"stop": ("start", "restart"), "kill": ("start", "restart"), "pause": ("resume",),
          "partition": ("heal",), "skew": ("unskew",)}
HEALS = {h for heals in INJECT.values() for h in heals}


def _ops_module() -> Any:
    registry()  # puts the collection on sys.path
    from ansible_collections.aimemory.swarm.plugins.module_utils import _ops as ops

    return ops


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(len(ordered) * pct / 100))
    return ordered[min(rank, len(ordered)) - 1]


def summary_of(values: list[float]) -> dict[str, Any]:
    return {"count": len(values), "p50": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "max": max(values) if values else None}


def origin_ns(history: list[dict[str, Any]]) -> int | None:
    ops = _ops_module()
    times = [t for t in (ops.time_ns(op.get("time")) for op in history) if t is not None]
    return min(times) if times else None


def _seconds(ns: int | None, t0: int | None) -> float | None:
    return None if ns is None or t0 is None else round((ns - t0) / 1e9, 3)


def latency(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Every completed write, update and delete with its latency: acknowledged (``ok``) or not (``fail``: certainly
    not done, ``info``: unknown). None when the history holds none."""
    t0 = origin_ns(history)
    ops = _ops_module()
    rows = []
    for op in history:
        if op.get("f") not in WRITE_FS or op.get("type") not in ("ok", "fail", "info"):
            continue
        ms = op.get("latency_ms")
        if not isinstance(ms, (int, float)) or isinstance(ms, bool):
            continue
        rows.append({"index": op.get("index"), "t_s": _seconds(ops.time_ns(op.get("time")), t0),
                     "ms": round(float(ms), 3), "outcome": op["type"], "node": op.get("node"), "f": op["f"],
                     "status": op.get("status") if op.get("status") is not None else op.get("error_class")})
    if not rows:
        return None
    acked = [r["ms"] for r in rows if r["outcome"] == "ok"]
    failed = [r["ms"] for r in rows if r["outcome"] != "ok"]
    low, high = min(r["ms"] for r in rows), max(r["ms"] for r in rows)
    edges = log_edges(low, high)
    return {"rows": rows, "acknowledged": summary_of(acked), "not_acknowledged": summary_of(failed),
            "histogram": {"edges_ms": edges, "acknowledged": histogram(acked, edges),
                          "not_acknowledged": histogram(failed, edges)}}


def log_edges(low: float, high: float, bins: int = 30) -> list[float]:
    """Bin edges spaced evenly on a log scale from ``low`` to ``high`` (latencies span decades)."""
    low = max(low, 0.01)
    high = max(high, low * 1.01)
    step = (math.log10(high) - math.log10(low)) / bins
    edges = [10 ** (math.log10(low) + i * step) for i in range(bins + 1)]
    edges[0], edges[-1] = low, high
    return [round(e, 4) for e in edges]


def histogram(values: list[float], edges: list[float]) -> list[int]:
    counts = [0] * (len(edges) - 1)
    for v in values:
        v = max(v, edges[0])
        k = next((i for i in range(len(edges) - 1) if v < edges[i + 1]), len(edges) - 2)
        counts[k] += 1
    return counts


def nodes_of(history: list[dict[str, Any]], params: dict[str, Any]) -> list[str]:
    declared = params.get("nodes")
    if isinstance(declared, list) and declared:
        return [str(n) for n in declared]
    seen = sorted({str(op["node"]) for op in history if op.get("f") in ("read", "get") and op.get("node")})
    return seen


def convergence(history: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any] | None:
    """Per acknowledged write and per node: milliseconds from the acknowledgement to the first observation of that
    node holding it (a list read showing its id, or its title for a bulk create, with its title; a get finding
    it; a ``held`` op naming the node). ``null`` when the node was never seen holding it after the ack. None when
    the history has no acknowledged write or no read."""
    ops = _ops_module()
    nodes = nodes_of(history, params)
    writes, _problems = ops.pair_writes(history)
    acked = [w for w in writes if w.type == "ok" and w.completion is not None]
    if not acked or not nodes or not any(op.get("f") in ("read", "get", "held") for op in history):
        return None
    t0 = origin_ns(history)
    ack_ns = {w: ops.time_ns(w.completion.get("time")) for w in acked}
    by_id = {w.id: w for w in acked if w.id}
    by_title: dict[str, list[Any]] = {}
    for w in acked:
        if not w.id:
            by_title.setdefault(w.title, []).append(w)
    first: dict[tuple[Any, str], int] = {}
    pending = {n: set(acked) for n in nodes}
    snapshots = ops.Snapshots(history)

    def seen(w: Any, node: str, at: int | None) -> None:
        if at is None or node not in pending or w not in pending[node]:
            return
        acked_at = ack_ns.get(w)
        if acked_at is None or at < acked_at:
            return
        first[(w, node)] = at
        pending[node].discard(w)

    for op in history:
        f, node, at = op.get("f"), op.get("node"), ops.op_time(op)
        if f == "read" and node in pending and pending[node]:
            snap = snapshots.of(op)
            if not snap:
                continue
            for mem_id, fp in snap.items():
                w = by_id.get(mem_id)
                if w is not None and fp[0] == w.title:
                    seen(w, node, at)
            if by_title:
                titles = {fp[0] for fp in snap.values()}
                for title in titles & by_title.keys():
                    for w in by_title[title]:
                        seen(w, node, at)
        elif f == "get" and node in pending:
            value = op.get("value") or {}
            fp = ops.fingerprint(value.get("found"))
            w = by_id.get(value.get("id"))
            if w is not None and fp is not None and fp[0] == w.title:
                seen(w, node, at)
        elif f == "held" and op.get("type") == "ok":
            value = op.get("value") or {}
            w = by_id.get(value.get("id"))
            if w is not None:
                for holder in value.get("holders") or []:
                    seen(w, str(holder), at)
    rows = []
    for w in acked:
        for node in nodes:
            at = first.get((w, node))
            ms = None if at is None or ack_ns[w] is None else round((at - ack_ns[w]) / 1e6, 3)
            rows.append({"index": w.completion.get("index"), "title": w.title, "node": node,
                         "acked_s": _seconds(ack_ns[w], t0), "ms": ms})
    per_node = {n: {**summary_of([r["ms"] for r in rows if r["node"] == n and r["ms"] is not None]),
                    "never": sum(1 for r in rows if r["node"] == n and r["ms"] is None)} for n in nodes}
    per_write = []
    for k in range(0, len(rows), len(nodes)):
        group = rows[k:k + len(nodes)]
        times = [r["ms"] for r in group]
        per_write.append(None if any(t is None for t in times) else max(t for t in times if t is not None))
    return {"nodes": nodes, "rows": rows, "per_node": per_node,
            "per_write": {**summary_of([t for t in per_write if t is not None]),
                          "never": sum(1 for t in per_write if t is None), "writes": len(per_write)}}


def faults(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Every fault the nemesis injected (stop, kill, pause, partition, skew) as an interval per node, from the op
    that injected it (its ``at`` when recorded: when it took effect) to the op that healed it (``healed: false``
    and the end of the history when none did), with the client operations that completed inside it by outcome;
    the client operations themselves (writes, updates, deletes) by node for the timeline; and the cycle marks of
    a chaos phase. None when the history holds no nemesis op."""
    ops = _ops_module()
    nemesis = ops.nemesis_ops(history)
    if not nemesis:
        return None
    t0 = origin_ns(history)
    end = max((t for t in (ops.time_ns(op.get("time")) for op in history) if t is not None), default=t0)
    open_faults: dict[tuple[str, str], dict[str, Any]] = {}
    intervals: list[dict[str, Any]] = []
    marks = []
    for op in nemesis:
        f = str(op.get("f"))
        at = ops.op_time(op)
        if f in INJECT:
            for node in ops.event_nodes(op) or ["(all)"]:
                entry = {"fault": f, "node": node, "injected_index": op.get("index"), "start_s": _seconds(at, t0),
                         "healed_index": None, "end_s": None, "healed": False, "_start": at, "_end": None}
                intervals.append(entry)
                open_faults[(f, node)] = entry
        elif f in HEALS:
            for node in ops.event_nodes(op) or [n for (_f, n) in list(open_faults)]:
                for inj, heals in INJECT.items():
                    entry = open_faults.get((inj, node))
                    if entry is not None and f in heals:
                        entry.update(healed_index=op.get("index"), end_s=_seconds(at, t0), healed=True, _end=at)
                        del open_faults[(inj, node)]
        elif f in ("cycle", "error", "note"):
            value = op.get("value")
            label = (f"{value.get('class')} {value.get('cycle')}" if f == "cycle" and isinstance(value, dict)
                     else str(value)[:80])
            marks.append({"f": f, "index": op.get("index"), "t_s": _seconds(at, t0), "label": label})
    client = []
    for op in history:
        if op.get("f") in WRITE_FS and op.get("type") in ("ok", "fail", "info"):
            client.append({"index": op.get("index"), "t_s": _seconds(ops.time_ns(op.get("time")), t0),
                           "node": op.get("node"), "outcome": op["type"], "_t": ops.time_ns(op.get("time"))})
    for entry in intervals:
        start, stop = entry.pop("_start"), entry.pop("_end")
        if stop is None:
            entry["end_s"] = _seconds(end, t0)
            stop = end
        hit = [c for c in client if c["_t"] is not None and start is not None and start <= c["_t"] <= stop]
        entry["ops_during"] = {k: sum(1 for c in hit if c["outcome"] == k) for k in ("ok", "fail", "info")}
    for c in client:
        c.pop("_t")
    lanes = sorted({i["node"] for i in intervals} | {str(c["node"]) for c in client if c["node"]})
    return {"intervals": intervals, "client_ops": client, "marks": marks, "lanes": lanes,
            "end_s": _seconds(end, t0)}


def bounds(kind: str, history: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any] | None:
    """Per chaos class, per cycle: acknowledged writes, the fewest of them present on a node after the heal, and
    the bound (min present / acknowledged), as the chaos checker recomputes them from the history. None for
    other kinds of check."""
    if kind != "chaos" or not any(op.get("f") == "cycle" for op in history):
        return None
    result = registry().check("chaos", history, params)
    classes = {}
    for klass, entry in (result.get("classes") or {}).items():
        cycles = []
        for c in entry.get("cycles") or []:
            ok, present = int(c.get("ok") or 0), int(c.get("min_present") or 0)
            cycles.append({"cycle": c.get("cycle"), "namespace": c.get("namespace"), "acknowledged": ok,
                           "min_present": min(present, ok), "per_node_present": c.get("per_node_present"),
                           "bound": round(min(present, ok) / ok, 6) if ok else None, "pass": bool(c.get("pass")),
                           "time_to_converge_ms": c.get("time_to_converge_ms")})
        fig = entry.get("convergence_bound") or {}
        classes[klass] = {"cycles": cycles, "numerator": fig.get("numerator"), "denominator": fig.get("denominator"),
                          "threshold": fig.get("threshold")}
    return {"classes": classes}


def plot_data(kind: str, history: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Every series of one check, by plot name (a plot whose series is None is not drawn)."""
    out = {"latency": latency(history), "convergence": convergence(history, params), "faults": faults(history),
           "bounds": bounds(kind, history, params)}
    return {k: v for k, v in out.items() if v is not None}
