"""The check modules against a real 3-node stand-in cluster (build/ai-memory, one process per node) on 127.0.0.1
with an Ed25519 CA, mTLS allowlist and W=2: S1, S2, S3 green; a fault switch turns its scenario red. S4's nftables
partition needs a network namespace per node, so here the fault is a stop and restart of node-c (the partition
itself is tested in test_partition.py)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.aimemory.swarm.plugins.modules import (
    history_check,
    history_event,
    memory_convergence,
    memory_workload,
    mtls_probe,
    port_probe,
)

from tests.standin.cluster import AGENT, API_KEY, Cluster
from tests.unit.plugins.modules.conftest import Runner

ROOT = Path(__file__).resolve().parents[4]
BINARY = ROOT / "build" / "ai-memory"
NODES = ["node-a", "node-b", "node-c"]

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not BINARY.exists(), reason=f"{BINARY} is not built (standin/build.py)")]


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(**kwargs: Any) -> Cluster:
        cluster = Cluster(binary=BINARY, root=tmp_path / f"c{len(made)}", **kwargs)
        made.append(cluster)
        return cluster.start()

    yield make
    for cluster in made:
        cluster.stop()


def args(c: Cluster) -> dict[str, Any]:
    return {"api_key": API_KEY, "agent_id": AGENT, "ca_cert": str(c.ca.path), "client_cert": str(c.client.cert),
            "client_key": str(c.client.key), "timeout": 10.0}


def endpoints(c: Cluster, names: list[str] | None = None) -> list[dict[str, str]]:
    return [{"name": n.name, "url": n.url} for n in c.nodes if names is None or n.name in names]


def node(c: Cluster, name: str) -> Any:
    return next(n for n in c.nodes if n.name == name)


def s1(run: Runner, c: Cluster, hist: str) -> dict[str, Any]:
    run(memory_workload, {"leaders": endpoints(c, ["node-a"]), "count": 10, "concurrency": 2, "namespace": "s1",
                          "title_prefix": "s1", "history": hist, **args(c)})
    run(memory_convergence, {"nodes": endpoints(c), "namespace": "s1", "history": hist, "deadline": 20, **args(c)})
    return run(history_check, {"history": hist, "check": "s1_quorum_write", "kind": "quorum_write",
                               "params": {"w": 2, "n": 3, "nodes": NODES}})


def s3(run: Runner, c: Cluster, hist: str) -> dict[str, Any]:
    idents = [{"name": "rogue_ca", "cert": str(c.rogue.cert), "key": str(c.rogue.key), "expect": "refused"},
              {"name": "own_ca_unlisted", "cert": str(c.outsider.cert), "key": str(c.outsider.key),
               "expect": "refused"},
              {"name": "no_cert", "expect": "refused"},
              {"name": "control", "cert": str(c.client.cert), "key": str(c.client.key), "expect": "allowed"}]
    # the module walks the whole route table by default; the checker is told which table to require
    run(mtls_probe, {"nodes": endpoints(c), "ca_cert": str(c.ca.path), "api_key": API_KEY,
                     "agent_id": "ai:s3-prober", "namespace": "s3", "history": hist, "identities": idents})
    return run(history_check, {"history": hist, "check": "s3_mtls_allowlist", "kind": "mtls_allowlist",
                               "params": {"identities": ["rogue_ca", "own_ca_unlisted", "no_cert", "control"],
                                          "control": "control", "nodes": NODES, "route_table": "ai-memory-0.7.0"}})


def test_s1_and_s3_green(run_module: Runner, standin: Callable[..., Cluster], tmp_path: Path) -> None:
    c = standin()
    ev = s1(run_module, c, str(tmp_path / "s1.jsonl"))
    assert ev["pass"], ev["reasons"]
    assert ev["figures"]["writes_present_on_every_node"]["numerator"] == 30
    ev = s3(run_module, c, str(tmp_path / "s3.jsonl"))
    assert ev["pass"], ev["reasons"]


@pytest.mark.parametrize(("fault", "scenario", "cause"), [
    ("drop_fanout", s1, "missing"),
    ("mtls_accept_any", s3, "accepted by the TLS layer"),
])
def test_fault_switches_turn_red(run_module: Runner, standin: Callable[..., Cluster], tmp_path: Path, fault: str,
                                 scenario: Any, cause: str) -> None:
    if fault == "drop_fanout":  # a short deadline: the dropped writes never come
        def short(run: Runner, c: Cluster, hist: str) -> dict[str, Any]:
            run(memory_workload, {"leaders": endpoints(c, ["node-a"]), "count": 4, "namespace": "s1",
                                  "history": hist, **args(c)})
            run(memory_convergence, {"nodes": endpoints(c), "namespace": "s1", "history": hist, "deadline": 4,
                                     **args(c)})
            return run(history_check, {"history": hist, "check": "s1", "kind": "quorum_write",
                                       "params": {"w": 2, "n": 3, "nodes": NODES}})
        scenario = short
    ev = scenario(run_module, standin(faults=fault), str(tmp_path / "h.jsonl"))
    assert not ev["pass"] and any(cause in r for r in ev["reasons"]), ev["reasons"]


def test_s2_shortfall_and_catch_up(run_module: Runner, standin: Callable[..., Cluster], tmp_path: Path) -> None:
    c = standin()
    hist = str(tmp_path / "s2.jsonl")
    leader = endpoints(c, ["node-a"])
    node(c, "node-b").stop(signal.SIGINT)
    node(c, "node-c").stop(signal.SIGINT)
    down = run_module(port_probe, {"targets": endpoints(c, ["node-b", "node-c"]), "expect": "refused",
                                   "deadline": 10})
    assert down["observed"]["refused"], down["observed"]
    run_module(history_event, {"history": hist, "f": "stop", "value": ["node-b", "node-c"],
                               "at": down["observed_at_ns"], "observed": down["observed"]})
    short = run_module(memory_workload, {"leaders": leader, "count": 2, "namespace": "s2",
                                         "title_prefix": "s2-short", "step": "shortfall", "history": hist,
                                         **args(c)})
    assert short["statuses"] == {"503": 2}
    run_module(memory_convergence, {"nodes": leader, "namespace": "s2", "history": hist, "include_kept": True,
                                    "write_steps": ["shortfall"], "step": "shortfall", "deadline": 5, **args(c)})
    node(c, "node-b").start()
    node(c, "node-b").wait_healthy()
    run_module(history_event, {"history": hist, "f": "restart", "value": ["node-b"]})
    one = run_module(memory_workload, {"leaders": leader, "count": 2, "namespace": "s2", "title_prefix": "s2-one",
                                       "step": "one_down", "history": hist, **args(c)})
    assert one["statuses"] == {"201": 2}
    run_module(memory_convergence, {"nodes": endpoints(c, ["node-a", "node-b"]), "namespace": "s2",
                                    "history": hist, "write_steps": ["one_down"], "step": "one_down",
                                    "deadline": 10, **args(c)})
    node(c, "node-c").start()
    node(c, "node-c").wait_healthy()
    run_module(history_event, {"history": hist, "f": "restart", "value": ["node-c"]})
    conv = run_module(memory_convergence, {"nodes": endpoints(c), "namespace": "s2", "history": hist,
                                           "include_kept": True, "step": "after_restart", "deadline": 30,
                                           **args(c)})
    assert conv["converged"], conv
    ev = run_module(history_check, {"history": hist, "check": "s2_quorum_not_met", "kind": "quorum_shortfall",
                                    "params": {"w": 2, "n": 3, "nodes": NODES, "leader": "node-a"}})
    assert ev["pass"], ev["reasons"]
    assert ev["details"]["time_to_converge_ms"] is not None


def test_writes_during_an_outage_converge_after_restart(run_module: Runner, standin: Callable[..., Cluster],
                                                        tmp_path: Path) -> None:
    c = standin()
    hist = str(tmp_path / "s4.jsonl")
    node(c, "node-c").stop(signal.SIGINT)
    down = run_module(port_probe, {"targets": endpoints(c, ["node-c"]), "expect": "refused", "deadline": 10})
    run_module(history_event, {"history": hist, "f": "stop", "value": ["node-c"], "at": down["observed_at_ns"],
                               "observed": down["observed"]})
    wl = run_module(memory_workload, {"leaders": endpoints(c, ["node-a", "node-b"]), "count": 12,
                                      "concurrency": 2, "namespace": "s4", "history": hist, **args(c)})
    assert wl["ok"] == 12
    node(c, "node-c").start()
    node(c, "node-c").wait_healthy()
    run_module(history_event, {"history": hist, "f": "restart", "value": ["node-c"]})
    conv = run_module(memory_convergence, {"nodes": endpoints(c), "namespace": "s4", "history": hist,
                                           "deadline": 30, **args(c)})
    assert conv["converged"] and conv["per_node_counts"] == {n: 12 for n in NODES}
    ev = run_module(history_check, {"history": hist, "check": "s4", "kind": "convergence",
                                    "params": {"nodes": NODES, "require_events": ["stop", "restart"]}})
    assert ev["pass"], ev["reasons"]
    assert ev["details"]["anchor"]["f"] == "restart" and ev["details"]["time_to_converge_ms"] > 0
