"""The check modules run in process against a fake 3-node cluster on 127.0.0.1 over mTLS: each scenario's
workload, nemesis events and reads make a history, history_check judges it, and the controller's recomputation
and figure rules agree. Every fault switch of the fake turns its scenario red."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.registry import check
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.routes import routes
from ansible_collections.aimemory.swarm.plugins.module_utils._history import read_history
from ansible_collections.aimemory.swarm.plugins.modules import (
    history_check,
    history_event,
    memory_convergence,
    memory_workload,
    mtls_probe,
    network_partition,
    port_probe,
)

from tests.unit.plugins.module_utils.fakes import API_KEY, PKI, FakeCluster, TinyServer
from tests.unit.plugins.module_utils.test_partition import FakeNft
from tests.unit.plugins.modules.conftest import Runner, endpoint_args

ROOT = Path(__file__).resolve().parents[4]
NODES = ["node-a", "node-b", "node-c"]


def controller_agrees(ev: dict[str, Any]) -> None:
    """What verify does with stored evidence: schema, recomputed verdict, figure rules."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "verify" / "schemas" / "check.schema.json").read_text())
    jsonschema.validate(json.loads(json.dumps(ev)), schema)
    assert check(ev["kind"], ev["history"], ev["params"])["valid"] == ev["pass"]
    if ev["pass"]:
        from verify.summary import figure_problems

        assert [p for name, fig in ev["figures"].items() for p in figure_problems(name, fig)] == []


# ---------------------------------------------------------------- memory_workload


def test_memory_workload_writes_and_records(run_module: Runner, pki: PKI, cluster: FakeCluster,
                                            tmp_path: Path) -> None:
    hist = str(tmp_path / "c1" / "s1.jsonl")
    args = {"leaders": cluster.endpoints(["node-a", "node-b"]), "count": 8, "concurrency": 2, "namespace": "ns",
            "title_prefix": "s1", "history": hist, **endpoint_args(pki)}
    planned = run_module(memory_workload, args, check_mode=True)
    assert planned["changed"] and planned["attempted"] == 0 and planned["titles"] == ["s1-00000", "s1-00007"]
    assert not Path(hist).exists()
    result = run_module(memory_workload, args)
    assert result["changed"] and (result["attempted"], result["ok"], result["fail"], result["info"]) == (8, 8, 0, 0)
    assert result["statuses"] == {"201": 8} and len(result["acked_ids"]) == 8 and result["scope"] == "collective"
    again = run_module(memory_workload, {**args, "count": 2})
    assert again["titles"] == ["s1-00008", "s1-00009"]  # numbering continues: no 409 on a re-run
    ops, problems = read_history(hist)
    assert problems == [] and len(ops) == 20
    assert {op["process"] for op in ops[16:]} == {2, 3}  # new processes, never reusing a finished one's id
    text = Path(hist).read_text()
    assert API_KEY not in text and API_KEY not in json.dumps(result)


def test_memory_workload_refuses_bad_input_before_recording(run_module: Runner, pki: PKI, cluster: FakeCluster,
                                                            tmp_path: Path) -> None:
    hist = str(tmp_path / "h.jsonl")
    base = {"namespace": "ns", "history": hist, **endpoint_args(pki)}
    assert run_module(memory_workload, {**base, "leaders": [{"name": "x"}]})["failed"]
    bad_cert = {**base, "leaders": cluster.endpoints(["node-a"]), "client_cert": str(tmp_path / "none.pem")}
    assert "cannot build the client" in run_module(memory_workload, bad_cert)["msg"]
    assert not Path(hist).exists()


# ---------------------------------------------------------------- S1 + S4: workload, nemesis, convergence


def s1(run_module: Runner, pki: PKI, cluster: FakeCluster, hist: str, **conv: Any) -> dict[str, Any]:
    args = endpoint_args(pki)
    run_module(memory_workload, {"leaders": cluster.endpoints(["node-a"]), "count": 5, "namespace": "s1",
                                 "history": hist, **args})
    return run_module(memory_convergence, {"nodes": cluster.endpoints(), "namespace": "s1", "history": hist,
                                           **args, **conv})


