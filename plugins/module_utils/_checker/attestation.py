# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Checker ``attestation``: what the write-attestation gate refuses, and whether an attestation replicates.

params: ``nodes`` (every node the scenario wrote through and read), ``posture`` (``attested``: HTTP writes must be
signed by a bound key, ai-memory 0.10.0's default; ``permissive``: unsigned writes are accepted as bare claims,
``AI_MEMORY_REQUIRE_AGENT_ATTESTATION=0``), ``scheme`` (the release's signature scheme).

Whatever the posture, a write signed by a key that is not the agent's bound key (``unbound_key``) and a write whose
signature does not match its body (``tampered``) must be refused: 403 with code ``ATTESTATION_FAILED``, and stored
nowhere. In the attested posture an unsigned write (``unsigned``) and a write of an agent with no bound key
(``unbound_agent``) must be refused too; in the permissive posture they are accepted, never as ``agent_attested``.
A write signed by the bound key (``signed``, ``signed_body_only``) must be accepted (201), held by every node with
``metadata.attest_level = "agent_attested"``, its signed ``created_at``, and the relay copy of its signature where one
was sent: the attestation replicates with the write, or the replicas disagree about who wrote it.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._checker.ops import figure

ATTESTED = "agent_attested"
ALWAYS_REFUSED = ("unbound_key", "tampered")
REFUSED_WHEN_ATTESTED = ("unsigned", "unbound_agent")
MUST_ATTEST = ("signed", "signed_body_only")
REQUIRED_CASES = ("unsigned", "unbound_key", "unbound_agent", "tampered", "signed")
REFUSAL_CODE = "ATTESTATION_FAILED"


def _completions(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [op for op in ops if op.get("f") == "write" and op.get("type") in ("ok", "fail", "info")]


def _refusal_problem(op: dict[str, Any]) -> str:
    """Why ``op`` is not an attestation refusal ("" when it is one)."""
    status, body = op.get("status"), op.get("response") if isinstance(op.get("response"), dict) else {}
    if status is None:
        return f"no answer ({op.get('error_class')}): a refusal is an answer"
    if 200 <= status < 300:
        return f"accepted ({status})"
    if status != 403 or body.get("code") != REFUSAL_CODE:
        return f"answered {status} {str(body)[:200]}, not 403 {REFUSAL_CODE}"
    return ""


def attestation(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    posture = params.get("posture")
    nodes = [str(n) for n in params.get("nodes") or []]
    reasons: list[str] = []
    if posture not in ("attested", "permissive"):
        reasons.append(f"posture {posture!r} is neither attested nor permissive: nothing to judge against")
    if not nodes:
        reasons.append("no nodes to judge")
    writes = _completions(ops)
    by_node_case = {(str(op.get("node")), str((op.get("value") or {}).get("case"))): op for op in writes}
    cases = sorted({case for _node, case in by_node_case})
    for node in nodes:
        for case in REQUIRED_CASES:
            if (node, case) not in by_node_case:
                reasons.append(f"{case} through {node}: never ran")
    must_refuse = ALWAYS_REFUSED + (REFUSED_WHEN_ATTESTED if posture == "attested" else ())
    refused_ok = refused_total = 0
    stored: dict[str, set[str]] = {}
    for op in ops:
        if op.get("f") == "read" and op.get("type") == "ok":
            stored[str(op.get("node"))] = set((op.get("value") or {}).get("titles") or [])
    for node in nodes:
        if node not in stored:
            reasons.append(f"{node}: its namespace was never read, so a refused write stored anyway would not show")
    gets: dict[str, dict[str, dict[str, Any]]] = {}
    for op in ops:
        if op.get("f") == "get":
            value = op.get("value") or {}
            gets.setdefault(str(value.get("id")), {})[str(op.get("node"))] = value
    replicas_ok = replicas_total = 0
    outcome: dict[str, dict[str, Any]] = {}
    for (node, case), op in sorted(by_node_case.items()):
        value = op.get("value") or {}
        title = str(value.get("title"))
        where = f"{case} through {node}"
        outcome.setdefault(case, {})[node] = op.get("status") if op.get("status") is not None else op.get(
            "error_class")
        if case in must_refuse:
            refused_total += 1
            problem = _refusal_problem(op)
            holders = sorted(n for n, titles in stored.items() if title in titles)
            if problem:
                reasons.append(f"{where} must be refused (posture {posture}) but was {problem}")
            elif holders:
                reasons.append(f"{where} was refused but is stored on {holders}")
            else:
                refused_ok += 1
            continue
        if op.get("status") != 201:
            reasons.append(f"{where} must be accepted (posture {posture}) but was answered "
                           f"{op.get('status') or op.get('error_class')} {str(op.get('response'))[:200]}")
            continue
        mem_id = str((op.get("response") or {}).get("id"))
        seen = gets.get(mem_id, {})
        for reader in nodes:
            got = seen.get(reader)
            if case in MUST_ATTEST:
                replicas_total += 1
            if got is None:
                reasons.append(f"{where}: {reader} was never asked for {mem_id}")
                continue
            if not got.get("found"):
                reasons.append(f"{where}: {reader} does not hold {mem_id}")
                continue
            level = got.get("attest_level")
            if case not in MUST_ATTEST:
                if level == ATTESTED:
                    reasons.append(f"{where}: {reader} holds the unattested write {mem_id} as {ATTESTED}")
                continue
            wrong = []
            if level != ATTESTED:
                wrong.append(f"attest_level {level!r}")
            if value.get("created_at") and got.get("created_at") != value.get("created_at"):
                wrong.append(f"created_at {got.get('created_at')!r}, signed {value.get('created_at')!r}")
            if value.get("relay") and not got.get("write_signature"):
                wrong.append("no write_signature")
            if wrong:
                leader = (seen.get(node) or {}).get("attest_level")
                reasons.append(f"{where}: the attestation did not replicate: {reader} holds {mem_id} with "
                               f"{', '.join(wrong)} (the leader {node}: {leader!r})"
                               + ("; the signature was sent in the body only" if case == "signed_body_only" else ""))
            else:
                replicas_ok += 1
    figures = {"refused_as_required": figure(refused_ok, refused_total),
               "attested_replicas": figure(replicas_ok, replicas_total)}
    return {"valid": not reasons, "reasons": reasons, "figures": figures,
            "posture": posture, "scheme": params.get("scheme"), "cases": cases, "outcomes": outcome}
