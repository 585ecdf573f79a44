# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""A history is whole or the verdict is red, whatever the checker of its kind concludes (issue 17, item 7).

Three rules every history obeys, as ``_history.History`` writes it:

- its ops are numbered 0, 1, 2, ... in order (``index``): an op dropped, moved or duplicated leaves a gap;
- every invoke has its completion (``ok``, ``fail`` or ``info``) by the same process for the same function:
  an invoke left open is an operation whose outcome the history does not know;
- an op fails only where its checker expects failures: the 503 writes of a shortfall, the strangers' probes of
  the allowlist, the writes cut by a fault in chaos, phase 1's assertions (each judged). A read or get that
  fails is a poll the workload retried, accepted only when a later read of the same node answered.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._ops import GET_F, READ_F

# per checker kind, the functions whose failed ops the checker judges itself (a failed write of S1 is red there, a
# 503 of a shortfall is what S2 wants, a write that failed before a partition healed is "certainly not done" and
# must not appear); None: it judges every op's failure (phase 1's assertions). Any other failure is red here.
_WRITES = frozenset({"write", "update", "delete"})
EXPECTED_FAILURES: dict[str, frozenset[str] | None] = {
    "functional": None,
    "quorum_write": _WRITES,
    "quorum_shortfall": _WRITES,
    "mtls_allowlist": frozenset({"probe"}),
    "convergence": _WRITES,
    "partition_convergence": _WRITES,
    "federation": _WRITES,
    "chaos": _WRITES,
    "postgres_backend": frozenset(),
    "migration": frozenset(),
    # the gate's refusals (403 ATTESTATION_FAILED) are what the scenario wants where the posture says so
    "attestation": frozenset({"write"}),
}
POLLS = (READ_F, GET_F)
EXAMPLES = 5


def _where(op: dict[str, Any]) -> str:
    node = f" on {op['node']}" if op.get("node") else ""
    return f"op {op.get('index')} ({op.get('f')}{node})"


def numbering_problems(ops: list[dict[str, Any]]) -> list[str]:
    out_of_place = [i for i, op in enumerate(ops) if op.get("index") != i]
    if not out_of_place:
        return []
    first = out_of_place[0]
    return [f"the history is not whole: {len(out_of_place)} of {len(ops)} ops are not numbered in order, the first "
            f"at position {first} (index {ops[first].get('index')!r}): an op was dropped, moved or duplicated"]


def open_invokes(ops: list[dict[str, Any]]) -> list[str]:
    pending: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for op in ops:
        key = (op.get("process"), op.get("f"))
        if op.get("type") == "invoke":
            pending.setdefault(key, []).append(op)
        elif op.get("type") in ("ok", "fail", "info") and pending.get(key):
            pending[key].pop(0)
    left = sorted((op for opened in pending.values() for op in opened), key=lambda op: int(op.get("index") or 0))
    if not left:
        return []
    more = f" (+{len(left) - EXAMPLES} more)" if len(left) > EXAMPLES else ""
    return [f"the history is not whole: {len(left)} invoke(s) without a completion, whose outcome it does not "
            f"know: {', '.join(_where(op) for op in left[:EXAMPLES])}{more}"]


def unexpected_failures(kind: str, ops: list[dict[str, Any]]) -> list[str]:
    expected = EXPECTED_FAILURES.get(kind, frozenset())
    if expected is None:
        return []
    answered_later: set[str] = set()
    bad: list[dict[str, Any]] = []
    for op in reversed(ops):
        if op.get("f") in POLLS and op.get("type") == "ok":
            answered_later.add(str(op.get("node")))
        if op.get("type") != "fail" or op.get("f") in expected:
            continue
        if op.get("f") in POLLS and str(op.get("node")) in answered_later:
            continue  # a poll that failed and was retried with an answer
        bad.append(op)
    if not bad:
        return []
    bad.reverse()
    more = f" (+{len(bad) - EXAMPLES} more)" if len(bad) > EXAMPLES else ""
    return [f"{len(bad)} op(s) failed where the {kind} checker expects no failure: "
            f"{', '.join(_where(op) for op in bad[:EXAMPLES])}{more}"]


def completeness_problems(kind: str, ops: list[dict[str, Any]]) -> list[str]:
    """Why the history is not whole (numbering, open invokes) or holds a failure its checker does not expect."""
    return numbering_problems(ops) + open_invokes(ops) + unexpected_failures(kind, ops)
