"""Checkers on hand-written histories: each passes on a good history and names the cause of each failure mode."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.registry import KINDS, check
from ansible_collections.aimemory.swarm.plugins.module_utils._releases import SHORTFALL_202

from tests.unit.plugins.module_utils.history_builder import SHORT, T0, H, mem_id

NODES = ["node-a", "node-b", "node-c"]
S1 = {"w": 2, "n": 3, "nodes": NODES}
S2 = {"w": 2, "n": 3, "nodes": NODES, "leader": "node-a"}
S3 = {"identities": ["rogue_ca", "own_ca_unlisted", "no_cert", "control"], "control": "control", "nodes": NODES}
S4 = {"nodes": NODES}
PATHS = [("GET", "/api/v1/health"), ("POST", "/api/v1/memories")]


def judged(kind: str, ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """check() plus the invariants every verdict must keep: reasons == [] iff valid; deterministic; the inputs
    untouched; a valid verdict has only figures with a non-zero denominator (the controller reds those)."""
    before = (copy.deepcopy(ops), copy.deepcopy(params))
    result = check(kind, ops, params)
    assert (ops, params) == before
    again = check(kind, ops, params)
    assert json.dumps(again, sort_keys=True, default=str) == json.dumps(result, sort_keys=True, default=str)
    assert result["valid"] is (result["reasons"] == [])
    assert all(isinstance(r, str) and r for r in result["reasons"])
    for name, fig in result["figures"].items():
        assert set(fig) == {"numerator", "denominator", "value", "threshold", "comparison"}, name
        if result["valid"]:
            assert fig["denominator"] > 0, name
    json.dumps(result)  # evidence must serialize
    return result


def has(result: dict[str, Any], text: str) -> bool:
    return any(text in r for r in result["reasons"])


# ---------------------------------------------------------------- S1 quorum_write


def s1_history(acks: int = 2, lose: str | None = None, tamper: bool = False) -> H:
    """Three writes through node-a acknowledged with ``acks``, read on every node (node ``lose`` misses s1-1)."""
    h = H()
    titles = [f"s1-{i}" for i in range(3)]
    for t in titles:
        h.write(t, acks=acks)
    for node in NODES:
        seen = [t for t in titles if not (lose and node == lose and t == "s1-1")]
        h.read(node, seen, tamper={"s1-2": "changed"} if tamper and node == "node-c" else None)
    return h


def test_quorum_write_passes_with_figures_and_visibility() -> None:
    result = judged("quorum_write", s1_history().ops, S1)
    assert result["valid"], result["reasons"]
    assert result["figures"]["writes_present_on_every_node"] == {
        "numerator": 9, "denominator": 9, "value": 1.0, "threshold": 1.0, "comparison": ">="}
    assert result["figures"]["quorum_writes_acknowledged"]["numerator"] == 3
    assert result["visibility"] == {"write_scopes": ["collective"], "write_agent_ids": ["ai:tester"],
                                    "read_agent_ids": []}
    assert result["per_node_counts"] == {"node-a": 3, "node-b": 3, "node-c": 3}
    # converged at the last read (index 8), measured from the last acknowledged write (index 5)
    assert result["time_to_converge_ms"] == pytest.approx(300.0)


def test_quorum_write_names_a_lost_write() -> None:
    result = judged("quorum_write", s1_history(lose="node-c").ops, S1)
    assert not result["valid"]
    assert result["lost"] == [{"id": "id-s1-1", "title": "s1-1", "node": "node-c"}]
    assert has(result, "s1-1@node-c")
    assert result["figures"]["lost_writes"]["numerator"] == 1
    assert result["time_to_converge_ms"] is None


def test_quorum_write_catches_changed_content() -> None:
    result = judged("quorum_write", s1_history(tamper=True).ops, S1)
    assert not result["valid"] and has(result, "present with other content than last written")
    assert result["corrupted"] == [{"id": "id-s1-2", "title": "s1-2", "node": "node-c"}]


def test_quorum_write_catches_phantom_acks_and_acks_below_quorum() -> None:
    phantom = judged("quorum_write", s1_history(acks=4).ops, S1)
    assert not phantom["valid"] and has(phantom, "phantom ack, quorum_acks 4 > 3 live node(s)")
    under = judged("quorum_write", s1_history(acks=1).ops, S1)
    assert not under["valid"] and has(under, "quorum_acks 1 < W=2 (acknowledged without quorum)")


def test_quorum_write_phantom_ack_counts_only_live_nodes() -> None:
    h = H()
    h.event("stop", ["node-c"])
    h.write("s1-0", acks=3)  # only two nodes run: three acks cannot be real
    h.event("start", ["node-c"])
    for node in NODES:
        h.read(node, ["s1-0"])
    result = judged("quorum_write", h.ops, S1)
    assert has(result, "phantom ack, quorum_acks 3 > 2 live node(s)")


def test_quorum_write_non_201_and_pending_writes_fail() -> None:
    h = s1_history()
    h.write("s1-x", status=503, body=SHORT, retry_after="2")
    h.write("s1-y", complete=False)
    result = judged("quorum_write", h.ops, S1)
    assert has(result, "s1-x: expected 201, got 503") and has(result, "s1-y: never completed")
    assert result["figures"]["quorum_writes_acknowledged"]["numerator"] == 3


def test_zero_writes_is_never_a_pass() -> None:
    h = H()
    for node in NODES:
        h.read(node, [])
    result = judged("quorum_write", h.ops, S1)
    assert not result["valid"]
    assert has(result, "no write was attempted") and has(result, "cannot pass")
    assert result["figures"]["writes_present_on_every_node"]["denominator"] == 0


def test_unexpected_memories_fail() -> None:
    h = s1_history()
    h.read("node-b", ["s1-0", "s1-1", "s1-2"], extra=["stranger"])
    result = judged("quorum_write", h.ops, S1)
    assert has(result, "unexpected") and result["unexpected"] == [
        {"id": "id-stranger", "title": "stranger", "node": "node-b"}]


def test_get_by_id_after_the_list_decides() -> None:
    h = s1_history(lose="node-c")
    h.get("node-c", "s1-1", mem_id("s1-1"))  # the list missed it; the id read finds it: present
    assert judged("quorum_write", h.ops, S1)["valid"]
    h.get("node-b", None, mem_id("s1-2"))  # 404 after a list that had it: the latest observation says lost
    result = judged("quorum_write", h.ops, S1)
    assert result["lost"] == [{"id": "id-s1-2", "title": "s1-2", "node": "node-b"}]


def test_private_writes_read_by_another_agent_are_explained() -> None:
    h = H()
    h.write("p-0", scope="private")
    for node in NODES:
        rec = h.read(node, [] if node != "node-a" else ["p-0"])
        rec["request"] = {"agent_id": "someone-else"}
    result = judged("quorum_write", h.ops, S1)
    assert has(result, "scope private and reads used another X-Agent-Id")


def test_legacy_histories_are_still_judged() -> None:
    """Stored evidence of earlier module versions: float seconds, ``error``/``retry_after``, reads by title."""
    ops = [
        {"index": 0, "time": 1000.0, "process": 0, "type": "invoke", "f": "write", "node": "node-a",
         "value": {"title": "t", "digest": "d1", "namespace": "ns"}},
        {"index": 1, "time": 1000.1, "process": 0, "type": "ok", "f": "write", "node": "node-a", "status": 201,
         "error": None, "retry_after": None, "value": {"title": "t", "digest": "d1", "namespace": "ns"},
         "response": {"id": "i1", "quorum_acks": 2}},
    ] + [{"index": 2 + i, "time": 1000.5 + i, "process": "reader", "type": "ok", "f": "read", "node": n,
          "value": {"found": {"t": ["i1", "d1"]}}} for i, n in enumerate(NODES)]
    result = judged("quorum_write", ops, S1)
    assert result["valid"], result["reasons"]
    assert result["time_to_converge_ms"] == pytest.approx(2400.0)


# ---------------------------------------------------------------- S2 quorum_shortfall


def s2_history(short_status: int = 503, body: dict[str, Any] | None = None, retry_after: str | None = "2",
               reach_restarted: bool = True, kept: bool = True, one_down_on_b: bool = True, one_acks: int = 2,
               steps: bool = True, stop_observed: Any = "auto") -> H:
    h = H()
    h.event("stop", ["node-b", "node-c"], observed=stop_observed)
    h.write("s2-short-0", status=short_status, body=body if body is not None else dict(SHORT),
            step="shortfall" if steps else None, retry_after=retry_after)
    h.read("node-a", ["s2-short-0"] if kept else [], step="shortfall")
    h.event("restart", ["node-b"])
    h.write("s2-one-0", acks=one_acks, step="one_down" if steps else None)
    h.read("node-a", ["s2-one-0", "s2-short-0"], step="one_down")
    h.read("node-b", ["s2-one-0"] if one_down_on_b else [], step="one_down")
    h.event("restart", ["node-c"])
    caught_up = {"node-a": ["s2-short-0", "s2-one-0"], "node-b": ["s2-one-0"], "node-c": []}
    for node in NODES:
        h.read(node, ["s2-short-0", "s2-one-0"] if reach_restarted else caught_up[node], step="after_restart")
    return h


def test_quorum_shortfall_passes() -> None:
    result = judged("quorum_shortfall", s2_history().ops, S2)
    assert result["valid"], result["reasons"]
    figs = result["figures"]
    assert figs["shortfall_answered_exactly"]["numerator"] == 1
    assert figs["shortfall_kept_on_leader"]["numerator"] == 1
    assert figs["one_down_on_live_nodes"] == {"numerator": 2, "denominator": 2, "value": 1.0, "threshold": 1.0,
                                              "comparison": ">="}
    assert figs["after_restart_writes_present_on_every_node"]["numerator"] == 6
    assert result["stopped"] == ["node-b", "node-c"] and result["lost"] == []


def test_quorum_shortfall_classifies_writes_by_live_nodes_without_steps() -> None:
    result = judged("quorum_shortfall", s2_history(steps=False).ops, S2)
    assert result["valid"], result["reasons"]
    assert result["shortfall_writes"] == ["s2-short-0"] and result["one_down_writes"] == ["s2-one-0"]


def test_201_when_quorum_not_met() -> None:
    result = judged("quorum_shortfall", s2_history(short_status=201, body={"id": "x", "quorum_acks": 2}).ops, S2)
    assert not result["valid"] and has(result, "acknowledged without quorum")


@pytest.mark.parametrize(("body", "cause"), [
    ({**SHORT, "extra": 1}, "body keys"),
    ({k: v for k, v in SHORT.items() if k != "reason"}, "body keys"),
    ({**SHORT, "reason": "because"}, "body reason 'because'"),
    ({**SHORT, "error": "quorum not met"}, "body error"),
    ({**SHORT, "needed": 3}, "body needed 3, expected W=2"),
    ({**SHORT, "got": 2}, "body got 2, expected an integer < W=2"),
    ({**SHORT, "got": "1"}, "body got '1'"),
])
def test_wrong_503_body(body: dict[str, Any], cause: str) -> None:
    result = judged("quorum_shortfall", s2_history(body=body).ops, S2)
    assert not result["valid"] and has(result, cause), result["reasons"]


ACCEPTED = {"quorum_met": False, "acks": 1, "needed": 2, "reason": "timeout", "durability": "local"}
S2_0100 = {**S2, "shortfall": SHORTFALL_202}


def test_a_0_10_shortfall_is_202_with_the_replication_state_and_kept() -> None:
    result = judged("quorum_shortfall", s2_history(short_status=202, body=dict(ACCEPTED), retry_after=None).ops,
                    S2_0100)
    assert result["valid"], result["reasons"]
    assert result["figures"]["shortfall_kept_on_leader"]["numerator"] == 1


@pytest.mark.parametrize(("status", "body", "params", "cause"), [
    (503, SHORT, S2_0100, "expected 202 quorum_met=false durability=local, got 503"),  # the other release's
    (202, ACCEPTED, S2, "expected 503 quorum_not_met, got 202"),
    (202, {**ACCEPTED, "quorum_met": True}, S2_0100, "body quorum_met True, expected False"),
    (202, {**ACCEPTED, "quorum_met": 0}, S2_0100, "body quorum_met 0, expected False"),
    (202, {**ACCEPTED, "durability": "quorum"}, S2_0100, "body durability 'quorum'"),
    (202, {**ACCEPTED, "acks": 2}, S2_0100, "body acks 2, expected an integer < W=2"),
    (202, {k: v for k, v in ACCEPTED.items() if k != "needed"}, S2_0100, "body keys"),
])
def test_a_shortfall_in_another_shape_than_the_release_declares_is_red(
        status: int, body: dict[str, Any], params: dict[str, Any], cause: str) -> None:
    result = judged("quorum_shortfall", s2_history(short_status=status, body=dict(body), retry_after=None).ops, params)
    assert not result["valid"] and has(result, cause), result["reasons"]


def test_an_unknown_release_may_answer_either_shape_but_exactly() -> None:
    unknown = {**S2, "shortfall": None}
    assert judged("quorum_shortfall", s2_history().ops, unknown)["valid"]
    assert judged("quorum_shortfall", s2_history(short_status=202, body=dict(ACCEPTED), retry_after=None).ops,
                  unknown)["valid"]
    assert not judged("quorum_shortfall", s2_history(short_status=202, body={**ACCEPTED, "got": 1},
                                                     retry_after=None).ops, unknown)["valid"]


@pytest.mark.parametrize("retry_after", [None, "5", "2.0"])
def test_missing_or_wrong_retry_after(retry_after: str | None) -> None:
    result = judged("quorum_shortfall", s2_history(retry_after=retry_after).ops, S2)
    assert not result["valid"] and has(result, "Retry-After")


def test_phantom_ack_in_the_503_body_and_with_one_peer_down() -> None:
    params = {**S2, "w": 3}
    h = H()
    h.event("stop", ["node-b", "node-c"])
    h.write("s", status=503, step="shortfall", retry_after="2",
            body={"error": "quorum_not_met", "got": 2, "needed": 3, "reason": "timeout"})
    result = judged("quorum_shortfall", h.ops, params)
    assert has(result, "body got 2 > 1 live node(s) (phantom ack)")
    one = judged("quorum_shortfall", s2_history(one_acks=3).ops, S2)
    assert has(one, "phantom ack, quorum_acks 3 > 2 live node(s)")


def test_503_write_not_kept_on_the_leader() -> None:
    result = judged("quorum_shortfall", s2_history(kept=False).ops, S2)
    assert has(result, "not kept on the leader node-a")


def test_leader_never_read_during_the_shortfall() -> None:
    h = s2_history()
    ops = [op for op in h.ops if not (op.get("step") == "shortfall" and op["f"] == "read")]
    for i, op in enumerate(ops):
        op["index"] = i
    result = judged("quorum_shortfall", ops, S2)
    assert has(result, "was not read after the shortfall writes")


def test_one_down_write_missing_on_the_live_peer() -> None:
    result = judged("quorum_shortfall", s2_history(one_down_on_b=False).ops, S2)
    assert has(result, "missing on a live node: s2-one-0@node-b")


def test_no_catch_up_after_restart() -> None:
    result = judged("quorum_shortfall", s2_history(reach_restarted=False).ops, S2)
    assert not result["valid"] and has(result, "missing after restart")
    assert {(x["title"], x["node"]) for x in result["lost"]} == {
        ("s2-short-0", "node-b"), ("s2-one-0", "node-c"), ("s2-short-0", "node-c")}
    assert result["figures"]["after_restart_lost_writes"]["numerator"] == 3


def test_shortfall_needs_the_fault_and_the_restart() -> None:
    h = s2_history()
    no_nemesis = [op for op in h.ops if op["process"] != "nemesis"]
    result = judged("quorum_shortfall", no_nemesis, {**S2, "live_during_one_down": ["node-a", "node-b"]})
    assert has(result, "no peer was ever stopped") and has(result, "not restarted")


def test_a_stop_not_observed_to_take_effect_is_red() -> None:
    """S2 records the stop after observing it: each stopped peer refuses a connection. A stop declared without that
    observation, or one a peer still answered, is not a stop."""
    none = judged("quorum_shortfall", s2_history(stop_observed=None).ops, S2)
    assert has(none, "stop op 0 of ['node-b', 'node-c']: the fault was declared but not observed to take effect "
                     "(no observation recorded)")
    answered = {"refused": False, "nodes": ["node-b"], "probes": [{"node": "node-c", "outcome": "connected"}]}
    result = judged("quorum_shortfall", s2_history(stop_observed=answered).ops, S2)
    assert has(result, "not observed to take effect (refused: False)")
    partial = {"refused": True, "nodes": ["node-b"]}
    assert has(judged("quorum_shortfall", s2_history(stop_observed=partial).ops, S2), "(not refused on ['node-c'])")
    # only a checker told not to require it (phase 2, until its play observes its stops) accepts a bare stop
    assert judged("quorum_shortfall", s2_history(stop_observed=None).ops, {**S2, "observed_faults": "false"})["valid"]


def test_observed_nemesis_ops_and_required_events() -> None:
    from ansible_collections.aimemory.swarm.plugins.module_utils._checker.ops import (
        NOT_OBSERVED,
        observed_nemesis_ops,
        require_observed_events,
    )

    h = H()
    h.event("partition", {"nodes": ["node-c"]}, node="node-c")
    h.event("heal", node="node-c")
    h.event("kill", ["node-a"], observed={"gone": False, "pid": 7, "note": "still running"})
    h.event("pause", ["node-b"], observed=None)
    h.event("stop", ["node-b"])
    observed, problems = observed_nemesis_ops(h.ops)
    assert [op["f"] for op in observed] == ["partition", "stop"]
    assert problems == [f"kill op 2 of ['node-a']: {NOT_OBSERVED} (gone: False; still running)",
                        f"pause op 3 of ['node-b']: {NOT_OBSERVED} (no observation recorded)"]
    assert [op["f"] for op in observed_nemesis_ops(h.ops, "heal", "partition")[0]] == ["partition", "heal"]
    assert require_observed_events(h.ops, ["partition", "heal"]) == []
    assert require_observed_events(h.ops, ["kill", "restart"]) == [
        problems[0], "the history holds no 'restart' nemesis op: the fault was never injected"]
    blocked_nothing = H()
    blocked_nothing.event("partition", {"nodes": ["node-c"]}, observed={
        "blocked": False, "note": "an address did not answer before the cut: the probe proves nothing"})
    assert require_observed_events(blocked_nothing.ops, ["partition"]) == [
        f"partition op 0 of ['node-c']: {NOT_OBSERVED} (blocked: False; an address did not answer before the cut: "
        "the probe proves nothing)"]


def test_one_down_applies_may_arrive_as_text() -> None:
    h = H()
    h.event("stop", ["node-b", "node-c"])
    h.write("s", status=503, body=dict(SHORT), step="shortfall", retry_after="2")
    h.read("node-a", ["s"])
    h.event("restart", ["node-b", "node-c"])
    for node in NODES:
        h.read(node, ["s"])
    assert judged("quorum_shortfall", h.ops, {**S2, "one_down_applies": "False"})["valid"]
    assert has(judged("quorum_shortfall", h.ops, {**S2, "one_down_applies": "True"}), "with one peer down")


# ---------------------------------------------------------------- S3 mtls_allowlist


def s3_history(unlisted: int | None = None, unlisted_error: str = "tls_refused", control: int | None = 200,
               nodes: list[str | None] | None = None, skip: str | None = None) -> H:
    h = H()
    for node in nodes if nodes is not None else NODES:
        for method, path in PATHS:
            for ident in ("rogue_ca", "own_ca_unlisted", "no_cert"):
                if skip == f"{ident}@{node}":
                    continue
                if ident == "own_ca_unlisted":
                    h.probe(node, ident, "refused", method, path, unlisted,
                            None if unlisted is not None else unlisted_error)
                else:
                    h.probe(node, ident, "refused", method, path, None, "tls_refused")
            status = control if method == "GET" else (201 if control == 200 else control)
            h.probe(node, "control", "allowed", method, path, status, None if status else "tls_refused")
    return h


def test_mtls_allowlist_passes() -> None:
    result = judged("mtls_allowlist", s3_history().ops, S3)
    assert result["valid"], result["reasons"]
    assert result["figures"]["strangers_refused_at_handshake"]["denominator"] == 18
    assert result["figures"]["control_served"]["numerator"] == 6


def test_unlisted_certificate_accepted() -> None:
    result = judged("mtls_allowlist", s3_history(unlisted=200).ops, S3)
    assert not result["valid"] and has(result, "own_ca_unlisted GET /api/v1/health on node-a: served with HTTP 200")
    assert result["figures"]["strangers_refused_at_handshake"]["numerator"] == 12


def test_http_refusal_is_not_a_tls_refusal() -> None:
    result = judged("mtls_allowlist", s3_history(unlisted=401).ops, S3)
    assert has(result, "accepted by the TLS layer") and has(result, "served with HTTP 401")


def test_timeout_proves_nothing() -> None:
    result = judged("mtls_allowlist", s3_history(unlisted_error="timeout").ops, S3)
    assert has(result, "timeout, not a TLS refusal")


def test_control_must_get_200_and_201() -> None:
    refused = judged("mtls_allowlist", s3_history(control=None).ops, S3)
    assert has(refused, "allowlisted identity was not served")
    wrong = judged("mtls_allowlist", s3_history(control=403).ops, S3)
    assert has(wrong, "expected 200, got 403") and has(wrong, "expected 201, got 403")


def test_every_node_identity_and_path_must_be_probed() -> None:
    result = judged("mtls_allowlist", s3_history(skip="no_cert@node-b").ops, S3)
    assert has(result, "never probed") and "no_cert GET /api/v1/health on node-b" in result["never_probed"]
    one_node = judged("mtls_allowlist", s3_history(nodes=["node-a"]).ops, S3)
    assert has(one_node, "16 identity/path/node combination(s) never probed")
    assert "control POST /api/v1/memories on node-c" in one_node["never_probed"]


def test_probes_without_node_names_are_judged_by_count() -> None:
    assert judged("mtls_allowlist", s3_history(nodes=[None, None, None]).ops, S3)["valid"]
    too_few = judged("mtls_allowlist", s3_history(nodes=[None, None]).ops, S3)
    assert has(too_few, "never probed")


S3_TABLE = {**S3, "route_table": "ai-memory-0.7.0"}


def s3_walk(served: dict[tuple[str, str], int] | None = None, control: dict[str, int | None] | None = None,
            skip: str | None = None, nodes: list[str] | None = None, read: bool = True,
            landed: str | None = None) -> H:
    """The route-table walk as mtls_probe records it: every node x route x identity, then the control's read-back of
    the probe's namespace on the node. ``served`` maps (identity, route key) to the status a stranger got there;
    ``control`` the control's status per route key (default 404 on every route but health 200 and the create 201:
    any answer is an answer); ``landed``: the stranger whose create the read-back finds on node-b."""
    from ansible_collections.aimemory.swarm.plugins.module_utils._checker.routes import requests

    h = H()
    for node in nodes or NODES:
        for req in requests("s3-ns"):
            key = f"{req['method']} {req['route']}"
            for ident in ("rogue_ca", "own_ca_unlisted", "no_cert", "control"):
                if skip == key:
                    continue
                value = {"identity": ident, "expect": "allowed" if ident == "control" else "refused",
                         "method": req["method"], "path": req["path"], "route": req["route"]}
                if ident == "control":
                    status = (control or {}).get(key, req["control_status"] or 404)
                else:
                    status = (served or {}).get((ident, key))
                error = None if status is not None else "tls_refused"
                request = {"method": req["method"], "path": req["path"], "identity": ident}
                if req["memory"]:
                    request["title"] = f"probe-{ident}-{node}"
                h._add(process="prober", type="invoke", f="probe", node=node, value=value, request=request)
                h._add(process="prober", type="ok" if status is not None else "fail", f="probe", node=node,
                       value=value, status=status, error_class=error)
        if read:
            titles = [f"probe-control-{node}"] + ([f"probe-{landed}-{node}"] if landed and node == "node-b" else [])
            value = {"identity": "control", "namespace": "s3-ns"}
            h._add(process="prober", type="invoke", f="probe_read", node=node, value=value)
            h._add(process="prober", type="ok", f="probe_read", node=node, value={**value, "titles": titles},
                   status=200)
    return h


def test_the_whole_route_table_walked_passes() -> None:
    from ansible_collections.aimemory.swarm.plugins.module_utils._checker.routes import routes

    result = judged("mtls_allowlist", s3_walk().ops, S3_TABLE)
    assert result["valid"], result["reasons"]
    n_routes = len(routes())
    assert result["routes"] == n_routes and n_routes > 90
    assert result["figures"]["strangers_refused_at_handshake"]["denominator"] == 3 * 3 * n_routes
    assert result["figures"]["control_served"]["numerator"] == 3 * n_routes
    assert result["control_answers"]["GET /api/v1/sync/since"] == {"404": 3}


def test_a_route_left_open_to_a_stranger_is_named_with_identity_method_and_route() -> None:
    """The allowlist enforced per route, sync left open to any certificate of our CA: only the walk sees it."""
    open_sync = {("own_ca_unlisted", "GET /api/v1/sync/since"): 200, ("own_ca_unlisted", "POST /api/v1/sync/push"): 400}
    result = judged("mtls_allowlist", s3_walk(served=open_sync).ops, S3_TABLE)
    assert not result["valid"] and has(result, "6 stranger probe(s) accepted by the TLS layer")
    assert "own_ca_unlisted GET /api/v1/sync/since on node-a: served with HTTP 200" in result["accepted"]
    assert "own_ca_unlisted POST /api/v1/sync/push on node-c: served with HTTP 400" in result["accepted"]
    # the two paths S3 probed before the walk would not have seen it
    assert judged("mtls_allowlist", s3_walk(served=open_sync).ops, S3)["valid"]
    unknown = judged("mtls_allowlist", s3_walk(served={("no_cert", "GET /api/v1/s3-no-such-route"): 404}).ops,
                     S3_TABLE)
    assert has(unknown, "no_cert GET /api/v1/s3-no-such-route on node-a: served with HTTP 404")


def test_the_control_must_get_an_answer_on_every_route_and_its_status_where_one_is_promised() -> None:
    none = judged("mtls_allowlist", s3_walk(control={"DELETE /api/v1/memories/{id}": None}).ops, S3_TABLE)
    assert has(none, "control DELETE /api/v1/memories/{id} on node-a: expected an HTTP answer, got tls_refused")
    health = judged("mtls_allowlist", s3_walk(control={"GET /api/v1/health": 403}).ops, S3_TABLE)
    assert has(health, "control GET /api/v1/health on node-b: expected 200, got 403")
    create = judged("mtls_allowlist", s3_walk(control={"POST /api/v1/memories": 200}).ops, S3_TABLE)
    assert has(create, "control POST /api/v1/memories on node-c: expected 201, got 200")


def test_a_route_never_walked_is_red() -> None:
    result = judged("mtls_allowlist", s3_walk(skip="POST /api/v1/sync/push").ops, S3_TABLE)
    assert has(result, "12 identity/path/node combination(s) never probed")
    assert "rogue_ca POST /api/v1/sync/push on node-b" in result["never_probed"]
    assert has(judged("mtls_allowlist", s3_walk(nodes=["node-a", "node-b"]).ops, S3_TABLE), "never probed")
    assert has(check("mtls_allowlist", s3_walk().ops, {**S3, "route_table": "ai-memory-9"}), "unknown route table")


def test_a_stranger_create_that_landed_without_an_answer_is_red() -> None:
    """A server that acts on a stranger's request and closes without a status line looks refused from the client;
    the read-back of the probe's namespace finds what it did."""
    result = judged("mtls_allowlist", s3_walk(landed="own_ca_unlisted").ops, S3_TABLE)
    assert has(result, "1 stranger create(s) landed although the stranger got no HTTP answer: own_ca_unlisted's "
                       "create probe-own_ca_unlisted-node-b on node-b")
    assert result["stranger_creates_found"] == ["own_ca_unlisted's create probe-own_ca_unlisted-node-b on node-b"]
    unread = judged("mtls_allowlist", s3_walk(read=False).ops, S3_TABLE)
    assert has(unread, "the probe's namespace was never read back on node-a")
    assert unread["figures"]["namespace_read_back"]["numerator"] == 0
    h = s3_walk()
    blind = next(op for op in h.ops if op["f"] == "probe_read" and op["type"] == "ok" and op["node"] == "node-c")
    blind["value"]["titles"] = []
    blind_result = judged("mtls_allowlist", h.ops, S3_TABLE)
    assert has(blind_result, "the read-back on node-c does not hold the control's create ['probe-control-node-c']: "
                             "it proves nothing")
    # histories from before the read-back are not asked for one
    assert judged("mtls_allowlist", s3_history().ops, S3)["valid"]