def test_s1_quorum_write_green(run_module: Runner, pki: PKI, cluster: FakeCluster, tmp_path: Path) -> None:
    hist = str(tmp_path / "s1.jsonl")
    conv = s1(run_module, pki, cluster, hist, deadline=10)
    assert conv["converged"] and conv["required"] == 5 and conv["per_node_present"] == {n: 5 for n in NODES}
    assert conv["missing"] == [] and conv["time_to_converge_ms"] is not None and conv["anchor"] is None
    gets = [op for op in read_history(hist)[0] if op["f"] == "get"]
    assert len(gets) == 15 and all(op["value"]["found"] for op in gets)  # every acked id read by id everywhere
    ev = run_module(history_check, {"history": hist, "check": "s1_quorum_write", "kind": "quorum_write",
                                    "params": {"w": 2, "n": 3, "nodes": NODES}})
    assert ev["pass"] and ev["reasons"] == [] and ev["evidence"]["pass"] and not ev["changed"]
    assert ev["figures"]["writes_present_on_every_node"]["numerator"] == 15
    assert ev["details"]["visibility"]["write_scopes"] == ["collective"]
    assert ev["started_at"].endswith("Z") and ev["ended_at"] >= ev["started_at"]
    assert set(ev["evidence"]) == {"check", "kind", "params", "pass", "reasons", "figures", "started_at",
                                   "ended_at", "history", "details"}
    controller_agrees(ev["evidence"])


def test_once_converged_a_bounded_sample_is_read_by_id_the_same_ids_on_every_node(
        run_module: Runner, pki: PKI, cluster: FakeCluster, tmp_path: Path) -> None:
    hist = str(tmp_path / "s1.jsonl")
    conv = s1(run_module, pki, cluster, hist, deadline=10, confirm_sample=2)
    assert conv["converged"] and conv["required"] == 5
    gets = [op for op in read_history(hist)[0] if op["f"] == "get"]
    ids = {n: sorted(op["value"]["id"] for op in gets if op["node"] == n) for n in NODES}
    assert all(len(v) == 2 for v in ids.values()) and len({tuple(v) for v in ids.values()}) == 1, ids
    # chosen by the hash of the id: the same sample whoever asks, and all ids when the sample is 0
    from ansible_collections.aimemory.swarm.plugins.modules.memory_convergence import confirm_sample

    writes = [type("W", (), {"id": f"id-{i}"})() for i in range(10)]
    assert [w.id for w in confirm_sample(writes, 3)] == [w.id for w in confirm_sample(list(reversed(writes)), 3)]
    assert len(confirm_sample(writes, 0)) == 10 and len(confirm_sample(writes, 3)) == 3


@pytest.mark.parametrize(("fault", "cause"), [("drop_fanout", "missing"), ("phantom_ack", "phantom ack")])
def test_s1_red_on_faults(run_module: Runner, pki: PKI, make_cluster: Any, tmp_path: Path, fault: str,
                          cause: str) -> None:
    cluster = make_cluster(faults={fault})
    hist = str(tmp_path / "s1.jsonl")
    conv = s1(run_module, pki, cluster, hist, deadline=1.0)
    if fault == "drop_fanout":
        assert not conv["converged"] and {m["node"] for m in conv["missing"]} == {"node-c"}
        assert conv["polls"] > 1 and conv["seconds"] >= 1.0
    ev = run_module(history_check, {"history": hist, "check": "s1", "kind": "quorum_write",
                                    "params": {"w": 2, "n": 3, "nodes": NODES}})
    assert not ev["pass"] and any(cause in r for r in ev["reasons"]), ev["reasons"]
    controller_agrees(ev["evidence"])


def test_s4_partition_convergence(run_module: Runner, pki: PKI, make_cluster: Any, tmp_path: Path) -> None:
    cluster = make_cluster(catchup_delay=0.6)
    hist = str(tmp_path / "s4.jsonl")
    args = endpoint_args(pki)
    cluster.partition("node-c")
    # the fake cluster cuts node-c inside its servers, not in the network: the observation network_partition
    # takes on a host (tests/unit/plugins/module_utils/test_partition.py) is given as it would report it
    run_module(history_event, {"history": hist, "f": "partition", "node": "node-c",
                               "value": {"isolated": "node-c", "from": ["node-a", "node-b"]},
                               "observed": {"blocked": True, "nodes": ["node-c"]}})
    wl = run_module(memory_workload, {"leaders": cluster.endpoints(["node-a", "node-b"]), "count": 30,
                                      "concurrency": 3, "namespace": "s4", "title_prefix": "s4",
                                      "step": "partitioned", "history": hist, **args})
    assert wl["ok"] == 30
    cluster.heal()
    healed = run_module(history_event, {"history": hist, "f": "heal", "node": "node-c"})
    conv = run_module(memory_convergence, {"nodes": cluster.endpoints(), "namespace": "s4", "history": hist,
                                           "write_steps": ["partitioned"], "step": "after_heal", "deadline": 10,
                                           **args})
    assert conv["converged"] and conv["anchor"] == {"f": "heal", "index": healed["op"]["index"]}
    assert conv["time_to_converge_ms"] >= 500 and conv["polls"] >= 2  # polled through the catch-up delay
    assert conv["per_node_counts"] == {n: 30 for n in NODES}
    reads = [op for op in read_history(hist)[0] if op["f"] == "read"]
    assert any("unchanged_since" in op["value"] for op in reads)  # unchanged polls are compact
    for kind in ("convergence", "partition_convergence"):
        ev = run_module(history_check, {"history": hist, "check": "s4", "kind": kind, "params": {"nodes": NODES}})
        assert ev["pass"], ev["reasons"]
        assert ev["details"]["time_to_converge_ms"] == pytest.approx(conv["time_to_converge_ms"], abs=1)
        assert ev["figures"]["writes_acknowledged_during_fault"]["numerator"] == 30
        controller_agrees(ev["evidence"])


