"""Checkers on hand-written histories: each passes on a good history and names the cause on each bad one."""

from __future__ import annotations

from ansible_collections.aimemory.swarm.plugins.module_utils._checker.registry import check

from tests.unit.histories import Builder

NODES = ["node-a", "node-b", "node-c"]
S1 = {"w": 2, "n": 3, "nodes": NODES}


def s1_history(acks: int = 2, lose: str | None = None, tamper: bool = False) -> Builder:
    b = Builder()
    titles = [f"s1-{i}" for i in range(3)]
    for t in titles:
        b.write(t, acks=acks)
    for node in NODES:
        seen = [t for t in titles if not (lose and node == lose and t == "s1-1")]
        b.read(node, seen, tamper={"s1-2": "changed"} if tamper and node == "node-c" else None)
    return b


def test_quorum_write_passes_with_figures() -> None:
    result = check("quorum_write", s1_history().ops, S1)
    assert result["valid"] and result["reasons"] == []
    assert result["figures"]["writes_present_on_every_node"]["numerator"] == 9
    assert result["figures"]["writes_present_on_every_node"]["denominator"] == 9


def test_quorum_write_names_a_lost_write() -> None:
    result = check("quorum_write", s1_history(lose="node-c").ops, S1)
    assert not result["valid"]
    assert result["lost"] == [{"title": "s1-1", "id": "id-s1-1", "node": "node-c"}]
    assert any("s1-1@node-c" in r for r in result["reasons"])


def test_quorum_write_catches_changed_content_and_phantom_acks() -> None:
    assert any("other content" in r for r in check("quorum_write", s1_history(tamper=True).ops, S1)["reasons"])
    phantom = check("quorum_write", s1_history(acks=4).ops, S1)
    assert not phantom["valid"] and "quorum_acks <= 3" in phantom["reasons"][0]
    under = check("quorum_write", s1_history(acks=1).ops, S1)
    assert not under["valid"]


def test_no_acknowledged_write_is_never_a_pass() -> None:
    b = Builder()
    for node in NODES:
        b.read(node, [])
    result = check("quorum_write", b.ops, S1)
    assert not result["valid"]
    assert any("cannot pass" in r for r in result["reasons"])
    assert result["figures"]["writes_present_on_every_node"]["denominator"] == 0


def test_unexpected_memories_fail() -> None:
    b = s1_history()
    b.read("node-b", ["s1-0", "s1-1", "s1-2"], extra=["stranger"])
    assert any("unexpected" in r for r in check("quorum_write", b.ops, S1)["reasons"])


SHORT = {"error": "quorum_not_met", "got": 1, "needed": 2, "reason": "timeout"}
S2 = {"w": 2, "n": 3, "nodes": NODES, "leader": "node-a", "live_during_one_down": ["node-a", "node-b"]}


def s2_history(short_status: int = 503, body: dict | None = None, retry_after: str | None = "2",
               reach_restarted: bool = True) -> Builder:
    b = Builder()
    b.event("stop")
    b.write("s2-short-0", status=short_status, body=body if body is not None else SHORT, step="shortfall",
            retry_after=retry_after)
    b.read("node-a", ["s2-short-0"], step="shortfall")
    b.write("s2-one-0", step="one_down")
    b.read("node-a", ["s2-one-0"], step="one_down")
    b.read("node-b", ["s2-one-0"], step="one_down")
    b.event("restart")
    everything = ["s2-short-0", "s2-one-0"]
    for node in NODES:
        b.read(node, everything if reach_restarted or node == "node-a" else [], step="after_restart")
    return b


def test_quorum_shortfall_passes() -> None:
    result = check("quorum_shortfall", s2_history().ops, S2)
    assert result["valid"], result["reasons"]