def test_a_probe_whose_type_contradicts_its_outcome_is_red() -> None:
    """A control probe flipped to failed (it stayed green when nothing read the op type)."""
    h = s3_walk()
    flipped = next(op for op in h.ops if op["type"] == "ok" and op["value"]["identity"] == "control")
    flipped["type"] = "fail"
    result = judged("mtls_allowlist", h.ops, S3_TABLE)
    assert has(result, f"op {flipped['index']}: fail but its outcome is ok ({flipped['status']})")
    legacy = s3_history()
    next(op for op in legacy.ops if op["type"] == "fail")["type"] = "info"
    assert has(judged("mtls_allowlist", legacy.ops, S3), "contradicts their outcome")


# ---------------------------------------------------------------- S4 convergence


def s4_history(c_sees: list[str] | None = None, ttc_reads: int = 2) -> H:
    """Partition node-c, two writes through the majority (one 201, one 503), heal, reads until converged."""
    h = H()
    h.event("partition", {"isolated": "node-c", "from": ["node-a", "node-b"]}, node="node-c")
    h.write("s4-0", node="node-a")
    h.write("s4-1", node="node-b", status=503, body=dict(SHORT), retry_after="2")
    h.event("heal", node="node-c")
    for _read in range(ttc_reads - 1):
        h.read("node-c", [])
    for node in NODES:
        h.read(node, c_sees if c_sees is not None and node == "node-c" else ["s4-0"])
    return h


