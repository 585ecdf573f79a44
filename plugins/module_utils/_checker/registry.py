# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""The checkers by kind: deterministic pure functions (history, params) -> verdict.

``check(kind, history, params)`` returns ``{"valid": bool, "reasons": [...], "figures": {...}, ...details}`` with
``reasons == []`` iff valid. The check modules run it on the client host; the controller (``verify``) imports this
same registry and recomputes every verdict from the stored history, so nothing here may read a clock, a file or the
network. ``params["history_problems"]`` (set by ``history_check`` when the history file was damaged: a truncated
line, an unparseable line) makes any verdict invalid, so the recomputation agrees with the module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._checker.attestation import attestation
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.backend import migration, postgres_backend
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.chaos import chaos
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.completeness import completeness_problems
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.convergence import convergence
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.federation import federation
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.mtls import mtls_allowlist
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.ops import figure
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.quorum import quorum_shortfall, quorum_write

Checker = Callable[[list[dict[str, Any]], dict[str, Any]], dict[str, Any]]


def partition_convergence(history: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """``convergence`` that insists on a partition and a heal, with writes acknowledged between them."""
    merged = {"require_events": ["partition", "heal"], "fault_window": ["partition", "heal"],
              "anchor_events": ["heal"], **params}
    return convergence(history, merged)


PHASE1_ASSERTIONS = ("cli_store", "cli_recall", "cli_stats", "backup", "restore", "curator", "mcp", "http_create",
                     "http_get", "http_update", "http_search", "http_delete", "persist_write", "persist_read")


def _mcp_problem(value: dict[str, Any], params: dict[str, Any]) -> str:
    """Phase 1's MCP session judged from what it observed: the tools of the profile asked for (exactly the
    release's set when the campaign pinned one), the protocol version, the store/recall round trip."""
    tools = set(value.get("tools") or [])
    expected = params.get("mcp_tools")
    if expected is not None and tools != set(expected):
        return (f"profile {value.get('profile')!r} lists {len(tools)} tools, expected {len(expected)}: missing "
                f"{sorted(set(expected) - tools)}, unexpected {sorted(tools - set(expected))}")
    if expected is None and not {"memory_store", "memory_recall"} <= tools:
        return f"tools/list lacks memory_store or memory_recall: {sorted(tools)}"
    if not value.get("protocol_version"):
        return "initialize answered no protocolVersion"
    if not value.get("round_trip"):
        return "the memory stored over MCP was not recalled over MCP"
    return ""


def functional(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Ship-gate phase 1 on one node: every assertion recorded, and each one passed. params: ``host``, and the
    pinned ``mcp_profile``/``mcp_tools``/``tier`` the campaign asked for."""
    last = {op["f"]: op for op in ops if op.get("type") in ("ok", "fail")}
    reasons = []
    assertions = PHASE1_ASSERTIONS + (("cli_recall_default_tier",) if params.get("probe_default_tier") else ())
    for name in assertions:
        op = last.get(name)
        if op is None:
            reasons.append(f"{name}: never ran")
            continue
        value = op.get("value") if isinstance(op.get("value"), dict) else {}
        command = value.get("command") if isinstance(value.get("command"), dict) else None
        if op["type"] != "ok":
            cause = (f"`{command.get('command')}` did not return within {command.get('timeout_s')} s (killed)"
                     if command and command.get("timed_out") else f"failed {value}")
            reasons.append(f"{name}: {cause}")
        elif name == "mcp" and _mcp_problem(value, params):
            reasons.append(f"mcp: {_mcp_problem(value, params)}")
    passed = sum(1 for name in assertions if name in last and last[name]["type"] == "ok"
                 and not (name == "mcp" and _mcp_problem(last[name].get("value") or {}, params)))
    value = {name: (last[name].get("value") or {}) for name in last}
    shipgate = {"phase": 1, "host": params.get("host"), "version": value.get("version", {}).get("version"),
                "recall_count": value.get("cli_recall", {}).get("recall_count"),
                "snapshot_count": value.get("backup", {}).get("snapshot_count"),
                "manifest_count": value.get("backup", {}).get("manifest_count"),
                "mcp_tool_count": len(value.get("mcp", {}).get("tools") or [])}
    return {"valid": not reasons, "reasons": reasons,
            "figures": {"assertions_passed": figure(passed, len(assertions))}, "shipgate": shipgate,
            "settings": {"tier": params.get("tier"), "mcp_profile": params.get("mcp_profile")}}


KINDS: dict[str, Checker] = {
    "functional": functional,
    "quorum_write": quorum_write,
    "quorum_shortfall": quorum_shortfall,
    "mtls_allowlist": mtls_allowlist,
    "convergence": convergence,
    "partition_convergence": partition_convergence,
    "federation": federation,
    "chaos": chaos,
    "postgres_backend": postgres_backend,
    "migration": migration,
    "attestation": attestation,
}


def check(kind: str, history: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Run one checker; never raises: a history or params it cannot read is an invalid verdict with the cause."""
    if kind not in KINDS:
        return {"valid": False, "reasons": [f"unknown checker kind {kind!r}; known: {sorted(KINDS)}"], "figures": {}}
    if not isinstance(history, list) or not all(isinstance(op, dict) for op in history):
        return {"valid": False, "reasons": ["the history is not a list of operations"], "figures": {}}
    params = dict(params or {})
    damage = [str(p) for p in params.pop("history_problems", None) or []]
    try:
        result = KINDS[kind](history, params)
    except Exception as exc:  # a history or params the checker cannot read is a red verdict, never a crash
        return {"valid": False, "reasons": [f"checker {kind} could not read the history or params: {exc!r}"],
                "figures": {}}
    reasons = ([f"damaged history: {p}" for p in damage] + completeness_problems(kind, history)
               + [str(r) for r in result.get("reasons", [])])
    return {**result, "valid": not reasons, "reasons": reasons, "figures": result.get("figures", {})}