def test_s4_no_catchup_never_converges(run_module: Runner, pki: PKI, make_cluster: Any, tmp_path: Path) -> None:
    cluster = make_cluster(faults={"no_catchup"})
    hist = str(tmp_path / "s4.jsonl")
    args = endpoint_args(pki)
    cluster.partition("node-c")
    run_module(history_event, {"history": hist, "f": "partition", "node": "node-c"})
    run_module(memory_workload, {"leaders": cluster.endpoints(["node-a"]), "count": 3, "namespace": "s4",
                                 "history": hist, **args})
    cluster.heal()
    run_module(history_event, {"history": hist, "f": "heal", "node": "node-c"})
    conv = run_module(memory_convergence, {"nodes": cluster.endpoints(), "namespace": "s4", "history": hist,
                                           "deadline": 0.8, **args})
    assert not conv["converged"] and conv["time_to_converge_ms"] is None and len(conv["missing"]) == 3
    gets = [op for op in read_history(hist)[0] if op["f"] == "get"]
    assert len(gets) == 3 and all(op["status"] == 404 for op in gets)  # missing for sure, not just unlisted
    ev = run_module(history_check, {"history": hist, "check": "s4", "kind": "partition_convergence",
                                    "params": {"nodes": NODES, "deadline_ms": 60000}})
    assert not ev["pass"] and any("never converged" in r for r in ev["reasons"])
    assert ev["details"]["lost"][0]["node"] == "node-c"
    controller_agrees(ev["evidence"])


def test_convergence_reads_past_a_page_cap(run_module: Runner, pki: PKI, make_cluster: Any, tmp_path: Path) -> None:
    cluster = make_cluster(page_cap=20)
    hist = str(tmp_path / "h.jsonl")
    args = endpoint_args(pki)
    run_module(memory_workload, {"leaders": cluster.endpoints(["node-a"]), "count": 45, "concurrency": 4,
                                 "namespace": "big", "history": hist, **args})
    conv = run_module(memory_convergence, {"nodes": cluster.endpoints(), "namespace": "big", "history": hist,
                                           "confirm_by_id": False, **args})
    assert conv["converged"] and conv["per_node_counts"] == {n: 45 for n in NODES}
    read = next(op for op in read_history(hist)[0] if op["f"] == "read")
    assert read["value"]["page_sizes"] == [20, 20, 5, 0] and read["request"]["limit"] == 1000


def test_convergence_check_mode_and_nothing_required(run_module: Runner, pki: PKI, cluster: FakeCluster,
                                                     tmp_path: Path) -> None:
    hist = tmp_path / "h.jsonl"
    run_module(history_event, {"history": str(hist), "f": "note", "value": "start"})
    size = hist.stat().st_size
    args = {"nodes": cluster.endpoints(), "namespace": "none", "history": str(hist), "deadline": 30,
            **endpoint_args(pki)}
    dry = run_module(memory_convergence, args, check_mode=True)
    assert not dry["changed"] and dry["reads"] == 0 and dry["polls"] == 1 and hist.stat().st_size == size
    real = run_module(memory_convergence, args)
    assert not real["converged"] and real["required"] == 0 and real["seconds"] < 5 and real["reads"] == 3


# ---------------------------------------------------------------- S2 quorum shortfall