def test_convergence_passes_and_measures_from_the_heal() -> None:
    h = s4_history()
    result = judged("convergence", h.ops, S4)
    assert result["valid"], result["reasons"]
    # heal at index 5; the read of node-c that completed the set is index 9: 4 ops of 100 ms
    assert result["time_to_converge_ms"] == pytest.approx(400.0)
    assert result["anchor"] == {"f": "heal", "index": 5, "process": "nemesis"}
    assert result["figures"]["writes_acknowledged_during_fault"]["numerator"] == 1
    assert result["figures"]["time_to_converge_ms"]["numerator"] == 400
    assert result["per_node_counts"] == {"node-a": 1, "node-b": 1, "node-c": 1}
    assert judged("partition_convergence", h.ops, S4)["valid"]


def test_convergence_anchors_on_the_heal_time_the_nemesis_reported() -> None:
    h = s4_history()
    h.ops[5]["at"] = h.ops[5]["time"] - 250_000_000
    assert judged("convergence", h.ops, S4)["time_to_converge_ms"] == pytest.approx(650.0)


def test_convergence_reports_lost_writes_by_id_and_node() -> None:
    result = judged("convergence", s4_history(c_sees=[]).ops, S4)
    assert not result["valid"]
    assert result["lost"] == [{"id": "id-s4-0", "title": "s4-0", "node": "node-c"}]
    assert result["figures"]["lost_writes"]["numerator"] == 1 and result["time_to_converge_ms"] is None


