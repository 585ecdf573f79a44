# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Ship-gate phase 2, federation, with the harness's defects fixed (ship-gate spec §1 phase 2, §7 item 15).

Two parts in one history:

- the **burst**: several agents write concurrently through every peer as leader; every write's outcome is
  bucketed (ok / quorum_not_met / fail) and, with every peer up, each must be a quorum acknowledgement
  (``fail == 0`` and ``quorum_not_met == 0``); convergence is judged per write id on every node from complete
  paged reads polled while and after the writes went on (no fixed settle), with the time to converge of each write
  (p50, p99);
- the **probes**: one peer stopped, a write is 201 and lands on the live peer; enough peers stopped, a write is 503
  with ``Retry-After: 2`` and the exact ``quorum_not_met`` body, kept on the leader; the peers restarted, every
  acknowledged and kept write reaches every node (S2's checker on the probe steps).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._checker.convergence import (
    convergence_times,
    examples,
    judge,
    percentile,
    select_writes,
    set_figures,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.ops import as_bool, figure
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.quorum import ack_problem, quorum_shortfall
from ansible_collections.aimemory.swarm.plugins.module_utils._ops import live_nodes

BURST, BURST_READS, PROBE1, PROBE2 = "burst", "burst_converge", "probe1", "probe2"


def _short(node: str) -> str:
    return node[len("node-"):] if node.startswith("node-") else node


def _status_text(writes: list[Any]) -> str | None:
    """The ship-gate's probe field: the HTTP status as a string, "000" when no status came, None when not run."""
    if not writes:
        return None
    w = writes[-1]
    return str(w.status) if w.status is not None else "000"


def burst(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    quorum, nodes = int(params["w"]), [str(n) for n in params["nodes"]]
    agents = [str(a) for a in params.get("agents") or []]
    planned = int(params.get("writes_per_agent") or 0) * len(agents)
    writes, problems = select_writes(ops, {"namespace": params.get("namespace"),
                                           "write_steps": [params.get("burst_step", BURST)]})
    reasons = list(problems)
    total = len(writes)
    ok = [w for w in writes if w.type == "ok"]
    qnm = [w for w in writes if w.kept]
    fail = total - len(ok) - len(qnm)
    if not writes:
        reasons.append("no write was attempted")
    if planned and total != planned:
        reasons.append(f"{total} of {planned} planned writes ({len(agents)} agents x "
                       f"{params.get('writes_per_agent')}) were attempted")
    if fail or qnm:
        reasons.append(f"{len(ok)} of {total} writes acknowledged with every peer up: quorum_not_met {len(qnm)}, "
                       f"fail {fail} (each must be 201)")
    bad = [p for p in (ack_problem(w, quorum, len(live_nodes(ops, nodes, w.index))) for w in ok) if p]
    if bad:
        reasons.append(f"{len(bad)} acknowledgement(s) not per the quorum contract: {examples(bad)}")
    leaders = sorted({str(w.node) for w in writes})
    if writes and set(leaders) != set(nodes):
        reasons.append(f"writes went through {leaders} only; every peer must lead writes: {nodes}")
    by_agent = {a: sum(1 for w in writes if w.agent_id == a) for a in agents}
    idle = [a for a, count in by_agent.items() if not count]
    if idle:
        reasons.append(f"agent(s) {idle} wrote nothing")
    read_step = params.get("burst_read_step", BURST_READS)
    result = judge(ops, nodes, ok, attempted=writes, namespace=params.get("namespace"),
                   reads=lambda op: op.get("step") == read_step, label="in the burst")
    reasons += result.pop("reasons")
    times = convergence_times(ops, nodes, ok, reads=lambda op: op.get("step") == read_step)
    measured = [t for t in times.values() if t is not None]
    p50, p99 = percentile(measured, 50), percentile(measured, 99)
    deadline = params.get("deadline_ms")
    if deadline is not None and p99 is not None and p99 > float(deadline):
        reasons.append(f"time to converge p99 {p99} ms is later than the deadline of {deadline} ms")
    figs = {"burst_writes_acknowledged": figure(len(ok), total),
            "burst_writes_failed": figure(fail, total, 0, "<="),
            "burst_writes_quorum_not_met": figure(len(qnm), total, 0, "<="),
            "burst_leaders_used": figure(len(set(leaders) & set(nodes)), len(nodes)),
            **set_figures(result, "burst_"),
            "burst_writes_with_time_to_converge": figure(len(measured), len(ok))}
    counts = {_short(n): result["per_node_present"].get(n, 0) for n in nodes}
    return {"reasons": reasons, "figures": figs, "total_writes": total, "ok": len(ok), "quorum_not_met": len(qnm),
            "fail": fail, "by_agent": by_agent, "leaders": leaders, "counts": counts,
            "time_to_converge_p50_ms": p50, "time_to_converge_p99_ms": p99, "convergence": result}


def federation(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Phase 2. params: ``w``, ``n``, ``nodes``, ``leader`` (of the probes), ``agents``, ``writes_per_agent``,
    ``namespace``; optional ``deadline_ms`` (bound on the burst's p99 time to converge), ``observed_faults``
    (the probes' stops must carry an observation that they took effect; default false for histories
    recorded before phase 2 observed its stops, the campaign pins it true)."""
    nodes = [str(n) for n in params["nodes"]]
    if len(nodes) != int(params["n"]):
        raise ValueError(f"need n nodes: n={params['n']} nodes={nodes}")
    b = burst(ops, params)
    # the probes' stops must carry their observation (phase2.yml records one and the declaration pins
    # observed_faults: true); evidence of older campaigns, recorded without it, is judged as it was
    probe_params = {**params, "shortfall_step": PROBE2, "one_down_step": PROBE1, "check_all_up": False,
                    "observed_faults": as_bool(params.get("observed_faults"), False)}
    probe_params.pop("deadline_ms", None)
    probes = quorum_shortfall(ops, probe_params)
    reasons = [f"burst: {r}" for r in b.pop("reasons")] + [f"probes: {r}" for r in probes["reasons"]]
    writes = select_writes(ops, {"namespace": params.get("namespace")})[0]
    shipgate = {"phase": 2, "total_writes": b["total_writes"], "ok": b["ok"], "quorum_not_met": b["quorum_not_met"],
                "fail": b["fail"], "counts": b["counts"],
                "probe1_single_peer_down": _status_text([w for w in writes if w.step == PROBE1]),
                "probe2_both_peers_down": _status_text([w for w in writes if w.step == PROBE2])}
    figs = {**b.pop("figures"), **{f"probe_{k}": v for k, v in probes["figures"].items()}}
    return {"valid": not reasons, "reasons": reasons, "figures": figs, "shipgate": shipgate, "burst": b,
            "probes": {k: v for k, v in probes.items() if k not in ("valid", "reasons", "figures")}}