def s2_flow(run_module: Runner, pki: PKI, cluster: FakeCluster, hist: str) -> dict[str, Any]:
    args = endpoint_args(pki)
    leader = cluster.endpoints(["node-a"])
    cluster.stop("node-b", "node-c")  # stop, observe, then record (as check_s2.yml does)
    down = run_module(port_probe, {"targets": cluster.endpoints(["node-b", "node-c"]), "expect": "refused"})
    run_module(history_event, {"history": hist, "f": "stop", "value": ["node-b", "node-c"],
                               "at": down["observed_at_ns"], "observed": down["observed"]})
    run_module(memory_workload, {"leaders": leader, "count": 2, "namespace": "s2", "title_prefix": "s2-short",
                                 "step": "shortfall", "history": hist, **args})
    run_module(memory_convergence, {"nodes": leader, "namespace": "s2", "history": hist,
                                    "write_steps": ["shortfall"], "include_kept": True, "step": "shortfall",
                                    "deadline": 3, **args})
    cluster.start("node-b")
    run_module(history_event, {"history": hist, "f": "restart", "value": ["node-b"]})
    run_module(memory_workload, {"leaders": leader, "count": 2, "namespace": "s2", "title_prefix": "s2-one",
                                 "step": "one_down", "history": hist, **args})
    run_module(memory_convergence, {"nodes": cluster.endpoints(["node-a", "node-b"]), "namespace": "s2",
                                    "history": hist, "write_steps": ["one_down"], "step": "one_down", "deadline": 3,
                                    **args})
    cluster.start("node-c")
    run_module(history_event, {"history": hist, "f": "restart", "value": ["node-c"]})
    run_module(memory_convergence, {"nodes": cluster.endpoints(), "namespace": "s2", "history": hist,
                                    "include_kept": True, "step": "after_restart", "deadline": 5, **args})
    return run_module(history_check, {"history": hist, "check": "s2_quorum_not_met", "kind": "quorum_shortfall",
                                      "params": {"w": 2, "n": 3, "nodes": NODES, "leader": "node-a"}})


def test_s2_quorum_shortfall_green(run_module: Runner, pki: PKI, cluster: FakeCluster, tmp_path: Path) -> None:
    ev = s2_flow(run_module, pki, cluster, str(tmp_path / "s2.jsonl"))
    assert ev["pass"], ev["reasons"]
    assert ev["figures"]["shortfall_answered_exactly"]["numerator"] == 2
    assert ev["figures"]["after_restart_writes_present_on_every_node"]["numerator"] == 12
    controller_agrees(ev["evidence"])


@pytest.mark.parametrize(("fault", "cause"), [
    ("ack_without_quorum", "acknowledged without quorum"),
    ("phantom_ack", "acknowledged without quorum"),
    ("no_retry_after", "Retry-After None"),
    ("extra_body_key", "body keys"),
    ("no_catchup", "missing after restart"),
])
def test_s2_red_on_faults(run_module: Runner, pki: PKI, make_cluster: Any, tmp_path: Path, fault: str,
                          cause: str) -> None:
    ev = s2_flow(run_module, pki, make_cluster(faults={fault}), str(tmp_path / "s2.jsonl"))
    assert not ev["pass"] and any(cause in r for r in ev["reasons"]), ev["reasons"]
    controller_agrees(ev["evidence"])


# ---------------------------------------------------------------- S3 mTLS allowlist


def identities(pki: PKI) -> list[dict[str, str]]:
    return [{"name": "rogue_ca", "cert": pki.rogue.cert, "key": pki.rogue.key, "expect": "refused"},
            {"name": "own_ca_unlisted", "cert": pki.outsider.cert, "key": pki.outsider.key, "expect": "refused"},
            {"name": "no_cert", "expect": "refused"},
            {"name": "control", "cert": pki.client.cert, "key": pki.client.key, "expect": "allowed"}]


S3_PARAMS = {"identities": ["rogue_ca", "own_ca_unlisted", "no_cert", "control"], "control": "control",
             "nodes": NODES, "route_table": "ai-memory-0.7.0"}
ROUTES = len(routes())


