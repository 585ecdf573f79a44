# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""What the checkers share beyond reading a history (``_ops.py``): figures, check parameters, observed faults.

Pure functions of the recorded ops, no I/O: the controller imports this (Python 3.11) to recompute verdicts, the
check modules import it on the client host.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._ops import event_nodes, nemesis_ops


def figure(numerator: int, denominator: int, threshold: float | None = 1.0, comparison: str = ">=") -> dict[str, Any]:
    """A measured ratio with what it must meet. ``value`` is None when nothing was measured (denominator 0)."""
    return {"numerator": int(numerator), "denominator": int(denominator),
            "value": round(numerator / denominator, 6) if denominator else None,
            "threshold": threshold, "comparison": comparison}


def as_bool(value: Any, default: bool = False) -> bool:
    """A boolean param that may arrive as text from a template."""
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return bool(value)


# ---------------------------------------------------------------- faults observed, not declared (issue 17, item 8)
#
# A fault op (process nemesis) records, besides the fault, an observation that it took effect (``observed``,
# written by history_event from what network_partition, node_process or port_probe saw). A fault without a
# positive observation is a declaration, not a fault: the checkers that rely on it are red.

FAULT_EVENTS = ("stop", "kill", "partition", "pause")
# the key of ``observed`` that must be true, per fault: the stopped node refused a connection, the killed process
# is gone, the partition blocked a connection across it, the paused process is stopped (state T)
OBSERVED_EFFECT = {"stop": "refused", "kill": "gone", "partition": "blocked", "pause": "paused"}
NOT_OBSERVED = "the fault was declared but not observed to take effect"


def observation_problem(op: dict[str, Any]) -> str | None:
    """Why a fault op does not show that it took effect; None when it does, or when the op is no fault (heal,
    restart, cycle, note, ...). When the observation names the nodes it saw the effect on (``nodes``), every node
    of the op must be among them."""
    effect = OBSERVED_EFFECT.get(str(op.get("f")))
    if effect is None:
        return None
    nodes = event_nodes(op)
    where = f"{op.get('f')} op {op.get('index')}" + (f" of {nodes}" if nodes else "")
    observed = op.get("observed")
    if not isinstance(observed, dict):
        return f"{where}: {NOT_OBSERVED} (no observation recorded)"
    if observed.get(effect) is not True:
        note = f"; {observed['note']}" if observed.get("note") else ""
        return f"{where}: {NOT_OBSERVED} ({effect}: {observed.get(effect)!r}{note})"
    seen = observed.get("nodes")
    if isinstance(seen, list):
        missing = [n for n in nodes if n not in [str(s) for s in seen]]
        if missing:
            return f"{where}: {NOT_OBSERVED} (not {effect} on {missing})"
    return None


def observed_nemesis_ops(ops: list[dict[str, Any]], *names: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The nemesis ops named (every fault event when none is named), split: the ops observed to take effect (and
    those that are no fault), and one reason per fault op that was not observed to take effect."""
    observed: list[dict[str, Any]] = []
    problems: list[str] = []
    for op in nemesis_ops(ops, *(names or FAULT_EVENTS)):
        problem = observation_problem(op)
        if problem:
            problems.append(problem)
        else:
            observed.append(op)
    return observed, problems


def require_observed_events(ops: list[dict[str, Any]], names: list[str] | tuple[str, ...]) -> list[str]:
    """``require_events``: each named nemesis op is in the history, and each fault among them was observed to take
    effect. Reasons, [] when all is well."""
    reasons: list[str] = []
    for name in names:
        if not nemesis_ops(ops, str(name)):
            reasons.append(f"the history holds no {name!r} nemesis op: the fault was never injected")
        else:
            reasons += observed_nemesis_ops(ops, str(name))[1]
    return reasons