def test_convergence_never_reached_before_the_deadline() -> None:
    h = s4_history(c_sees=[])
    for _poll in range(5):  # the poller kept reading node-c until its deadline; the write never arrived
        h.read("node-c", [])
    result = judged("convergence", h.ops, {**S4, "deadline_ms": 60000})
    assert has(result, "never converged") and result["converged"] is False
    assert result["figures"]["time_to_converge_ms"]["denominator"] == 0


def test_convergence_later_than_the_deadline() -> None:
    result = judged("convergence", s4_history(ttc_reads=20).ops, {**S4, "deadline_ms": 1000})
    assert has(result, "later than the deadline of 1000 ms")


def test_convergence_that_regresses_is_not_convergence() -> None:
    h = s4_history()
    h.read("node-b", [])
    result = judged("convergence", h.ops, S4)
    assert result["lost"] == [{"id": "id-s4-0", "title": "s4-0", "node": "node-b"}]


def test_recovered_unexpected_and_failed_writes() -> None:
    h = s4_history()
    h.write("s4-t", node="node-a", status=None, error_class="timeout")
    h.write("s4-f", node="node-a", status=400)
    for node in NODES:
        h.read(node, ["s4-0", "s4-1", "s4-t"])
    result = judged("convergence", h.ops, S4)
    assert result["valid"], result["reasons"]
    assert result["recovered"] == [{"title": "s4-1", "nodes": NODES}, {"title": "s4-t", "nodes": NODES}]
    h.read("node-a", ["s4-0", "s4-f"], extra=["ghost"])
    bad = judged("convergence", h.ops, S4)
    assert has(bad, "certainly not done are present after heal: s4-f@node-a") and has(bad, "ghost@node-a")


