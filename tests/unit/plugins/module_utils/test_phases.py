"""Ship-gate phase 2 (federation) and phase 4 (chaos) checkers on hand-written histories."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.plugins.module_utils.history_builder import SHORT, H
from tests.unit.plugins.module_utils.test_checkers import has, judged

NODES = ["node-a", "node-b", "node-c"]
AGENTS = ["ai:agent-1", "ai:agent-2"]
P2 = {"w": 2, "n": 3, "nodes": NODES, "leader": "node-a", "agents": AGENTS, "writes_per_agent": 3,
      "namespace": "p2"}


# ---------------------------------------------------------------- phase 2: federation


def p2_history(burst_status: int = 201, leaders: list[str] | None = None, lose_in_burst: bool = False,
               probe2_status: int = 503, probe1_on_c: bool = True, catch_up: bool = True,
               agents: list[str] | None = None) -> H:
    h = H("p2")
    titles = []
    agents = agents or AGENTS
    for i in range(6):
        node = (leaders or NODES)[i % len(leaders or NODES)]
        title = f"p2-{i:05d}"
        h.write(title, node=node, agent=agents[i % len(agents)], step="burst",
                status=201 if i else burst_status)
        titles.append(title)
    acked = titles if burst_status == 201 else titles[1:]
    for node in NODES:  # a first round while writes were still arriving, then the full one
        h.read(node, acked[:3], step="burst_converge")
    for node in NODES:
        h.read(node, [t for t in acked if not (lose_in_burst and node == "node-c" and t == acked[-1])],
               step="burst_converge")
    h.event("stop", ["node-b"])
    h.write("probe1-00000", node="node-a", step="probe1", acks=2)
    h.read("node-a", [*acked, "probe1-00000"], step="probe1")
    h.read("node-c", acked + (["probe1-00000"] if probe1_on_c else []), step="probe1")
    h.event("stop", ["node-c"])
    if probe2_status == 503:
        h.write("probe2-00000", node="node-a", step="probe2", status=503, body=SHORT, retry_after="2")
    else:
        h.write("probe2-00000", node="node-a", step="probe2", acks=2)
    h.read("node-a", [*acked, "probe1-00000", "probe2-00000"], step="probe2")
    h.event("restart", ["node-b", "node-c"])
    everything = [*acked, "probe1-00000", "probe2-00000"]
    for node in NODES:
        seen = everything if catch_up or node == "node-a" else acked
        h.read(node, seen, step="after_restart")
    return h


def test_federation_passes_with_shipgate_keys_and_percentiles() -> None:
    result = judged("federation", p2_history().ops, P2)
    assert result["valid"], result["reasons"]
    assert result["shipgate"] == {"phase": 2, "total_writes": 6, "ok": 6, "quorum_not_met": 0, "fail": 0,
                                  "counts": {"a": 6, "b": 6, "c": 6}, "probe1_single_peer_down": "201",
                                  "probe2_both_peers_down": "503"}
    burst = result["burst"]
    assert burst["by_agent"] == {"ai:agent-1": 3, "ai:agent-2": 3}
    assert burst["time_to_converge_p50_ms"] is not None and burst["time_to_converge_p99_ms"] is not None
    assert 0 < burst["time_to_converge_p50_ms"] <= burst["time_to_converge_p99_ms"]
    assert result["figures"]["burst_writes_acknowledged"]["numerator"] == 6
    assert result["figures"]["burst_writes_with_time_to_converge"]["denominator"] == 6


def test_federation_fail_bucket_is_red() -> None:
    result = judged("federation", p2_history(burst_status=400).ops, P2)
    assert not result["valid"]
    assert has(result, "burst: 5 of 6 writes acknowledged with every peer up: quorum_not_met 0, fail 1")
    assert result["shipgate"]["fail"] == 1


def test_federation_quorum_not_met_with_every_peer_up_is_red() -> None:
    h = p2_history()
    for op in h.ops:  # the first burst write answered 503 although every peer was up
        if op.get("step") == "burst" and op["type"] == "ok" and op["value"]["title"] == "p2-00000":
            op.update(type="info", status=503, response=SHORT, headers={"retry-after": "2"})
    result = judged("federation", h.ops, P2)
    assert has(result, "quorum_not_met 1")


def test_federation_lost_write_in_the_burst() -> None:
    result = judged("federation", p2_history(lose_in_burst=True).ops, P2)
    assert has(result, "burst: 1 acknowledged write(s) missing in the burst")
    assert result["shipgate"]["counts"]["c"] == 5


def test_federation_needs_every_peer_as_leader_and_every_agent() -> None:
    result = judged("federation", p2_history(leaders=["node-a"]).ops, P2)
    assert has(result, "every peer must lead writes")
    result = judged("federation", p2_history().ops, {**P2, "agents": [*AGENTS, "ai:agent-3"]})
    assert has(result, "agent(s) ['ai:agent-3'] wrote nothing")
    assert has(result, "6 of 9 planned writes")


def test_federation_probe2_acknowledged_without_quorum() -> None:
    result = judged("federation", p2_history(probe2_status=201).ops, P2)
    assert has(result, "probes: 1 of 1 shortfall write(s) not answered per contract")
    assert result["shipgate"]["probe2_both_peers_down"] == "201"


def test_federation_probe1_missing_on_the_live_peer_and_no_catch_up() -> None:
    result = judged("federation", p2_history(probe1_on_c=False).ops, P2)
    assert has(result, "missing on a live node")
    result = judged("federation", p2_history(catch_up=False).ops, P2)
    assert has(result, "after restart")


def test_federation_with_no_writes_is_red() -> None:
    h = H("p2")
    for node in NODES:
        h.read(node, [], step="burst_converge")
    result = judged("federation", h.ops, P2)
    assert has(result, "burst: no write was attempted")
    assert has(result, "probes:")


# ---------------------------------------------------------------- phase 4: chaos

CLASSES = ["kill_primary_mid_write", "partition_minority", "drop_random_acks", "clock_skew_peer"]
P4 = {"nodes": NODES, "w": 2, "n": 3, "classes": CLASSES, "cycles": 1, "writes_per_cycle": 4, "skew_offset_s": 300}


def clock(h: H, node: str, offset: float | None) -> None:
    h._add(process="prober", type="ok" if offset is not None else "fail", f="clock", node=node,
           value={"offset_s": offset, "date": None}, status=200)


def cycle(h: H, klass: str, k: int = 1, *, lose: bool = False, cut: bool = True, minority_acked: bool = False,
          skew_seen: float = 300.4, acked: bool = True, observed: Any = "auto") -> None:
    ns = f"p4-{klass}-{k}"
    h.namespace = ns
    targets = {"kill_primary_mid_write": "node-a", "drop_random_acks": "node-b"}
    target = targets.get(klass, "node-c")
    h.event("cycle", {"class": klass, "cycle": k, "namespace": ns, "target": target})
    titles: list[str] = []

    def ok(title: str, node: str = "node-a") -> None:
        h.write(title, node=node, step=ns, status=201 if acked else 400)
        if acked:
            titles.append(title)

    if klass == "kill_primary_mid_write":
        ok(f"{ns}-0")
        ok(f"{ns}-1")
        if cut:
            h.write(f"{ns}-2", node="node-a", step=ns, status=None, error_class="reset")
            at = h.ops[-1]["time"]
        else:
            at = h.ops[-1]["time"] + 1
        h.event("kill", ["node-a"], at=at, observed=observed)
        h.write(f"{ns}-3", node="node-a", step=ns, status=None, error_class="connect_refused",
                refused_before_request=True)
        h.event("restart", ["node-a"])
    elif klass == "partition_minority":
        h.event("partition", {"nodes": ["node-c"], "from": ["node-a", "node-b"]}, node="node-c", observed=observed)
        ok(f"{ns}-0", "node-a")
        ok(f"{ns}-1", "node-b")
        if minority_acked:
            h.write(f"{ns}-2", node="node-c", step=ns)
        else:
            h.write(f"{ns}-2", node="node-c", step=ns, status=503, body=SHORT, retry_after="2")
        h.event("heal", node="node-c")
    elif klass == "drop_random_acks":
        ok(f"{ns}-0")
        h.event("pause", ["node-b"], observed=observed)
        ok(f"{ns}-1")
        ok(f"{ns}-2")
        h.event("resume", ["node-b"])
    else:
        h.event("skew", {"nodes": ["node-c"], "offset_s": 300}, node="node-c")
        for node in NODES:
            clock(h, node, skew_seen if node == "node-c" else 0.2)
        ok(f"{ns}-0", "node-a")
        ok(f"{ns}-1", "node-c")
        h.event("unskew", node="node-c")
    for node in NODES:
        h.read(node, [t for t in titles if not (lose and node == "node-b" and t == titles[-1])], step=f"{ns}-c")


def chaos_history(**kwargs: Any) -> H:
    h = H()
    for klass in CLASSES:
        cycle(h, klass, **kwargs.get(klass, {}))
    return h


def test_chaos_passes_with_bounds_and_shipgate_keys() -> None:
    result = judged("chaos", chaos_history().ops, P4)
    assert result["valid"], result["reasons"]
    assert result["shipgate"] == {"phase": 4, "cycles_per_fault": 1, "writes_per_cycle": 4,
                                  "convergence_by_fault": {c: 1.0 for c in CLASSES},
                                  "shipgate_bound_threshold": 0.995, "bound_threshold_judged": 1.0}
    kill = result["classes"]["kill_primary_mid_write"]["cycles"][0]
    assert kill["writes_cut_by_the_kill"] == 1 and kill["ok"] == 2 and kill["fail"] == 2
    assert result["classes"]["partition_minority"]["cycles"][0]["minority_refused"] == 1
    assert result["figures"]["clock_skew_peer_convergence_bound"]["numerator"] == 2


def test_kill_between_requests_is_not_mid_write() -> None:
    result = judged("chaos", chaos_history(kill_primary_mid_write={"cut": False}).ops, P4)
    assert has(result, "kill_primary_mid_write: cycle 1: no write was in flight when the primary was killed")


def test_partition_minority_write_acknowledged_is_red() -> None:
    result = judged("chaos", chaos_history(partition_minority={"minority_acked": True}).ops, P4)
    assert has(result, "write(s) to the isolated node not refused with 503 quorum_not_met (the release's quorum "
                       "shortfall)")


def test_lost_write_after_heal_lowers_the_bound() -> None:
    result = judged("chaos", chaos_history(drop_random_acks={"lose": True}).ops, P4)
    assert has(result, "drop_random_acks: cycle 1: 1 acknowledged write(s) missing after heal")
    assert result["shipgate"]["convergence_by_fault"]["drop_random_acks"] == 0.666
    fig = result["figures"]["drop_random_acks_convergence_bound"]
    assert (fig["numerator"], fig["denominator"]) == (2, 3)


@pytest.mark.parametrize(("klass", "observed", "shown"), [
    ("kill_primary_mid_write", None, "kill op 7 of ['node-a']: the fault was declared but not observed to take "
                                     "effect (no observation recorded)"),
    ("kill_primary_mid_write", {"gone": False, "pid": 9}, "(gone: False)"),
    ("partition_minority", {"blocked": False, "probes": [{"outcome": "connected", "baseline": "connected"}]},
     "partition op 1 of ['node-c']: the fault was declared but not observed to take effect (blocked: False)"),
    ("drop_random_acks", None, "pause op 3 of ['node-b']: the fault was declared but not observed"),
])
def test_a_fault_not_observed_to_take_effect_did_not_run(klass: str, observed: Any, shown: str) -> None:
    h = H()
    cycle(h, klass, observed=observed)
    result = judged("chaos", h.ops, {**P4, "classes": [klass]})
    assert not result["valid"] and result["classes"][klass]["status"] == "not_run"
    assert has(result, f"{klass}: not run: cycle 1: ") and has(result, shown), result["reasons"]
    assert result["classes"][klass]["cycles"][0]["observed"] == observed


def test_phase2_probes_need_observed_stops_once_asked() -> None:
    ops = p2_history().ops
    for op in ops:
        op.pop("observed", None)
    assert judged("federation", ops, P2)["valid"]  # phase 2's play does not record observations yet
    strict = judged("federation", ops, {**P2, "observed_faults": True})
    assert has(strict, "probes: stop op") and has(strict, "not observed to take effect")
    assert judged("federation", p2_history().ops, {**P2, "observed_faults": True})["valid"]


def test_unmeasured_skew_is_not_run_never_a_pass() -> None:
    result = judged("chaos", chaos_history(clock_skew_peer={"skew_seen": 0.3}).ops, P4)
    assert not result["valid"]
    assert result["classes"]["clock_skew_peer"]["status"] == "not_run"
    assert has(result, "clock_skew_peer: not run")


def test_missing_cycles_and_undeclared_classes() -> None:
    result = judged("chaos", chaos_history().ops, {**P4, "cycles": 2})
    assert has(result, "1 of 2 cycles ran")
    h = H()
    cycle(h, "partition_minority")
    result = judged("chaos", h.ops, P4)
    assert has(result, "kill_primary_mid_write: 0 of 1 cycles ran")


@pytest.mark.parametrize("klass", CLASSES)
def test_zero_acknowledged_writes_is_red_not_a_bound_of_one(klass: str) -> None:
    h = H()
    cycle(h, klass, acked=False)
    result = judged("chaos", h.ops, {**P4, "classes": [klass]})
    assert not result["valid"]
    assert result["shipgate"]["convergence_by_fault"][klass] is None
    assert result["figures"][f"{klass}_convergence_bound"]["denominator"] == 0


def test_a_cycle_that_could_not_complete_is_red() -> None:
    h = H()
    cycle(h, "drop_random_acks")
    h.event("error", {"msg": "pause failed"})
    result = judged("chaos", h.ops, {**P4, "classes": ["drop_random_acks"]})
    assert has(result, "the cycle could not complete: pause failed")
