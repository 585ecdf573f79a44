"""Checker ``attestation`` on hand-written histories in the shape AttestationProbe records: green for what each
posture promises, red (with the cause) for a write accepted that must be refused, a refusal that is not an
attestation refusal, a refused write stored anyway, an attestation that does not replicate, a case never run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.plugins.module_utils.test_checkers import has, judged

NODES = ["node-a", "node-b", "node-c"]
REFUSAL = {"code": "ATTESTATION_FAILED", "error": "agent attestation failed: ..."}
CASES = ("unsigned", "unbound_key", "unbound_agent", "tampered", "signed", "signed_body_only")


def history(posture: str = "attested", answer: dict[tuple[str, str], int] | None = None,
            levels: dict[tuple[str, str], str | None] | None = None, stored: dict[str, list[str]] | None = None,
            skip: set[tuple[str, str]] | None = None, cases: tuple[str, ...] = CASES) -> list[dict[str, Any]]:
    """The scenario through every node: each case answered as the posture promises unless ``answer`` says
    otherwise ((node, case) -> status); every accepted write read on every node with ``levels`` ((case, reader) ->
    attest level, default agent_attested for signed cases, None otherwise)."""
    ops: list[dict[str, Any]] = []
    refused = {"unbound_key", "tampered"} | ({"unsigned", "unbound_agent"} if posture == "attested" else set())
    accepted: list[tuple[str, str, str, str]] = []

    def add(**op: Any) -> None:
        ops.append({"index": len(ops), "time": 1_795_000_000 * 10**9 + len(ops), **op})

    for node in NODES:
        for case in cases:
            if (node, case) in (skip or set()):
                continue
            title = f"att-{case}-{node}"
            signed = case != "unsigned"
            value = {"case": case, "title": title, "namespace": "att", "agent_id": "ai:tester", "signed": signed,
                     "relay": case == "signed", "tampered": case == "tampered",
                     "created_at": "2026-12-02T09:00:00.000001+00:00" if signed else None}
            add(process="attestation", type="invoke", f="write", node=node, value=value, step=case,
                request={"method": "POST", "path": "/api/v1/memories", "title": title})
            status = (answer or {}).get((node, case), 403 if case in refused else 201)
            body = REFUSAL if status == 403 else ({"id": f"id-{title}", "title": title} if status == 201
                                                  else {"error": "bad request"})
            add(process="attestation", type="ok" if status == 201 else "fail", f="write", node=node, value=value,
                step=case, status=status, response=body, error_class=None, latency_ms=1.0, headers={})
            if status == 201:
                accepted.append((f"id-{title}", case, node, value["created_at"] or ""))
    for mem_id, case, leader, created in accepted:
        for reader in NODES:
            default = "agent_attested" if case.startswith("signed") else None
            level = (levels or {}).get((case, reader), default)
            add(process="attestation", type="ok", f="get", node=reader, status=200,
                value={"id": mem_id, "case": case, "leader": leader, "found": level != "absent",
                       "attest_level": level, "write_signature": "c2ln" if case == "signed" else None,
                       "created_at": created or "2026-12-02T09:00:01+00:00", "agent_id": "ai:tester"})
    titles = [entry[0].removeprefix("id-") for entry in accepted]
    for reader in NODES:
        add(process="attestation", type="ok", f="read", node=reader, status=200,
            value={"namespace": "att", "titles": titles + (stored or {}).get(reader, [])})
    return ops


PARAMS = {"nodes": NODES, "scheme": "ai-memory/write/v1"}


@pytest.mark.parametrize("posture", ["attested", "permissive"])
def test_what_each_posture_promises_is_green(posture: str) -> None:
    result = judged("attestation", history(posture), {**PARAMS, "posture": posture})
    assert result["valid"], result["reasons"]
    refused = 12 if posture == "attested" else 6
    assert result["figures"]["refused_as_required"]["numerator"] == refused
    assert result["figures"]["attested_replicas"]["numerator"] == 18


def test_an_unsigned_write_accepted_in_the_attested_posture_is_red() -> None:
    result = judged("attestation", history(answer={("node-b", "unsigned"): 201}), {**PARAMS, "posture": "attested"})
    assert not result["valid"]
    assert has(result, "unsigned through node-b must be refused (posture attested) but was accepted (201)")


@pytest.mark.parametrize("case", ["unbound_key", "tampered"])
def test_a_forgery_accepted_is_red_whatever_the_posture(case: str) -> None:
    for posture in ("attested", "permissive"):
        result = judged("attestation", history(posture, answer={("node-a", case): 201}),
                        {**PARAMS, "posture": posture})
        assert has(result, f"{case} through node-a must be refused (posture {posture}) but was accepted (201)")


def test_a_refusal_that_is_not_an_attestation_refusal_is_red() -> None:
    result = judged("attestation", history(answer={("node-c", "tampered"): 400}), {**PARAMS, "posture": "attested"})
    assert has(result, "tampered through node-c must be refused (posture attested) but was answered 400")


def test_a_refused_write_stored_anyway_is_red() -> None:
    result = judged("attestation", history(stored={"node-b": ["att-unsigned-node-a"]}),
                    {**PARAMS, "posture": "attested"})
    assert has(result, "unsigned through node-a was refused but is stored on ['node-b']")


def test_an_attestation_that_does_not_replicate_is_red_with_the_leaders_level() -> None:
    levels = {("signed_body_only", "node-b"): "claimed", ("signed_body_only", "node-c"): "claimed"}
    result = judged("attestation", history(levels=levels), {**PARAMS, "posture": "attested"})
    assert not result["valid"]
    assert has(result, "signed_body_only through node-a: the attestation did not replicate: node-b holds "
                       "id-att-signed_body_only-node-a with attest_level 'claimed' (the leader node-a: "
                       "'agent_attested'); the signature was sent in the body only")
    assert result["figures"]["attested_replicas"]["numerator"] == 12


def test_a_signed_write_refused_or_missing_on_a_node_is_red() -> None:
    result = judged("attestation", history(answer={("node-a", "signed"): 403}), {**PARAMS, "posture": "attested"})
    assert has(result, "signed through node-a must be accepted (posture attested) but was answered 403")
    result = judged("attestation", history(levels={("signed", "node-c"): "absent"}), {**PARAMS, "posture": "attested"})
    assert has(result, "node-c does not hold id-att-signed-node-a")


def test_an_unattested_write_held_as_attested_is_red() -> None:
    result = judged("attestation", history("permissive", levels={("unsigned", "node-a"): "agent_attested"}),
                    {**PARAMS, "posture": "permissive"})
    assert has(result, "holds the unattested write id-att-unsigned-node-b as agent_attested")


def test_a_case_never_run_or_a_posture_unknown_is_red() -> None:
    result = judged("attestation", history(skip={("node-b", "tampered")}), {**PARAMS, "posture": "attested"})
    assert has(result, "tampered through node-b: never ran")
    result = judged("attestation", history(), {**PARAMS, "posture": None})
    assert has(result, "posture None is neither attested nor permissive")
    result = judged("attestation", [], {**PARAMS, "posture": "attested"})
    assert not result["valid"] and has(result, "unsigned through node-a: never ran")


def test_a_scheme_without_a_relay_copy_needs_no_body_only_case() -> None:
    cases = tuple(c for c in CASES if c != "signed_body_only")
    params = {**PARAMS, "posture": "permissive", "scheme": "ai-memory/write/v0"}
    result = judged("attestation", history("permissive", cases=cases), params)
    assert result["valid"], result["reasons"]