def test_zero_acknowledged_writes_is_invalid() -> None:
    h = H()
    h.event("partition")
    h.write("s4-0", status=503, body=dict(SHORT), retry_after="2")
    h.event("heal")
    for node in NODES:
        h.read(node, ["s4-0"])
    result = judged("convergence", h.ops, S4)
    assert not result["valid"] and has(result, "acknowledged nothing cannot pass")
    assert has(result, "no write was acknowledged between partition and heal")


def test_partition_convergence_needs_the_fault() -> None:
    h = s4_history()
    ops = [{**op, "index": i} for i, op in enumerate(op for op in h.ops if op["process"] != "nemesis")]
    result = judged("partition_convergence", ops, S4)
    assert has(result, "no 'partition' nemesis op") and has(result, "no 'heal' nemesis op")
    assert judged("convergence", ops, S4)["valid"]  # plain convergence asks for no fault


def test_a_partition_not_observed_to_take_effect_is_red() -> None:
    """S4 (issue 17, item 8): the cut must be observed (the isolated node's peers answered before the rules and not
    after them); a partition recorded without that observation, or with a connection that still got through,
    proves nothing about convergence after a fault."""
    for observed in (None, {"blocked": False, "note": "10.0.0.1:9077 still answered"}):
        h = s4_history()
        op = next(op for op in h.ops if op["f"] == "partition")
        op.pop("observed", None)
        if observed is not None:
            op["observed"] = observed
        result = judged("partition_convergence", h.ops, S4)
        assert not result["valid"] and has(result, "the fault was declared but not observed to take effect")
    assert judged("partition_convergence", s4_history().ops, S4)["valid"]