@pytest.mark.parametrize("accept_any", [False, True])
def test_s3_mtls_allowlist(run_module: Runner, pki: PKI, make_cluster: Any, tmp_path: Path,
                           accept_any: bool) -> None:
    cluster = make_cluster(faults={"accept_any"} if accept_any else set())
    walked = NODES if not accept_any else ["node-a"]  # (a walk of one node is enough to see the fault)
    hist = str(tmp_path / "s3.jsonl")
    args = {"nodes": cluster.endpoints(walked), "ca_cert": pki.ca.path, "api_key": API_KEY, "agent_id": "ai:tester",
            "namespace": "s3", "history": hist, "identities": identities(pki), "timeout": 5,
            "route_table": "ai-memory-0.7.0"}
    dry = run_module(mtls_probe, args, check_mode=True)
    assert len(dry["results"]) == len(walked) * ROUTES * 4 and not dry["changed"] and not Path(hist).exists()
    assert {r["route"] for r in dry["results"]} >= {"/api/v1/sync/since", "/api/v1/sync/push", "/api/v1/gc"}
    result = run_module(mtls_probe, args)
    params = {**S3_PARAMS, "nodes": walked}
    ev = run_module(history_check, {"history": hist, "check": "s3", "kind": "mtls_allowlist", "params": params})
    controller_agrees(ev["evidence"])
    control = {(r["node"], r["method"], r["route"]): r["status"] for r in result["results"]
               if r["identity"] == "control"}
    assert len(control) == len(walked) * ROUTES and all(isinstance(v, int) for v in control.values())
    assert control["node-a", "GET", "/api/v1/health"] == 200 and control["node-a", "POST", "/api/v1/memories"] == 201
    if not accept_any:
        assert result["refused"] == 3 * 3 * ROUTES and result["accepted"] == [] and ev["pass"], ev["reasons"]
        assert ev["figures"]["namespace_read_back"]["numerator"] == 3
    else:
        # the fake still checks the CA chain: the unlisted leaf of our own CA gets in, the rogue one does not
        assert {r["identity"] for r in result["accepted"]} == {"own_ca_unlisted"}
        assert len(result["accepted"]) == ROUTES
        assert not ev["pass"] and any("accepted by the TLS layer" in r for r in ev["reasons"])


class PerRouteAllowlist(TinyServer):
    """A node that enforces the allowlist per route instead of in the handshake, and leaves the sync routes open to
    any certificate of its CA: a stranger elsewhere gets its connection closed before any HTTP byte. With
    ``act_first`` it also stores a stranger's create before closing (it acted, and looks refused)."""

    def __init__(self, pki: PKI, allowed: str, act_first: bool = False) -> None:
        self.titles: list[str] = []
        super().__init__(pki, app=self.store, allowlist=None)
        base = self.RequestHandlerClass
        server = self

        class Handler(base):  # type: ignore[misc, valid-type]
            def _serve(self, method: str) -> None:
                der = self.connection.getpeercert(binary_form=True)
                listed = der is not None and hashlib.sha256(der).hexdigest() == allowed
                if not listed and not self.path.startswith("/api/v1/sync/"):
                    if act_first and method == "POST" and self.path == "/api/v1/memories":
                        server.titles.append(str((self._body() or {}).get("title")))
                    self.close_connection = True
                    return
                super()._serve(method)

            def do_PUT(self) -> None:
                self._serve("PUT")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        self.RequestHandlerClass = Handler

    def store(self, name: str, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
              body: Any) -> tuple[int, dict[str, str], Any]:
        if path == "/api/v1/memories" and method == "POST":
            self.titles.append(str((body or {}).get("title")))
            return 201, {}, {"id": "x", "title": (body or {}).get("title")}
        if path == "/api/v1/memories" and method == "GET":
            return 200, {}, {"memories": [{"title": t} for t in self.titles]}
        return 200 if path == "/api/v1/health" else 404, {}, {}


def test_s3_finds_a_stranger_create_that_landed_without_an_answer(
        run_module: Runner, pki: PKI, tmp_path: Path) -> None:
    server = PerRouteAllowlist(pki, pki.client.fingerprint, act_first=True)
    try:
        hist = str(tmp_path / "s3.jsonl")
        paths = [{"method": "GET", "path": "/api/v1/health"}, {"method": "POST", "path": "/api/v1/memories"}]
        result = run_module(mtls_probe, {"url": server.url, "node": "node-a", "ca_cert": pki.ca.path,
                                         "api_key": API_KEY, "history": hist, "identities": identities(pki),
                                         "paths": paths, "namespace": "s3"})
        params = {k: v for k, v in S3_PARAMS.items() if k != "route_table"} | {"nodes": ["node-a"]}
        ev = run_module(history_check, {"history": hist, "check": "s3", "kind": "mtls_allowlist", "params": params})
    finally:
        server.stop()
    controller_agrees(ev["evidence"])
    # every stranger probe looked refused (the connection closed before any HTTP byte) ...
    assert result["accepted"] == [] and result["refused"] == 6
    # ... but the read-back of the namespace finds the create the unlisted certificate made
    assert not ev["pass"]
    assert [r for r in ev["reasons"] if "stranger create(s) landed although the stranger got no HTTP answer" in r]
    assert ev["details"]["stranger_creates_found"][0].startswith("own_ca_unlisted's create probe-own_ca_unlisted-")


