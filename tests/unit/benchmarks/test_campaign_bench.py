"""benchmarks/campaign.py's pure figures (stage grouping, the share of the checks' time spent waiting on the system
under test, convergence, an evidence directory's figures), on small synthetic evidence directories: no campaign
runs here."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks import campaign as bench

ROOT = Path(__file__).resolve().parents[3]
T0 = 1_800_000_000  # epoch seconds of the synthetic campaign


def iso(seconds: float) -> str:
    return f"{bench.datetime.fromtimestamp(seconds, bench.UTC).isoformat()}"


def ns(seconds: float) -> int:
    return round(seconds * 1e9)


def call(process: int | str, start: float, end: float, f: str = "write", latency: bool = True) -> list[dict]:
    """An invoke at ``start`` and its completion at ``end`` (with its latency unless ``latency`` is False)."""
    done: dict[str, Any] = {"process": process, "type": "ok", "f": f, "time": ns(end), "node": "node-a"}
    if latency:
        done["latency_ms"] = (end - start) * 1000
    return [{"process": process, "type": "invoke", "f": f, "time": ns(start), "node": "node-a"}, done]


def check(name: str, start: float, end: float, history: list[dict], details: dict | None = None) -> dict:
    return {"check": name, "pass": True, "started_at": iso(start), "ended_at": iso(end),
            "history": [{**op, "index": i} for i, op in enumerate(history)], "details": details or {}}


PLAYS = [
    ("Validate the campaign inputs", 3.0),
    ("Build ai-memory on the controller", 0.5),
    ("Build ai-memory on the build host", 0.25),
    ("Provision the swarm hosts", 12.0),
    ("Build ai-memory on the controller", 0.25),
    ("Issue the certificates on the controller", 30.0),
    ("Deploy the ai-memory nodes", 40.0),
    ("Deploy PostgreSQL with Apache AGE and pgvector (for S5 and ship-gate phase 3)", 50.0),
    ("Prepare the client host for the checks", 10.0),
    ("Open the evidence directory and declare the checks", 2.0),
    ("Ship-gate phase 1 on every peer (CLI, HTTP API, backup and restore, curator, MCP, restart persistence)", 8.0),
    ("Run the T4 scenarios from the client host", 10.0),
]


def plays(extra: list[tuple[str, float]] | None = None) -> list[dict[str, Any]]:
    return [{"name": n, "started_at": iso(T0), "wall_seconds": w, "failed": False} for n, w in PLAYS + (extra or [])]


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    """A campaign's evidence: the checks stage is 20 s; S1 waits 0-2 and 1-3 s (concurrent: 3 s once), and an op
    of 5-7 s of which its window (up to 6 s) keeps 1 s; S4 waits 10-11 s; phase 1 has no op durations."""
    d = tmp_path / "bench-3-1"
    d.mkdir()
    (d / "campaign.json").write_text(json.dumps({"campaign_id": "bench-3-1", "declared_checks": [
        "s1_quorum_write", "s4_partition_convergence", "phase1-node-a", "phase2", "s2_quorum_not_met"]}))
    (d / "plays.json").write_text(json.dumps({"plays": plays()}))
    s1 = call(0, T0, T0 + 2) + call(1, T0 + 1, T0 + 3) + call(0, T0 + 5, T0 + 7) + [
        {"process": 4, "type": "ok", "f": "held", "time": ns(T0 + 3), "node": None}]
    (d / "s1_quorum_write.json").write_text(json.dumps(check("s1_quorum_write", T0, T0 + 6, s1)))
    (d / "s4_partition_convergence.json").write_text(json.dumps(check(
        "s4_partition_convergence", T0 + 9, T0 + 12, call("nemesis", T0 + 10, T0 + 11, "heal", latency=False),
        {"time_to_converge_ms": 1176.7})))
    (d / "phase1-node-a.json").write_text(json.dumps(check(
        "phase1-node-a", T0 + 12, T0 + 14,
        [{"process": "node-a", "type": "ok", "f": "cli_store", "time": ns(T0 + 13)}])))
    (d / "phase2.json").write_text(json.dumps(check("phase2", T0 + 14, T0 + 16, [], {
        "burst": {"time_to_converge_p50_ms": 244.5, "time_to_converge_p99_ms": 565.6}})))
    (d / "s2_quorum_not_met.json").write_text("{not json")
    (d / "campaign-summary.json").write_text(json.dumps({"overall_pass": True}))
    return d


# ---------------------------------------------------------------------------------------------- stages
def campaign_play_names() -> list[str]:
    """Every play of campaign.yml (its imports, recursively) and of the teardown playbook."""
    def plays_of(path: Path) -> list[str]:
        out = []
        for entry in yaml.safe_load(path.read_text()) or []:
            target = entry.get("ansible.builtin.import_playbook") or entry.get("import_playbook")
            out += plays_of(path.parent / target) if target else [entry["name"]]
        return out

    return plays_of(ROOT / "campaign.yml") + plays_of(ROOT / "playbooks" / "teardown.yml")


def test_every_play_of_the_campaign_has_a_stage() -> None:
    names = campaign_play_names()
    assert len(names) >= 10
    assert {n: bench.stage_of(n) for n in names if bench.stage_of(n) == "other"} == {}
    assert set(map(bench.stage_of, names)) == set(bench.STAGES)


@pytest.mark.parametrize(("name", "stage"), [
    ("Validate the campaign inputs", "validate"),
    ("Build ai-memory on the build host", "build"),
    ("Provision the swarm hosts", "provision"),
    ("Issue the certificates on the controller", "PKI"),
    ("Deploy the ai-memory nodes", "deploy nodes"),
    ("Deploy PostgreSQL with Apache AGE and pgvector (for S5 and ship-gate phase 3)", "deploy PostgreSQL"),
    ("Prepare the client host for the checks", "client"),
    ("Open the evidence directory and declare the checks", "checks"),
    ("Ship-gate phase 3 on the PostgreSQL host (SQLite to PostgreSQL and back, every row compared)", "checks"),
    ("Run the T4 scenarios from the client host", "checks"),
    ("Run the scenarios that run on every peer (ship-gate phase 1)", "checks"),
    ("Judge the campaign and tear down", "verdict"),
    ("Tear down a campaign's swarm", "teardown"),
    ("Something new", "other"),
])
def test_stage_of(name: str, stage: str) -> None:
    assert bench.stage_of(name) == stage


def test_stage_times_group_plays_and_move_the_teardown_out_of_the_verdict_play() -> None:
    stages = bench.stage_times(plays([("Judge the campaign and tear down", 9.0), ("Something new", 1.5)]),
                               teardown_seconds=4.0)
    assert list(stages)[:len(bench.STAGES)] == list(bench.STAGES)
    assert stages["build"] == 1.0 and stages["checks"] == 20.0 and stages["PKI"] == 30.0
    assert stages["verdict"] == 5.0 and stages["teardown"] == 4.0 and stages["other"] == 1.5
    # a teardown longer than the verdict play (clocks apart) takes the whole play, never a negative verdict
    assert bench.stage_times(plays([("Judge the campaign and tear down", 2.0)]), 4.0)["verdict"] == 0.0
    assert bench.stage_times([], None) == dict.fromkeys(bench.STAGES, 0.0)


# ---------------------------------------------------------------------------------------------- waiting
def test_op_intervals_from_latencies_and_invoke_pairs() -> None:
    history = call(0, 10, 12) + call(1, 11, 15, latency=False) + [
        {"process": 2, "type": "invoke", "time": ns(20)},  # never completed
        {"process": 3, "type": "ok", "time": ns(21)},  # an observation: no duration
        {"process": 4, "type": "ok", "time": "garbled"}]
    intervals, unknown = bench.op_intervals(history)
    assert [(round(a, 6), round(b, 6)) for a, b in intervals] == [(10, 12), (11, 15)]
    assert unknown == 2


def test_union_and_clip() -> None:
    assert bench.union_seconds([(0, 2), (1, 3), (5, 6), (5.5, 5.7)]) == pytest.approx(4.0)
    assert bench.union_seconds([]) == 0.0
    assert bench.clip([(0, 2), (5, 7), (8, 9)], 1, 6) == [(1, 2), (5, 6)]


def test_waiting_share_counts_concurrent_ops_once_within_each_window(evidence: Path) -> None:
    w = bench.waiting_share(bench.check_files(evidence), checks_wall=20.0)
    # S1: 0-3 s (two concurrent ops) + 5-6 s (clipped at its window's end) = 4 s; S4: 1 s (invoke to completion)
    assert w["waiting_seconds"] == pytest.approx(5.0)
    assert w["rest_seconds"] == pytest.approx(15.0) and w["waiting_share"] == pytest.approx(0.25)
    s1 = w["per_check"]["s1_quorum_write"]
    assert s1["waiting_seconds"] == pytest.approx(4.0) and s1["latency_sum_seconds"] == pytest.approx(5.0)
    assert s1["ops_with_duration"] == 3 and s1["ops_without_duration"] == 1 and s1["window_seconds"] == 6.0
    assert w["checks_without_op_durations"] == ["phase1-node-a", "phase2"]
    assert "s2_quorum_not_met" not in w["per_check"]  # unreadable evidence is left out
    assert bench.waiting_share({}, 0.0)["waiting_share"] is None


def test_convergence_with_and_without_phase2(evidence: Path) -> None:
    checks = bench.check_files(evidence)
    assert bench.convergence(checks) == {"s4_time_to_converge_ms": 1176.7,
                                         "phase2_burst_time_to_converge_p50_ms": 244.5,
                                         "phase2_burst_time_to_converge_p99_ms": 565.6}
    del checks["phase2"]
    assert bench.convergence(checks)["phase2_burst_time_to_converge_p99_ms"] is None


# ---------------------------------------------------------------------------------------------- evidence dir
def test_figures_from_an_evidence_dir(evidence: Path) -> None:
    f = bench.figures_from_evidence(evidence)
    assert f["deploy_seconds"] == 130.0 and f["checks_seconds"] == 20.0
    assert f["stages_seconds"]["verdict"] == 0.0  # the evidence's plays.json is copied before the verdict ends
    assert f["plays_total_seconds"] == pytest.approx(166.0)
    assert f["waiting"]["waiting_share"] == pytest.approx(0.25)
    assert f["convergence"]["s4_time_to_converge_ms"] == 1176.7
    assert f["overall_pass"] is True and f["unknown_plays"] == [] and f["failed_plays"] == []
    assert "s2_quorum_not_met" not in f["checks"]


def test_figures_from_the_play_timers_own_file(evidence: Path) -> None:
    full = plays([("Judge the campaign and tear down", 6.0)])
    full[6]["failed"] = True
    f = bench.figures_from_evidence(evidence, plays=full, teardown_seconds=2.5)
    assert f["stages_seconds"]["verdict"] == 3.5 and f["stages_seconds"]["teardown"] == 2.5
    assert f["plays_total_seconds"] == pytest.approx(172.0)
    assert f["failed_plays"] == ["Deploy the ai-memory nodes"]


def test_figures_of_a_campaign_that_left_nothing(tmp_path: Path) -> None:
    f = bench.figures_from_evidence(tmp_path / "missing")
    assert f["plays_total_seconds"] == 0.0 and f["checks"] == [] and f["overall_pass"] is None
    assert f["waiting"]["waiting_share"] is None


# ---------------------------------------------------------------------------------------------- inputs
def test_peers_are_refused_outside_what_the_campaign_accepts() -> None:
    assert bench.parse_peers("3,5,7") == [3, 5, 7]
    for bad in ("8", "3,9", "2", "", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.parse_peers(bad)
    assert [bench.majority(n) for n in (3, 4, 5, 6, 7)] == [2, 3, 3, 4, 4]


def test_free_subnets_skip_routes_in_use() -> None:
    routes = [{"dst": "default"}, {"dst": "10.244.128.0/24"}, {"dst": "198.128.0.0/15"}, {"dst": "10.244.129.0/25"}]
    args = bench.free_subnets(routes, public_template="198.{}.0.0/24")
    assert args == ["-e", "campaign_vpc_subnet=10.244.130.0/24", "-e", "campaign_public_subnet=198.130.0.0/24"]
    # from the start on, then around: the last /24 free is the one before the start
    taken = [{"dst": f"10.9.{i}.0/24"} for i in range(256) if i != 3] + [{"dst": "10.8.0.0/16"}]
    assert bench.free_subnets(taken, "10.9.{}.0/24", "10.7.{}.0/24")[1] == "campaign_vpc_subnet=10.9.3.0/24"
    with pytest.raises(SystemExit, match="no free /24 for campaign_public_subnet"):
        bench.free_subnets(taken, "10.9.{}.0/24", "10.8.{}.0/24")


def test_machine_cgroup_is_found_by_its_escaped_unit_name(tmp_path: Path) -> None:
    unit = tmp_path / "machine-aimem\\x2dabc123\\x2dnode\\x2da.scope"
    unit.mkdir()
    assert bench.machine_cgroup("aimem-abc123-node-a", [tmp_path]) is None  # no memory figure in it
    (unit / "memory.peak").write_text("1048576\n")
    assert bench.machine_cgroup("aimem-abc123-node-a", [tmp_path / "nowhere", tmp_path]) == unit
    assert bench.machine_cgroup("aimem-abc123-node-b", [tmp_path]) is None


def test_report_and_plot(evidence: Path, tmp_path: Path) -> None:
    result = {"peers": 3, "quorum_writes": 2, "sut": "standin", "campaign_id": "bench-3-1", "rc": 0,
              "image_warm": True, "other_playbooks_at_start": 0, "load_average_at_start": [0.5, 0.4, 0.3],
              "command_seconds": 170.0, "commit": "abc1234", **bench.figures_from_evidence(evidence),
              "memory": {"controller_peak_rss_bytes": 200 * 2**20, "controller_tree_peak_pss_bytes": 300 * 2**20,
                         "all_hosts_peak_bytes": 600 * 2**20,
                         "hosts": {"node-a": {"method": "sum of the host's processes' PSS, sampled",
                                              "peak_bytes": 100 * 2**20, "peak_rss_sum_bytes": 0, "samples": 3}}}}
    text = "\n".join(bench.report(result))
    assert "GREEN" in text and "deploy (PKI..client)    130.0 s" in text
    assert "5.0 s (25 %) waiting on the system under test" in text
    assert "S4 1177 ms" in text and "phase 2 p99 566 ms" in text and "node-a 100 MiB" in text
    svg = tmp_path / "bench.svg"
    bench.plot([result, {**result, "peers": 5, "deploy_seconds": 150.0}], svg)
    assert svg.read_text().lstrip().startswith("<?xml") and "Time to converge" in svg.read_text()


def test_descendants_and_a_sampler_that_finds_no_host() -> None:
    children = {1: [2, 3], 2: [4], 4: [5], 9: [10]}
    assert sorted(bench._descendants(1, children)) == [2, 3, 4, 5]
    assert bench._descendants(7, children) == []
    # a campaign with no running host (this reads /proc, boots nothing): no host, this process's memory only
    sampler = bench.MemorySampler("bench-none-0", controller_pid=bench.os.getpid(), deadline=0.0)
    sampler.sample()
    assert sampler.hosts == {} and sampler.all_hosts_peak_bytes == 0
    assert sampler.controller_tree_peak_pss_bytes > 0
    sampler.start()  # past its deadline: the thread ends at once
    sampler.stop()