def test_kept_writes_by_title_and_diverged_ids() -> None:
    h = H()
    h.write("k", status=503, body=dict(SHORT), retry_after="2")
    h.event("restart")
    for node in NODES:
        h.read(node, ["k"], ids={"k": "same-id"})
    assert judged("convergence", h.ops, {**S4, "include_kept": True})["valid"]
    assert has(judged("convergence", h.ops, S4), "acknowledged nothing")
    h.read("node-c", ["k"], ids={"k": "other-id"})
    result = judged("convergence", h.ops, {**S4, "include_kept": "yes"})
    assert has(result, "held under another id")


def test_unchanged_reads_resolve_and_bad_references_are_reported() -> None:
    h = s4_history(c_sees=[])
    first = h.read("node-c", ["s4-0"])
    h.read_same("node-c", first["index"])
    assert judged("convergence", h.ops, S4)["valid"]
    h.read_same("node-c", 0)  # index 0 is the partition event, not a read of node-c
    assert has(judged("convergence", h.ops, S4), "not an earlier read of the same node")


def test_a_node_never_read_successfully() -> None:
    h = s4_history()
    ops = [op for op in h.ops if not (op["f"] == "read" and op["node"] == "node-b")]
    for i, op in enumerate(ops):
        op["index"] = i
    h2 = H()
    h2.ops = ops
    h2.read_fail("node-b")
    assert has(judged("convergence", h2.ops, S4), "no successful read after heal of node(s) ['node-b']")