def test_s3_catches_a_route_left_open(run_module: Runner, pki: PKI, tmp_path: Path) -> None:
    server = PerRouteAllowlist(pki, pki.client.fingerprint)
    try:
        hist = str(tmp_path / "s3.jsonl")
        args = {"url": server.url, "node": "node-a", "ca_cert": pki.ca.path, "api_key": API_KEY,
                "history": hist, "identities": identities(pki), "timeout": 5}
        result = run_module(mtls_probe, args)
        params = {**S3_PARAMS, "nodes": ["node-a"]}
        ev = run_module(history_check, {"history": hist, "check": "s3", "kind": "mtls_allowlist", "params": params})
    finally:
        server.stop()
    controller_agrees(ev["evidence"])
    accepted = {(r["method"], r["route"]) for r in result["accepted"]}
    assert accepted == {("GET", "/api/v1/sync/since"), ("POST", "/api/v1/sync/push")}
    assert not ev["pass"]
    assert any("own_ca_unlisted GET /api/v1/sync/since on node-a: served with HTTP 404" in r for r in ev["reasons"])
    # everywhere else the stranger's connection closed before any HTTP byte: that is a refusal
    closed = [r for r in result["results"] if r["identity"] == "own_ca_unlisted" and r["status"] is None]
    assert len(closed) == ROUTES - 2 and {r["error_class"] for r in closed} == {"tls_refused"}


def test_mtls_probe_single_url_form(run_module: Runner, pki: PKI, cluster: FakeCluster, tmp_path: Path) -> None:
    hist = str(tmp_path / "s3.jsonl")
    node = cluster.endpoints(["node-b"])[0]  # the whole table by default
    run_module(mtls_probe, {"url": node["url"], "node": node["name"], "ca_cert": pki.ca.path,
                            "api_key": API_KEY, "history": hist, "identities": identities(pki)})
    ev = run_module(history_check, {"history": hist, "check": "s3", "kind": "mtls_allowlist",
                                    "params": {**S3_PARAMS, "nodes": ["node-b"]}})
    assert ev["pass"], ev["reasons"]
    bad = run_module(mtls_probe, {"url": "https://127.0.0.1:1", "ca_cert": pki.ca.path, "history": hist,
                                  "identities": [{"name": "half", "cert": pki.client.cert, "expect": "refused"}]})
    assert bad["failed"] and "both cert and key" in bad["msg"]
    # an explicit list of paths instead of the table (judged on exactly those)
    paths = [{"method": "GET", "path": "/api/v1/health"}, {"method": "POST", "path": "/api/v1/memories"}]
    two = str(tmp_path / "two.jsonl")
    done = run_module(mtls_probe, {"nodes": cluster.endpoints(), "ca_cert": pki.ca.path, "api_key": API_KEY,
                                   "history": two, "identities": identities(pki), "paths": paths})
    assert len(done["results"]) == 24 and done["route_table"] is None
    legacy = {k: v for k, v in S3_PARAMS.items() if k != "route_table"}
    assert run_module(history_check, {"history": two, "check": "s3", "kind": "mtls_allowlist",
                                      "params": legacy})["pass"]
    walked_two = run_module(history_check, {"history": two, "check": "s3", "kind": "mtls_allowlist",
                                            "params": S3_PARAMS})
    assert not walked_two["pass"] and any("never probed" in r for r in walked_two["reasons"])
    both = run_module(mtls_probe, {"url": "https://127.0.0.1:1", "ca_cert": pki.ca.path, "history": two,
                                   "identities": identities(pki), "paths": paths, "route_table": "ai-memory-0.7.0"})
    assert both["failed"] and "mutually exclusive" in both["msg"]
    patch = run_module(mtls_probe, {"url": "https://127.0.0.1:1", "ca_cert": pki.ca.path, "history": two,
                                    "identities": identities(pki), "paths": [{"method": "PATCH", "path": "/x"}]})
    assert patch["failed"] and "needs a method of" in patch["msg"]


# ---------------------------------------------------------------- history_event / history_check


@pytest.mark.parametrize(("at", "expected"), [
    (1_795_368_633_278_227_800, 1_795_368_633_278_227_800),
    ("1795368633278227800", 1_795_368_633_278_227_800),
    ("1795368633.5", 1_795_368_633_500_000_000),
    ("2026-11-22T17:30:33.278227Z", 1_795_368_633_278_227_000),
])
def test_history_event_records_when_the_fault_took_effect(run_module: Runner, tmp_path: Path, at: Any,
                                                          expected: int) -> None:
    hist = tmp_path / "h.jsonl"
    op = run_module(history_event, {"history": str(hist), "f": "heal", "node": "node-c", "at": at})["op"]
    assert (op["process"], op["type"], op["f"], op["at"], op["index"]) == ("nemesis", "info", "heal", expected, 0)
    assert read_history(str(hist))[0] == [op]