def test_quorum_shortfall_catches_201_wrong_body_missing_header_and_no_catch_up() -> None:
    ok201 = check("quorum_shortfall", s2_history(short_status=201, body={"id": "x", "quorum_acks": 2}).ops, S2)
    assert any("expected 503 quorum_not_met" in r for r in ok201["reasons"])
    wrong = check("quorum_shortfall", s2_history(body={**SHORT, "reason": "because"}).ops, S2)
    assert any("body" in r for r in wrong["reasons"])
    extra_key = check("quorum_shortfall", s2_history(body={**SHORT, "extra": 1}).ops, S2)
    assert any("body keys" in r for r in extra_key["reasons"])
    no_header = check("quorum_shortfall", s2_history(retry_after=None).ops, S2)
    assert any("Retry-After" in r for r in no_header["reasons"])
    stale = check("quorum_shortfall", s2_history(reach_restarted=False).ops, S2)
    assert any(r.startswith("after restart") for r in stale["reasons"])


def test_mtls_allowlist() -> None:
    params = {"identities": ["rogue_ca", "own_ca_unlisted", "no_cert", "control"], "control": "control"}

    def history(unlisted_status: int | None) -> Builder:
        b = Builder()
        for path in ("/api/v1/health", "/api/v1/memories"):
            b.probe("rogue_ca", "refused", path, None, "tls_refused")
            b.probe("own_ca_unlisted", "refused", path, unlisted_status,
                    None if unlisted_status else "tls_refused")
            b.probe("no_cert", "refused", path, None, "tls_refused")
            b.probe("control", "allowed", path, 200, None)
        return b

    assert check("mtls_allowlist", history(None).ops, params)["valid"]
    bad = check("mtls_allowlist", history(200).ops, params)
    assert not bad["valid"] and any("own_ca_unlisted" in r for r in bad["reasons"])
    assert bad["figures"]["strangers_refused_at_handshake"]["numerator"] == 4


def test_partition_convergence_needs_the_fault_and_measures_from_heal() -> None:
    b = Builder()
    b.event("partition")
    b.write("s4-0", node="node-a", step="partitioned")
    b.write("s4-1", node="node-b", status=503, body=SHORT, step="partitioned")
    b.event("heal")
    b.read("node-c", [], step="after_heal")
    for node in NODES:
        b.read(node, ["s4-0"], step="after_heal")
    result = check("partition_convergence", b.ops, {"nodes": NODES})
    assert result["valid"], result["reasons"]
    assert result["time_to_converge_ms"] is not None and result["time_to_converge_ms"] > 0
    assert result["figures"]["writes_acknowledged_during_partition"]["numerator"] == 1
    no_fault = check("partition_convergence", [op for op in b.ops if op["process"] != "nemesis"], {"nodes": NODES})
    assert any("never injected" in r for r in no_fault["reasons"])


def test_unknown_kind_and_broken_history_fail() -> None:
    assert not check("nope", [], {})["valid"]
    assert not check("quorum_write", [{"f": "write", "type": "ok"}], S1)["valid"]


def test_functional_needs_every_assertion() -> None:
    from ansible_collections.aimemory.swarm.plugins.module_utils._checker.registry import PHASE1_ASSERTIONS

    b = Builder()
    for name in PHASE1_ASSERTIONS:
        b._add(process="node-a", type="ok", f=name, node="node-a",
               value={"snapshot_count": 1, "manifest_count": 1} if name == "backup" else {})
    good = check("functional", b.ops, {"host": "node-a"})
    assert good["valid"] and good["figures"]["assertions_passed"]["numerator"] == len(PHASE1_ASSERTIONS)
    assert good["shipgate"]["snapshot_count"] == 1
    b._add(process="node-a", type="fail", f="backup", node="node-a", value={"snapshot_count": 0})
    bad = check("functional", b.ops, {"host": "node-a"})
    assert not bad["valid"] and bad["reasons"][0].startswith("backup: failed")
    missing = check("functional", [op for op in b.ops if op["f"] != "mcp"], {"host": "node-a"})
    assert "mcp: never ran" in missing["reasons"]