# ---------------------------------------------------------------- registry


def test_registry_lists_the_kinds() -> None:
    assert set(KINDS) == {"quorum_write", "quorum_shortfall", "mtls_allowlist", "convergence",
                          "partition_convergence", "functional", "federation", "chaos", "postgres_backend",
                          "migration", "attestation"}


def test_unknown_kind_broken_history_and_bad_params_fail() -> None:
    assert has(check("nope", [], {}), "unknown checker kind")
    assert not check("quorum_write", "not a list", S1)["valid"]  # type: ignore[arg-type]
    assert has(check("quorum_write", [{"f": "write", "type": "ok"}], S1), "no write was attempted")
    assert has(check("quorum_write", s1_history().ops, {"w": 2}), "could not read")
    assert has(check("quorum_write", s1_history().ops, {**S1, "w": 5}), "could not read")
    assert has(check("mtls_allowlist", [], {"identities": ["control"]}), "no identity to refuse")


def test_damaged_history_is_invalid_whatever_the_checker_says() -> None:
    params = {**S1, "history_problems": ["history h.jsonl: line 9 (the last) is truncated: no newline"]}
    result = judged("quorum_write", s1_history().ops, params)
    assert not result["valid"] and result["reasons"][0].startswith("damaged history: ")


def test_times_in_rfc3339_are_read() -> None:
    h = s4_history()
    for op in h.ops:
        ns = op["time"]
        op["time"] = f"2026-11-18T{(ns - T0) // 10**9 // 3600:02d}:00:{(ns - T0) / 1e9:09.6f}Z"
    assert judged("convergence", h.ops, S4)["time_to_converge_ms"] == pytest.approx(400.0)


