# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Checkers: pure functions (history, params) -> verdict. The controller re-runs them on the stored history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._checker.convergence import (
    completed_writes,
    figure,
    judge,
    quorum_kept,
)

Checker = Callable[[list[dict[str, Any]], dict[str, Any]], dict[str, Any]]


def _event_time(ops: list[dict[str, Any]], f: str) -> float | None:
    times = [float(op["time"]) for op in ops if op.get("process") == "nemesis" and op.get("f") == f]
    return times[-1] if times else None


def quorum_write(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """S1: every write 201 with W <= quorum_acks <= N, then readable with the same content on every node."""
    w, n, nodes = int(params["w"]), int(params["n"]), list(params["nodes"])
    writes = completed_writes(ops)
    good = [op for op in writes
            if op["type"] == "ok" and w <= int((op.get("response") or {}).get("quorum_acks") or 0) <= n]
    result = judge(ops, nodes, [op for op in writes if op["type"] == "ok"], None)
    reasons = list(result["reasons"])
    bad = [op for op in writes if op not in good]
    if bad:
        reasons.insert(0, f"{len(bad)} of {len(writes)} writes not 201 with {w} <= quorum_acks <= {n}: "
                       + ", ".join(f"{op['value']['title']}={op.get('status') or op.get('error')}"
                                   f"/acks={(op.get('response') or {}).get('quorum_acks')}" for op in bad[:5]))
    return {**result, "valid": not reasons, "reasons": reasons,
            "figures": {"quorum_writes_acknowledged": figure(len(good), len(writes)), **result["figures"]}}


def quorum_shortfall(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """S2: 503 contract with peers stopped, 201 with one down, local write kept, catch-up after restart."""
    w, nodes, leader = int(params["w"]), list(params["nodes"]), params["leader"]
    reasons: list[str] = []
    short = completed_writes(ops, {"shortfall"})
    exact = []
    for op in short:
        body = op.get("response") or {}
        problems = []
        if op.get("status") != 503:
            problems.append(f"status {op.get('status') or op.get('error')}")
        if op.get("retry_after") != "2":
            problems.append(f"Retry-After {op.get('retry_after')!r}")
        if set(body) != {"error", "got", "needed", "reason"}:
            problems.append(f"body keys {sorted(body)}")
        elif not (body["error"] == "quorum_not_met" and body["needed"] == w and isinstance(body["got"], int)
                  and body["got"] < w and body["reason"] in ("timeout", "unreachable")):
            problems.append(f"body {body}")
        if problems:
            reasons.append(f"shortfall write {op['value']['title']}: expected 503 quorum_not_met, got "
                           + "; ".join(problems))
        else:
            exact.append(op)
    kept = judge(ops, [leader], [op for op in short if quorum_kept(op)], None, {"shortfall"})
    if short and kept["lost"]:
        reasons.append(f"local write not kept on the leader after 503: {[x['title'] for x in kept['lost']]}")
    one_down = completed_writes(ops, {"one_down"})
    ok_one = [op for op in one_down if op["type"] == "ok"
              and int((op.get("response") or {}).get("quorum_acks") or 0) >= w]
    if len(ok_one) != len(one_down):
        reasons.append(f"with one peer down {len(one_down) - len(ok_one)} of {len(one_down)} writes were not 201 "
                       f"with quorum_acks >= {w}")
    live = list(params.get("live_during_one_down", []))
    landed = judge(ops, live, ok_one, None, {"one_down"}) if live else {"lost": []}
    if landed["lost"]:
        reasons.append(f"writes with one peer down missing on the live peer: {landed['lost'][:5]}")
    required = list(ok_one) + [op for op in short if quorum_kept(op)]
    healed = judge(ops, nodes, required, _event_time(ops, "restart"), {"after_restart"})
    reasons += [f"after restart: {r}" for r in healed["reasons"]]
    if not short:
        reasons.append("no write was attempted with the quorum unreachable")
    if not one_down and params.get("one_down_applies", True):
        reasons.append("no write was attempted with one peer down")
    return {"valid": not reasons, "reasons": reasons,
            "figures": {"shortfall_answered_exactly": figure(len(exact), len(short)),
                        "one_down_acknowledged": figure(len(ok_one), len(one_down)),
                        **{f"after_restart_{k}": v for k, v in healed["figures"].items()}},
            "lost": healed["lost"], "time_to_converge_ms": healed["time_to_converge_ms"]}


def mtls_allowlist(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """S3: strangers refused at the handshake (no HTTP status) on every path; the listed identity served."""
    probes = [op for op in ops if op.get("f") == "probe" and op.get("type") in ("ok", "fail", "info")]
    refused_ok, refused_all, control_ok, control_all, reasons = 0, 0, 0, 0, []
    for op in probes:
        ident, path = op["value"]["identity"], op["value"]["path"]
        if op["value"]["expect"] == "refused":
            refused_all += 1
            if op.get("status") is None and op.get("error") == "tls_refused":
                refused_ok += 1
            else:
                reasons.append(f"{ident} on {path}: expected a refused handshake, got "
                               f"{op.get('status') or op.get('error')}")
        else:
            control_all += 1
            if op.get("status") in (200, 201):
                control_ok += 1
            else:
                got = op.get("status") or op.get("error")
                reasons.append(f"control {ident} on {path}: expected 200/201, got {got}")
    expected = set(params.get("identities", [])) - {params.get("control")}
    seen = {op["value"]["identity"] for op in probes if op["value"]["expect"] == "refused"}
    if expected - seen:
        reasons.append(f"identities never probed: {sorted(expected - seen)}")
    if not control_all:
        reasons.append("the allowlisted control identity was never probed")
    return {"valid": not reasons, "reasons": reasons,
            "figures": {"strangers_refused_at_handshake": figure(refused_ok, refused_all),
                        "control_served": figure(control_ok, control_all)}}


def partition_convergence(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """S4: writes acknowledged during a partition reach every node after heal, by id, within the deadline."""
    nodes = list(params["nodes"])
    reasons = []
    if _event_time(ops, "partition") is None or _event_time(ops, "heal") is None:
        reasons.append("the history holds no partition and heal events: the fault was never injected")
    writes = completed_writes(ops, {"partitioned"})
    acked = [op for op in writes if op["type"] == "ok"]
    result = judge(ops, nodes, acked, _event_time(ops, "heal"), {"after_heal"})
    reasons += result["reasons"]
    return {**result, "valid": not reasons, "reasons": reasons,
            "figures": {"writes_acknowledged_during_partition": figure(len(acked), len(writes), None),
                        **result["figures"]}}


PHASE1_ASSERTIONS = ("cli_store", "cli_recall", "cli_stats", "backup", "restore", "curator", "mcp", "http_create",
                     "http_get", "http_update", "http_search", "http_delete", "persist_write", "persist_read")


def functional(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Ship-gate phase 1 on one node: every assertion recorded, and each one passed."""
    last = {op["f"]: op for op in ops if op.get("type") in ("ok", "fail")}
    reasons = []
    for name in PHASE1_ASSERTIONS:
        op = last.get(name)
        if op is None:
            reasons.append(f"{name}: never ran")
        elif op["type"] != "ok":
            reasons.append(f"{name}: failed {op.get('value')}")
    passed = sum(1 for name in PHASE1_ASSERTIONS if name in last and last[name]["type"] == "ok")
    value = {name: (last[name].get("value") or {}) for name in last}
    shipgate = {"phase": 1, "host": params.get("host"), "version": value.get("version", {}).get("version"),
                "recall_count": value.get("cli_recall", {}).get("recall_count"),
                "snapshot_count": value.get("backup", {}).get("snapshot_count"),
                "manifest_count": value.get("backup", {}).get("manifest_count"),
                "mcp_tool_count": len(value.get("mcp", {}).get("tools") or [])}
    return {"valid": not reasons, "reasons": reasons,
            "figures": {"assertions_passed": figure(passed, len(PHASE1_ASSERTIONS))}, "shipgate": shipgate}


KINDS: dict[str, Checker] = {
    "functional": functional,
    "quorum_write": quorum_write,
    "quorum_shortfall": quorum_shortfall,
    "mtls_allowlist": mtls_allowlist,
    "partition_convergence": partition_convergence,
}


def check(kind: str, history: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    if kind not in KINDS:
        return {"valid": False, "reasons": [f"unknown checker kind {kind!r}"], "figures": {}}
    try:
        return KINDS[kind](history, params)
    except (KeyError, TypeError, ValueError) as exc:
        return {"valid": False, "reasons": [f"checker {kind} could not read the history: {exc!r}"], "figures": {}}
