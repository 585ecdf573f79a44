# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Set-full convergence over a history: every required write present, intact, under its id, on every node."""

from __future__ import annotations

from typing import Any


def figure(numerator: int, denominator: int, threshold: float | None = 1.0, comparison: str = ">=") -> dict[str, Any]:
    return {"numerator": numerator, "denominator": denominator,
            "value": round(numerator / denominator, 6) if denominator else None,
            "threshold": threshold, "comparison": comparison}


def completed_writes(ops: list[dict[str, Any]], steps: set[str] | None = None) -> list[dict[str, Any]]:
    return [op for op in ops if op.get("f") == "write" and op.get("type") in ("ok", "fail", "info")
            and (steps is None or op.get("step") in steps)]


def quorum_kept(op: dict[str, Any]) -> bool:
    """A 503 quorum_not_met write: the contract keeps the leader's local commit."""
    return op.get("status") == 503 and (op.get("response") or {}).get("error") == "quorum_not_met"


def judge(ops: list[dict[str, Any]], nodes: list[str], required: list[dict[str, Any]], since: float | None,
          steps: set[str] | None = None) -> dict[str, Any]:
    """Compare required writes with the reads. `since` (heal time) anchors time to converge."""
    attempted = {op["value"]["title"] for op in ops if op.get("f") == "write" and op.get("type") == "invoke"}
    want = {op["value"]["title"]: op for op in required}
    reads = [op for op in ops if op.get("f") == "read" and (steps is None or op.get("step") in steps)]
    latest: dict[str, dict[str, list[str]]] = {}
    converged_at: float | None = None

    def intact(found: dict[str, list[str]], title: str) -> bool:
        op = want[title]
        got = found.get(title)
        if got is None or got[1] != op["value"]["digest"]:
            return False
        wid = (op.get("response") or {}).get("id")
        return wid is None or got[0] == wid

    for op in reads:
        if op.get("type") != "ok":
            continue
        latest[op["node"]] = op["value"]["found"]
        if converged_at is None and want and all(
                n in latest and all(intact(latest[n], t) for t in want) for n in nodes):
            converged_at = float(op["time"])
    lost, corrupted, unexpected, missing_reads = [], [], set(), []
    present = 0
    for node in nodes:
        found = latest.get(node)
        if found is None:
            missing_reads.append(node)
            continue
        for title, op in want.items():
            got = found.get(title)
            wid = (op.get("response") or {}).get("id")
            if got is None:
                lost.append({"title": title, "id": wid, "node": node})
            elif not intact(found, title):
                corrupted.append({"title": title, "id": wid, "node": node, "found_id": got[0]})
            else:
                present += 1
        unexpected |= {t for t in found if t not in attempted}
    if converged_at is not None and (lost or corrupted):
        converged_at = None  # a later read lost what an earlier one had: not converged
    reasons = []
    if not want:
        reasons.append("no acknowledged write to judge (a check that saw nothing cannot pass)")
    if missing_reads:
        reasons.append(f"no successful read of node(s) {missing_reads}")
    if lost:
        reasons.append(f"{len(lost)} acknowledged write(s) missing: "
                       + ", ".join(f"{x['title']}@{x['node']}" for x in lost[:10]))
    if corrupted:
        reasons.append(f"{len(corrupted)} write(s) present with other content or id: "
                       + ", ".join(f"{x['title']}@{x['node']}" for x in corrupted[:10]))
    if unexpected:
        reasons.append(f"{len(unexpected)} unexpected memories never written by this check: {sorted(unexpected)[:10]}")
    ttc = None
    if converged_at is not None and since is not None:
        ttc = round(max(0.0, converged_at - since) * 1000, 1)
    return {
        "valid": not reasons,
        "reasons": reasons,
        "figures": {"writes_present_on_every_node": figure(present, len(want) * len(nodes)),
                    "lost_writes": figure(len(lost), len(want) * len(nodes), 0, "<="),
                    "unexpected_writes": figure(len(unexpected), max(1, len(attempted)), 0, "<=")},
        "lost": lost, "corrupted": corrupted, "unexpected": sorted(unexpected),
        "time_to_converge_ms": ttc,
        "per_node_present": {n: sum(1 for t in want if n in latest and intact(latest[n], t)) for n in nodes},
    }