def test_history_event_check_mode_and_bad_time(run_module: Runner, tmp_path: Path) -> None:
    hist = tmp_path / "h.jsonl"
    dry = run_module(history_event, {"history": str(hist), "f": "stop", "value": ["node-b"]}, check_mode=True)
    assert dry["changed"] and dry["op"]["value"] == ["node-b"] and not hist.exists()
    assert run_module(history_event, {"history": str(hist), "f": "heal", "at": "soon"})["failed"]


def test_history_check_reds_a_damaged_or_missing_history(run_module: Runner, pki: PKI, cluster: FakeCluster,
                                                         tmp_path: Path) -> None:
    hist = tmp_path / "s1.jsonl"
    s1(run_module, pki, cluster, str(hist), deadline=10)
    with hist.open("a") as fh:
        fh.write('{"index": 99, "type": "ok", "f": "wr')
    ev = run_module(history_check, {"history": str(hist), "check": "s1", "kind": "quorum_write",
                                    "params": {"w": 2, "n": 3, "nodes": NODES}})
    assert not ev["pass"] and ev["reasons"][0].startswith("damaged history:") and "truncated" in ev["reasons"][0]
    assert ev["params"]["history_problems"] and ev["params"]["w"] == 2
    controller_agrees(ev["evidence"])  # the recomputation sees the same damage through params
    gone = run_module(history_check, {"history": str(tmp_path / "none.jsonl"), "check": "s1",
                                      "kind": "quorum_write", "params": {"w": 2, "n": 3, "nodes": NODES}})
    assert not gone["pass"] and gone["history"] == []
    assert run_module(history_check, {"history": str(hist), "check": "x", "kind": "bogus"})["failed"]


# ---------------------------------------------------------------- port_probe: faults observed, not declared


def test_port_probe_observes_a_stopped_node_refusing_and_a_live_one_answering(run_module: Runner,
                                                                              cluster: FakeCluster,
                                                                              tmp_path: Path) -> None:
    cluster.stop("node-b")
    targets = cluster.endpoints(["node-b"])
    down = run_module(port_probe, {"targets": targets, "expect": "refused", "deadline": 5})
    assert down["observed"]["refused"] is True and down["observed"]["nodes"] == ["node-b"]
    assert down["observed"]["probes"][0]["outcome"] == "refused" and down["observed_at_ns"] > 0
    # the stop recorded after it was observed carries the observation, and S2's checker accepts it
    hist = tmp_path / "s2.jsonl"
    op = run_module(history_event, {"history": str(hist), "f": "stop", "value": ["node-b"],
                                    "at": down["observed_at_ns"], "observed": down["observed"]})["op"]
    assert op["observed"] == down["observed"] and op["at"] == down["observed_at_ns"]
    from ansible_collections.aimemory.swarm.plugins.module_utils._checker.ops import observation_problem

    assert observation_problem(op) is None
    # a node that still runs is not observed stopped, however long one waits (the deadline ends it)
    up = run_module(port_probe, {"targets": cluster.endpoints(["node-a", "node-b"]), "expect": "refused",
                                 "deadline": 0.5, "timeout": 1})
    assert up["observed"]["refused"] is False and up["observed"]["nodes"] == ["node-b"]
    assert up["observed"]["probes"][0]["outcome"] == "connected" and up["observed"]["probes"][0]["attempts"] >= 2
    assert "not observed to take effect" in str(observation_problem({**op, "observed": up["observed"]}))
    host_form = run_module(port_probe, {"targets": [{"name": "node-a", "host": "127.0.0.1",
                                                     "port": int(cluster.url("node-a").rsplit(":", 1)[1])}],
                                        "expect": "connected"}, check_mode=True)
    assert host_form["observed"]["connected"] is True
    assert run_module(port_probe, {"targets": [{"name": "x"}], "expect": "refused"})["failed"]
    assert run_module(port_probe, {"targets": [], "expect": "refused"})["failed"]


# ---------------------------------------------------------------- network_partition