def test_functional_needs_every_assertion() -> None:
    from ansible_collections.aimemory.swarm.plugins.module_utils._checker.registry import PHASE1_ASSERTIONS

    from tests.unit.histories import Builder

    b = Builder()
    mcp = {"profile": "core", "tools": ["memory_recall", "memory_store"], "protocol_version": "2024-11-05",
           "round_trip": True}
    for name in PHASE1_ASSERTIONS:
        b._add(process="node-a", type="ok", f=name, node="node-a",
               value={"snapshot_count": 1, "manifest_count": 1} if name == "backup" else mcp if name == "mcp" else {})
    good = check("functional", b.ops, {"host": "node-a"})
    assert good["valid"] and good["figures"]["assertions_passed"]["numerator"] == len(PHASE1_ASSERTIONS)
    assert good["shipgate"]["snapshot_count"] == 1
    b._add(process="node-a", type="fail", f="backup", node="node-a", value={"snapshot_count": 0})
    bad = check("functional", b.ops, {"host": "node-a"})
    assert not bad["valid"] and bad["reasons"][0].startswith("backup: failed")
    missing = check("functional", [op for op in b.ops if op["f"] != "mcp"], {"host": "node-a"})
    assert "mcp: never ran" in missing["reasons"]


def test_functional_judges_mcp_on_the_tools_of_the_profile_asked_for() -> None:
    from ansible_collections.aimemory.swarm.plugins.module_utils._checker.registry import PHASE1_ASSERTIONS

    from tests.unit.histories import Builder

    core = ["memory_capabilities", "memory_get", "memory_list", "memory_load_family", "memory_recall",
            "memory_search", "memory_smart_load", "memory_store"]

    def history(tools: list[str], mcp_type: str = "ok", command: dict | None = None) -> list[dict]:
        b = Builder()
        for name in PHASE1_ASSERTIONS:
            value: dict = {"profile": "core", "tools": tools, "protocol_version": "2024-11-05",
                           "round_trip": True} if name == "mcp" else {}
            if name == "cli_recall" and command:
                value = {"command": command}
            b._add(process="node-a", type=mcp_type if name in ("mcp",) or (command and name == "cli_recall") else "ok",
                   f=name, node="node-a", value=value)
        return b.ops

    params = {"host": "node-a", "mcp_profile": "core", "mcp_tools": core}
    assert check("functional", history(core), params)["valid"]
    # a module that called "ok" a tools/list lacking memory_search, or listing memory_delete, is red here
    lacking = check("functional", history([t for t in core if t != "memory_search"]), params)
    assert not lacking["valid"] and "missing ['memory_search']" in lacking["reasons"][0]
    extra = check("functional", history([*core, "memory_delete"]), params)
    assert not extra["valid"] and "unexpected ['memory_delete']" in extra["reasons"][0]
    # unpinned: only the round trip's tools are needed
    assert check("functional", history(["memory_recall", "memory_store"]), {"host": "node-a"})["valid"]
    # a command killed at its deadline is named with its command line
    timed_out = {"command": "ai-memory --json recall x", "timed_out": True, "timeout_s": 60}
    hung = check("functional", history(core, "fail", timed_out), params)
    assert "cli_recall: `ai-memory --json recall x` did not return within 60 s (killed)" in hung["reasons"]
