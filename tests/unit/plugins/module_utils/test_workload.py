"""Write workload and complete reads against the fake cluster (mTLS on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import Endpoint, Response
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History, read_history
from ansible_collections.aimemory.swarm.plugins.module_utils._ops import pair_writes
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.reads import get_memory, read_namespace
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.records import intent_digest, replicated_digest
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.writes import (
    WriteWorkload,
    next_numbers,
    outcome,
)

from tests.unit.plugins.module_utils.fakes import API_KEY, PKI, FakeCluster, TinyServer


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def cluster(pki: PKI) -> Iterator[FakeCluster]:
    c = FakeCluster(pki, page_cap=20)
    yield c
    c.close()


@pytest.mark.parametrize(("resp", "kind"), [
    (Response(201), "ok"), (Response(400), "fail"), (Response(409), "fail"), (Response(429), "fail"),
    (Response(503), "info"), (Response(500), "info"), (Response(202), "info"),
    (Response(None, error_class="timeout"), "info"), (Response(None, error_class="reset"), "info"),
    (Response(None, error_class="connect_refused", refused_before_request=True), "fail"),
    (Response(None, error_class="tls_refused", refused_before_request=False), "info"),
])
def test_write_outcomes(resp: Response, kind: str) -> None:
    assert outcome(resp) == kind


def test_workload_records_every_write_and_never_the_api_key(pki: PKI, cluster: FakeCluster, tmp_path: Path) -> None:
    path = str(tmp_path / "h.jsonl")
    leaders = [(n, cluster.url(n)) for n in ("node-a", "node-b")]
    wl = WriteWorkload(History(path), leaders, pki.client_args(), "ns1", "w", scope="team", step="main")
    summary = wl.run(12, concurrency=3)
    assert summary["errors"] == [] and summary["attempted"] == 12 and summary["ok"] == 12
    assert summary["statuses"] == {"201": 12} and len(summary["acked_ids"]) == 12
    assert summary["titles"] == ["w-00000", "w-00011"] and summary["scope"] == "team"
    ops, problems = read_history(path)
    assert problems == [] and len(ops) == 24
    writes, pair_problems = pair_writes(ops)
    assert pair_problems == [] and all(w.type == "ok" and w.acks == 3 for w in writes)
    assert {w.process for w in writes} == {0, 1, 2}
    assert {w.node for w in writes} == {"node-a", "node-b"}
    inv = ops[0]
    assert inv["request"]["scope"] == "team" and inv["request"]["agent_id"] == "ai:tester"
    assert inv["value"]["digest"] == intent_digest(inv["request"])
    assert API_KEY not in Path(path).read_text()
    assert next_numbers(ops, "ns1", "w") == (12, 3)
    assert next_numbers(ops, "other", "w") == (0, 3)


def test_shortfall_writes_are_info_with_the_503_recorded(pki: PKI, cluster: FakeCluster, tmp_path: Path) -> None:
    cluster.stop("node-b", "node-c")
    path = str(tmp_path / "h.jsonl")
    wl = WriteWorkload(History(path), [("node-a", cluster.url("node-a"))], pki.client_args(), "ns", "s")
    assert wl.run(2)["statuses"] == {"503": 2}
    done = [op for op in read_history(path)[0] if op["type"] != "invoke"]
    assert {op["type"] for op in done} == {"info"}
    assert done[0]["headers"] == {"retry-after": "2", "content-type": "application/json"}
    assert done[0]["response"] == {"error": "quorum_not_met", "got": 1, "needed": 2, "reason": "unreachable"}
    cluster.start("node-b", "node-c")


def test_a_down_leader_is_a_certain_fail(pki: PKI, cluster: FakeCluster, tmp_path: Path) -> None:
    cluster.stop("node-a")
    wl = WriteWorkload(History(str(tmp_path / "h.jsonl")), [("node-a", cluster.url("node-a"))], pki.client_args(),
                       "ns", "d")
    summary = wl.run(1)
    assert summary["fail"] == 1 and summary["statuses"] == {"connect_refused": 1}
    cluster.start("node-a")


def test_deadline_stops_new_writes(pki: PKI, cluster: FakeCluster, tmp_path: Path) -> None:
    wl = WriteWorkload(History(str(tmp_path / "h.jsonl")), [("node-a", cluster.url("node-a"))], pki.client_args(),
                       "ns", "d")
    summary = wl.run(100000, deadline_s=0.3)
    assert summary["deadline_reached"] and 0 < summary["attempted"] < 100000


def test_reads_page_past_a_server_cap_of_20(pki: PKI, cluster: FakeCluster, tmp_path: Path) -> None:
    """Ship-gate defect 10: the server returns at most 20 rows whatever the limit; the read still sees all 45."""
    wl = WriteWorkload(History(str(tmp_path / "h.jsonl")), [("node-a", cluster.url("node-a"))], pki.client_args(),
                       "big", "b")
    ids = set(wl.run(45, concurrency=4)["acked_ids"])
    with Endpoint(cluster.url("node-c"), **pki.client_args()) as c:
        res = read_namespace(c, "big")
        assert res.ok and set(res.memories or {}) == ids
        assert res.page_sizes == [20, 20, 5, 0] and res.pages == 4
        found = res.found()
        some = sorted(found)[0]
        assert found[some][1] == intent_digest(res.memories[some])
        assert found[some][2] == replicated_digest(res.memories[some])
        resp, mem = get_memory(c, some)
        assert resp.status == 200 and mem is not None and mem["id"] == some
        resp, mem = get_memory(c, "no-such-id")
        assert resp.status == 404 and mem is None
        assert read_namespace(c, "empty").memories == {}


def test_a_failed_page_or_an_ignored_offset_is_no_read(pki: PKI, tmp_path: Path) -> None:
    def repeat(name, method, path, query, headers, body):  # a server that ignores offset
        return 200, {}, {"memories": [{"id": f"i{n}", "title": f"t{n}", "namespace": "ns"} for n in range(3)]}

    srv = TinyServer(pki, repeat, {pki.client.fingerprint})
    try:
        with Endpoint(srv.url, **pki.client_args()) as c:
            res = read_namespace(c, "ns")
        assert res.memories is None and res.error_class == "incomplete" and "offset" in str(res.detail)
    finally:
        srv.stop()
    with Endpoint(srv.url, **{**pki.client_args(), "timeout": 1}) as c:
        res = read_namespace(c, "ns")
    assert res.memories is None and res.error_class == "connect_refused"


def test_agents_write_concurrently_each_with_its_own_identity(pki: PKI, cluster: FakeCluster, tmp_path: Path) -> None:
    path = str(tmp_path / "h.jsonl")
    leaders = [(n, cluster.url(n)) for n in ("node-a", "node-b", "node-c")]
    agents = ["ai:agent-alice", "ai:agent-bob", "ai:agent-charlie", "ai:agent-dana"]
    wl = WriteWorkload(History(path), leaders, pki.client_args(), "ns-agents", "p2", agents=agents)
    summary = wl.run(20, concurrency=4)
    assert summary["errors"] == [] and summary["ok"] == 20
    writes = pair_writes(read_history(path)[0])[0]
    assert {w.agent_id for w in writes} == set(agents)
    assert {w.node for w in writes} == {"node-a", "node-b", "node-c"}
    assert all(w.invoke["request"]["agent_id"] == w.agent_id for w in writes)
    with pytest.raises(ValueError, match="4 agents need at least as many workers"):
        WriteWorkload(History(path), leaders, pki.client_args(), "ns-agents", "q", agents=agents).run(8, 2)


def test_writes_run_until_the_event_lands(pki: PKI, cluster: FakeCluster, tmp_path: Path) -> None:
    import threading
    import time

    path = str(tmp_path / "h.jsonl")
    history = History(path)
    wl = WriteWorkload(history, [("node-a", cluster.url("node-a"))], pki.client_args(), "ns-until", "k")

    def nemesis() -> None:
        deadline = time.monotonic() + 20
        while len(pair_writes(read_history(path)[0])[0]) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        history.append({"process": "nemesis", "type": "info", "f": "kill", "value": ["node-a"]})

    thread = threading.Thread(target=nemesis)
    thread.start()
    summary = wl.run(100_000, concurrency=2, until_event="kill")
    thread.join()
    assert summary["until_event_seen"] is True and summary["deadline_reached"] is False
    assert 10 <= summary["attempted"] < 100_000
    ops = read_history(path)[0]
    kill = next(op["index"] for op in ops if op["f"] == "kill")
    # the writers stop within one watch interval of the event (a few writes of a fast fake at most)
    assert sum(1 for op in ops if op["f"] == "write" and op["type"] == "invoke" and op["index"] > kill) < 50
    staggered = WriteWorkload(history, [("node-a", cluster.url("node-a"))], pki.client_args(), "ns-stagger", "s")
    summary = staggered.run(4, concurrency=1, stagger_s=0.1)
    assert summary["ok"] == 4 and summary["seconds"] >= 0.3


def test_phase1_probes_the_default_tier_with_its_own_deadline_and_names_the_command(tmp_path) -> None:
    """A recall that never returns is killed at its deadline and recorded with its command line; the module's
    other steps still run (a hung product never hangs the campaign)."""
    import json as _json

    from ansible_collections.aimemory.swarm.plugins.module_utils._checker.registry import check
    from ansible_collections.aimemory.swarm.plugins.module_utils._history import History, read_history
    from ansible_collections.aimemory.swarm.plugins.module_utils._process import run
    from ansible_collections.aimemory.swarm.plugins.module_utils._workload.functional import Phase1

    fake = tmp_path / "ai-memory"
    fake.write_text("#!/bin/sh\n"
                    "case \"$*\" in *recall*--tier*) echo '{\"memories\":[{\"id\":\"a\"}]}';;\n"
                    "  *recall*) sleep 300;;\n  *) echo '{\"total\": 1}';;\nesac\n")
    fake.chmod(0o755)
    calls = []

    def runner(argv, stdin=None, timeout=None):
        calls.append((argv, timeout))
        return run(argv, timeout=timeout or 10, stdin=stdin)

    history = History(str(tmp_path / "h.jsonl"))
    phase = Phase1(runner, str(fake), str(tmp_path), history, "node-a", default_tier_timeout=0.5)
    phase.cli_checks()
    ops, problems = read_history(str(tmp_path / "h.jsonl"))
    assert problems == []
    probe = next(op for op in ops if op["f"] == "cli_recall_default_tier")
    assert probe["type"] == "fail" and probe["value"]["command"]["timed_out"] is True
    assert "--tier" not in probe["value"]["command"]["command"]
    assert any(op["f"] == "cli_recall" and op["type"] == "ok" for op in ops)
    assert [t for a, t in calls if "--tier" not in a and "recall" in a] == [0.5]
    verdict = check("functional", ops, {"host": "node-a", "probe_default_tier": True})
    assert any(r.startswith("cli_recall_default_tier: `") and "did not return within 0.5 s" in r
               for r in verdict["reasons"]), verdict["reasons"]
    assert _json.dumps(verdict)  # serialisable evidence