def test_network_partition_module(run_module: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible.module_utils.basic import AnsibleModule
    from ansible_collections.aimemory.swarm.plugins.module_utils._nemesis import partition as partition_utils

    from tests.unit.plugins.module_utils.test_partition import FakeNet

    nft = FakeNft()
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: name)
    monkeypatch.setattr(network_partition, "runner", lambda timeout: lambda argv, data=None: nft(argv, data))
    monkeypatch.setattr(partition_utils, "tcp_outcome", FakeNet(nft))  # (no packet leaves this machine)
    dry = run_module(network_partition, {"isolate_from": ["10.0.0.1"]}, check_mode=True)
    assert dry["changed"] and nft.peers is None and "10.0.0.1" in dry["rules"]
    cut = run_module(network_partition, {"isolate_from": ["10.0.0.1", "10.0.0.2"], "heal_after": 300})
    assert cut["changed"] and cut["isolate_from"] == ["10.0.0.1", "10.0.0.2"] and cut["heal_timer"]["after_s"] == 300
    assert isinstance(cut["time"], float) and cut["applied_at_ns"] > 0
    assert cut["observed"]["blocked"] is True and cut["observed"]["probe"]["to"] == "10.0.0.1:9077"
    assert not run_module(network_partition, {"isolate_from": ["10.0.0.2", "10.0.0.1"]})["changed"]
    assert run_module(network_partition, {"state": "absent"})["changed"]
    assert not run_module(network_partition, {"state": "absent"})["changed"]
    assert run_module(network_partition, {"isolate_from": ["nope"]})["failed"]
    assert run_module(network_partition, {"state": "present"})["failed"]
    assert run_module(network_partition, {"isolate_from": ["10.0.0.1"], "observe_port": 70000})["failed"]


# ---------------------------------------------------------------- S1 as the campaign runs it: every write kind


def s1_whole(run_module: Runner, pki: PKI, cluster: FakeCluster, hist: str) -> dict[str, Any]:
    """playbooks/tasks/check_s1.yml + check_s1_final.yml, small: varied writes with held reads, a bulk, updates
    (two of them concurrent) and deletes through other peers, convergence, then the verdict."""
    from ansible_collections.aimemory.swarm.plugins.modules import memory_mutation

    args = endpoint_args(pki)
    spaces = ["s1-a", "s1-b", "s1-c"]
    peers = cluster.endpoints()
    agents = ["ai:one", "ai:two", "ai:three"]
    common = {"leaders": peers, "namespace": "s1", "namespaces": spaces, "seed": 42, "agents": agents,
              "history": hist, **args}
    wrote = run_module(memory_workload, {**common, "count": 30, "concurrency": 3, "held": peers,
                                         "title_prefix": "s1"})
    assert wrote["ok"] == 30, wrote
    bulk = run_module(memory_workload, {**common, "count": 6, "bulk": 3, "title_prefix": "s1bulk"})
    assert bulk["attempted"] == 6
    mutated = run_module(memory_mutation, {"leaders": peers, "history": hist, "namespaces": spaces, "seed": 42,
                                           "updates": 6, "deletes": 4, "concurrent": 2, "held": peers, **args})
    assert mutated["planned"] == 10, mutated
    conv = run_module(memory_convergence, {"nodes": peers, "namespace": spaces[0], "namespaces": spaces,
                                           "history": hist, "deadline": 3, **args})
    ev = run_module(history_check, {"history": hist, "check": "s1_quorum_write", "kind": "quorum_write",
                                    "params": {"w": 2, "n": 3, "nodes": NODES, "namespace": spaces, "held": True,
                                               "seed": 42}})
    return {"conv": conv, "ev": ev}


def test_s1_every_write_kind_green(run_module: Runner, pki: PKI, cluster: FakeCluster, tmp_path: Path) -> None:
    out = s1_whole(run_module, pki, cluster, str(tmp_path / "s1.jsonl"))
    ev = out["ev"]
    assert ev["pass"], ev["reasons"]
    details = ev["details"]
    assert details["deleted"] == 4 and details["updated"] >= 4 and details["mutations"] == 12
    assert details["held_checked"] == 30 + 4 + 4  # creates, the non-concurrent updates, the deletes
    # each create with an id (the 30, less the 4 deleted) was checked on the two nodes that did not lead it
    assert sum(details["replicated_observations"].values()) == 2 * (30 - 4)
    controller_agrees(ev["evidence"])


@pytest.mark.parametrize(("fault", "cause"), [
    ("update_not_applied", "present with other content than last written, differing in content"),
    ("delete_not_applied", "deleted write(s) held again"),
    ("bulk_500", "bulk create through node-a answered 500"),
])
def test_s1_red_when_a_write_kind_is_not_replicated(
        run_module: Runner, pki: PKI, make_cluster: Any, tmp_path: Path, fault: str, cause: str) -> None:
    cluster = make_cluster(faults={fault})
    ev = s1_whole(run_module, pki, cluster, str(tmp_path / "s1.jsonl"))["ev"]
    assert not ev["pass"] and any(cause in r for r in ev["reasons"]), ev["reasons"]
    controller_agrees(ev["evidence"])
