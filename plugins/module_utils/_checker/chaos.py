# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Ship-gate phase 4, chaos, against the campaign's own swarm (ship-gate spec §1 phase 4, §4, §7 items 2, 3, 10-14).

One history for the phase. Each cycle starts with a nemesis op ``cycle`` (``value: {class, cycle, namespace,
target}``) and writes into its own namespace; its fault ops, writes and reads lie between it and the next cycle.
A cycle passes when its fault is proven to have happened as the class says, at least one write was acknowledged,
and after the heal every acknowledged write is on every node (set-full, by id, complete paged reads). A class
passes when every declared cycle ran and passed. ``convergence_bound`` (the ship-gate's figure) is
``sum over cycles of min over nodes (acknowledged writes present) / sum of acknowledged writes``: never above 1 by
construction, and red when nothing was acknowledged.

Classes and what proves the fault (a kill, partition or pause op must also carry the observation that it took
effect, ``observed``: the old PID gone, a connection across the cut blocked, the process stopped; else the class
did not run):

- ``kill_primary_mid_write``: a ``kill`` of the primary while writes are in flight (a write invoked before the kill
  took effect and cut by it), then a ``restart``; reconciliation is judged after the restart.
- ``partition_minority``: ``partition`` of one node from the others and ``heal``; writes through every node during
  the partition: those through the isolated node must be refused for lack of quorum (the release's shortfall
  answer, ``quorum.shortfall_problems``: 0.7's 503 ``quorum_not_met``, 0.8.1 on 202 ``quorum_met: false``),
  those through the majority acknowledged.
- ``drop_random_acks``: ``pause`` (SIGSTOP) of one peer and ``resume``, with writes acknowledged while it was
  paused (its acks are lost to the leaders' deadline).
- ``clock_skew_peer``: ``skew`` of one peer's process clock and ``unskew``; the skew counts only if the peer's
  clock was *measured* ahead by about the offset (``clock`` ops) while the others were not, with writes
  acknowledged through the skewed peer. Otherwise the class is reported as not run: never a pass for a no-op.
"""

from __future__ import annotations

import math
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._checker.convergence import (
    examples,
    judge,
    select_writes,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.ops import figure, observation_problem
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.quorum import (
    describe,
    shortfall_contract,
    shortfall_problems,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._ops import (
    NEMESIS,
    event_nodes,
    nemesis_ops,
    op_time,
    time_ns,
)

CLASSES = ("kill_primary_mid_write", "partition_minority", "drop_random_acks", "clock_skew_peer")
HEALS = {"kill_primary_mid_write": "restart", "partition_minority": "heal", "drop_random_acks": "resume",
         "clock_skew_peer": "unskew"}
CUT = ("reset", "incomplete", "timeout", "protocol", "error")
# The ship-gate passes a class at a convergence bound of 0.995; an acknowledged write that is lost is a durability
# failure, so the bound this project judges is all of them (1.0). The ship-gate's figure stays in its artifact
# (``shipgate_bound_threshold``) for its readers, and its pass there is computed by this project's rule.
SHIPGATE_BOUND_THRESHOLD = 0.995
BOUND_THRESHOLD = 1.0


def _cycles(ops: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(cycle op, the ops from it to the next cycle op)."""
    starts = [i for i, op in enumerate(ops) if op.get("process") == NEMESIS and op.get("f") == "cycle"]
    return [(ops[i], ops[i:(starts[k + 1] if k + 1 < len(starts) else len(ops))]) for k, i in enumerate(starts)]


def _one(window: list[dict[str, Any]], f: str) -> dict[str, Any] | None:
    found = nemesis_ops(window, f)
    return found[0] if found else None


def _between(w: Any, start: dict[str, Any] | None, end: dict[str, Any] | None) -> bool:
    return start is not None and int(start.get("index", -1)) < w.index < int((end or {}).get("index", 1 << 62))


def _fault_problems(klass: str, window: list[dict[str, Any]], writes: list[Any], target: str | None,
                    nodes: list[str], params: dict[str, Any]) -> tuple[list[str], bool, dict[str, Any]]:
    """(reasons, whether the fault ran, facts) of one cycle's fault."""
    heal_f = HEALS[klass]
    start_f = {"kill_primary_mid_write": "kill", "partition_minority": "partition", "drop_random_acks": "pause",
               "clock_skew_peer": "skew"}[klass]
    start, heal = _one(window, start_f), _one(window, heal_f)
    reasons: list[str] = []
    facts: dict[str, Any] = {"fault": start_f, "heal": heal_f}
    if start is None:
        return [f"no {start_f!r} nemesis op: the fault was never injected"], False, facts
    facts["observed"] = start.get("observed")
    unobserved = observation_problem(start)  # kill, partition, pause: the effect seen (a skew is measured below)
    if unobserved:
        return [unobserved], False, facts
    if heal is None or int(heal.get("index", -1)) < int(start.get("index", -1)):
        reasons.append(f"no {heal_f!r} nemesis op after the {start_f}: the fault was never healed")
    hit = event_nodes(start) or ([target] if target else [])
    facts["nodes"] = hit
    during = [w for w in writes if _between(w, start, heal)]
    acked_during = [w for w in during if w.type == "ok"]
    if klass == "kill_primary_mid_write":
        at = op_time(start)
        cut = [w for w in writes if w.node in hit and at is not None and _invoked_before(w, at) and _cut(w)]
        before = [w for w in writes if w.type == "ok" and w.completion is not None
                  and at is not None and (time_ns(w.completion.get("time")) or 0) < at]
        facts.update({"writes_cut_by_the_kill": len(cut), "acknowledged_before_the_kill": len(before)})
        if not cut:
            reasons.append("no write was in flight when the primary was killed (the kill landed between "
                           "requests): not a mid-write kill")
        if not before:
            reasons.append("no write was acknowledged before the kill")
    elif klass == "partition_minority":
        minority = [w for w in during if w.node in hit]
        majority = [w for w in during if w.node not in hit]
        wrong = [f"{w.title}={w.status if w.status is not None else w.type}" for w in minority
                 if shortfall_problems(w, int(params["w"]), len(hit), shortfall_contract(params, w.status))]
        facts.update({"writes_to_minority": len(minority), "minority_refused": len(minority) - len(wrong),
                      "majority_acknowledged": sum(1 for w in majority if w.type == "ok")})
        if not minority:
            reasons.append("no write went to the isolated node during the partition")
        if wrong:
            reasons.append(f"{len(wrong)} of {len(minority)} write(s) to the isolated node not refused with "
                           f"{describe(shortfall_contract(params, None))} (the release's quorum shortfall): "
                           f"{examples(wrong)}")
        if not any(w.type == "ok" for w in majority):
            reasons.append("no write through the majority was acknowledged during the partition")
    elif klass == "drop_random_acks":
        facts["acknowledged_while_paused"] = len(acked_during)
        if not acked_during:
            reasons.append("no write was acknowledged while the peer was paused")
    else:
        offset = float((start.get("value") or {}).get("offset_s") or params.get("skew_offset_s") or 0)
        tolerance = max(2.0, abs(offset) * 0.1)
        clocks = [op for op in window if op.get("f") == "clock" and _between_ops(op, start, heal)]
        seen = {str(op.get("node")): (op.get("value") or {}).get("offset_s") for op in clocks}
        facts.update({"requested_offset_s": offset, "measured_offsets_s": seen})
        skewed = [n for n in hit if isinstance(seen.get(n), (int, float)) and abs(seen[n] - offset) <= tolerance]
        others_ok = all(isinstance(seen.get(n), (int, float)) and abs(seen[n]) <= tolerance
                        for n in nodes if n not in hit)
        through = [w for w in acked_during if w.node in hit]
        facts["acknowledged_through_skewed_node"] = len(through)
        if not offset:
            reasons.append("the skew op holds no offset")
        if not clocks or len(skewed) != len(hit) or not others_ok:
            reasons.append(f"clock skew of {offset:+g} s on {hit} not measured (measured offsets: {seen}): not run")
            return reasons, False, facts
        if not through:
            reasons.append("no write through the skewed node was acknowledged during the skew")
    return reasons, True, facts


def _invoked_before(w: Any, at: int) -> bool:
    invoked = time_ns(w.invoke.get("time"))
    return invoked is not None and invoked < at


def _cut(w: Any) -> bool:
    """A write the kill cut: sent, then no answer, a broken connection or a server error (never a 201)."""
    if w.type == "ok":
        return False
    if w.completion is None or w.completion.get("error_class") in CUT:
        return True
    return w.status is not None and w.status >= 500


def _between_ops(op: dict[str, Any], start: dict[str, Any], end: dict[str, Any] | None) -> bool:
    return int(start.get("index", -1)) < int(op.get("index", -1)) < int((end or {}).get("index", 1 << 62))


def chaos(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Phase 4. params: ``nodes``, ``classes`` (declared), ``cycles`` (per class), ``writes_per_cycle``;
    optional ``skew_offset_s``. Every bound over acknowledged writes must be 1.0 (a ``bound_threshold`` param is
    not honoured below it)."""
    nodes = [str(n) for n in params["nodes"]]
    classes = [str(c) for c in params.get("classes") or []]
    cycles_wanted = int(params["cycles"])
    threshold = max(float(params.get("bound_threshold") or BOUND_THRESHOLD), BOUND_THRESHOLD)
    reasons: list[str] = []
    unknown = sorted(set(classes) - set(CLASSES))
    if unknown:
        reasons.append(f"unknown fault class(es) {unknown}; known: {list(CLASSES)}")
    if not classes:
        reasons.append("no fault class was declared")
    per_class: dict[str, dict[str, Any]] = {c: {"cycles": [], "acked": 0, "min_present": 0, "status": "pass",
                                                "reasons": []} for c in classes}
    figs: dict[str, dict[str, Any]] = {}
    for start, window in _cycles(ops):
        value = start.get("value") or {}
        klass, cycle, namespace = str(value.get("class")), value.get("cycle"), value.get("namespace")
        if klass not in per_class:
            reasons.append(f"cycle {cycle} of undeclared class {klass!r}")
            continue
        writes, problems = select_writes(window, {"namespace": namespace})
        acked = [w for w in writes if w.type == "ok"]
        cyc_reasons = list(problems)
        if not namespace:
            cyc_reasons.append("the cycle op names no namespace")
        fault_reasons, ran, facts = _fault_problems(klass, window, writes, value.get("target"), nodes, params)
        cyc_reasons += fault_reasons
        for note in nemesis_ops(window, "error"):
            value_of = note.get("value") if isinstance(note.get("value"), dict) else {"msg": note.get("value")}
            cyc_reasons.append(f"the cycle could not complete: {value_of.get('msg')}")
        heal = _one(window, HEALS[klass])
        result = judge(window, nodes, acked, attempted=writes, anchor=heal, namespace=namespace,
                       label="after heal")
        cyc_reasons += result.pop("reasons")
        min_present = min((result["per_node_present"].get(n, 0) for n in nodes), default=0)
        entry = {"cycle": cycle, "namespace": namespace, "ran": ran, "pass": not cyc_reasons,
                 "reasons": cyc_reasons, "writes": len(writes), "ok": len(acked),
                 "quorum_not_met": sum(1 for w in writes if w.kept),
                 "fail": len(writes) - len(acked) - sum(1 for w in writes if w.kept),
                 "min_present": min_present, "per_node_present": result["per_node_present"],
                 "lost": result["lost"], "time_to_converge_ms": result["time_to_converge_ms"], **facts}
        klass_entry = per_class[klass]
        klass_entry["cycles"].append(entry)
        klass_entry["acked"] += len(acked)
        klass_entry["min_present"] += min_present
        if not ran:
            klass_entry["status"] = "not_run"
        klass_entry["reasons"] += [f"cycle {cycle}: {r}" for r in cyc_reasons]
    bounds: dict[str, float | None] = {}
    for klass, entry in per_class.items():
        ran_cycles = len(entry["cycles"])
        if ran_cycles != cycles_wanted:
            entry["reasons"].append(f"{ran_cycles} of {cycles_wanted} cycles ran")
        if entry["status"] != "not_run" and entry["reasons"]:
            entry["status"] = "fail"
        den, num = entry["acked"], min(entry["min_present"], entry["acked"])
        bound = num / den if den else None
        entry["convergence_bound"] = figure(num, den, threshold)
        bounds[klass] = math.floor(1000 * bound) / 1000 if bound is not None else None
        figs[f"{klass}_convergence_bound"] = figure(num, den, threshold)
        figs[f"{klass}_cycles_passed"] = figure(sum(1 for c in entry["cycles"] if c["pass"]), cycles_wanted)
        if entry["status"] == "not_run":
            reasons.append(f"{klass}: not run: " + "; ".join(entry["reasons"][:3]))
        else:
            reasons += [f"{klass}: {r}" for r in entry["reasons"]]
    writes_per_cycle = int(params.get("writes_per_cycle") or 0)
    shipgate = {"phase": 4, "cycles_per_fault": cycles_wanted, "writes_per_cycle": writes_per_cycle,
                "convergence_by_fault": bounds or None, "shipgate_bound_threshold": SHIPGATE_BOUND_THRESHOLD,
                "bound_threshold_judged": threshold}
    return {"valid": not reasons, "reasons": reasons, "figures": figs, "shipgate": shipgate, "classes": per_class}
