"""Quorum writes, shortfall, catch-up and the federation fault switches, on real 3-node mTLS clusters."""

from __future__ import annotations

import signal
import time

from tests.standin.cluster import AGENT, Cluster, wait_for


def write(node, title: str, ns: str = "t", scope: str | None = "collective"):  # type: ignore[no-untyped-def]
    body = {"title": title, "content": f"content of {title}", "namespace": ns}
    if scope:
        body["scope"] = scope
    return node.request("POST", "/api/v1/memories", body)


def on_node(node, mem_id: str) -> bool:  # type: ignore[no-untyped-def]
    return node.request("GET", f"/api/v1/memories/{mem_id}").status == 200


def test_quorum_write_reaches_every_peer(cluster: Cluster) -> None:
    resp = write(cluster.nodes[0], "s1")
    assert resp.status == 201, resp.body
    assert 2 <= resp.body["quorum_acks"] <= 3
    assert set(resp.body) >= {"id", "tier", "namespace", "title", "agent_id"}
    for node in cluster.nodes[1:]:
        assert wait_for(lambda n=node: on_node(n, resp.body["id"]), 5)
        got = node.request("GET", f"/api/v1/memories/{resp.body['id']}").body["memory"]
        assert got["content"] == "content of s1" and got["metadata"]["agent_id"] == AGENT


def test_shortfall_is_503_with_exact_body_and_local_write_kept(cluster: Cluster) -> None:
    for node in cluster.nodes[1:]:
        node.stop(signal.SIGKILL)
    resp = write(cluster.nodes[0], "s2")
    assert resp.status == 503
    assert resp.headers["retry-after"] == "2"
    assert resp.body == {"error": "quorum_not_met", "got": 1, "needed": 2, "reason": "timeout"}
    listed = cluster.nodes[0].request("GET", "/api/v1/memories?namespace=t").body
    assert [m["title"] for m in listed["memories"]] == ["s2"]


def test_as_0_10_0_the_shortfall_is_202_with_the_replication_state(make_cluster) -> None:  # type: ignore[no-untyped-def]
    # 0.8.1 on (src/handlers/parity.rs under_replicated_response): the local write is durable, so 202
    cluster = make_cluster(env={"AI_MEMORY_STANDIN_RELEASE": "0.10.0", "AI_MEMORY_REQUIRE_AGENT_ATTESTATION": "0"})
    for node in cluster.nodes[1:]:
        node.stop(signal.SIGKILL)
    resp = write(cluster.nodes[0], "s2")
    assert resp.status == 202 and "retry-after" not in resp.headers
    assert resp.body == {"quorum_met": False, "acks": 1, "needed": 2, "reason": "timeout", "durability": "local"}
    listed = cluster.nodes[0].request("GET", "/api/v1/memories?namespace=t").body
    assert [m["title"] for m in listed["memories"]] == ["s2"]


def test_paused_peers_give_unreachable(make_cluster) -> None:  # type: ignore[no-untyped-def]
    cluster = make_cluster(timeout_ms=600)
    for node in cluster.nodes[1:]:
        node.signal(signal.SIGSTOP)
    try:
        resp = write(cluster.nodes[0], "paused")
        assert resp.status == 503 and resp.body["reason"] == "unreachable" and resp.body["got"] == 1
    finally:
        for node in cluster.nodes[1:]:
            node.signal(signal.SIGCONT)


def test_a_paused_peer_never_delays_the_others_acks(make_cluster) -> None:  # type: ignore[no-untyped-def]
    """Each write waits for W, not for the slowest peer: with one peer SIGSTOPped, many writes in a row (more
    than any bounded fan-out pool can hold hanging pushes for) are all 201 with the other peer's ack."""
    from concurrent.futures import ThreadPoolExecutor

    cluster = make_cluster(timeout_ms=1000)
    paused = cluster.nodes[2]
    paused.signal(signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda i: write(cluster.nodes[0], f"pause-{i}"), range(60)))
        assert [r.status for r in results] == [201] * 60, [r.body for r in results if r.status != 201][:3]
        assert all(r.body["quorum_acks"] == 2 for r in results)
    finally:
        paused.signal(signal.SIGCONT)
    last = results[-1].body["id"]
    assert wait_for(lambda: on_node(paused, last), 15), "the resumed peer never got the writes"


def test_one_peer_down_still_201_and_catch_up_after_restart(cluster: Cluster) -> None:
    down = cluster.nodes[2]
    down.stop(signal.SIGKILL)
    resp = write(cluster.nodes[0], "one-down")
    assert resp.status == 201 and resp.body["quorum_acks"] == 2
    assert on_node(cluster.nodes[1], resp.body["id"])
    down.start()
    down.wait_healthy()
    assert wait_for(lambda: on_node(down, resp.body["id"]), 10), "restarted peer never caught up"


def test_fault_drop_fanout_loses_the_third_copy(make_cluster) -> None:  # type: ignore[no-untyped-def]
    cluster = make_cluster(faults="drop_fanout")
    resp = write(cluster.nodes[0], "dropped")
    assert resp.status == 201
    assert wait_for(lambda: on_node(cluster.nodes[1], resp.body["id"]), 5)
    assert not wait_for(lambda: on_node(cluster.nodes[2], resp.body["id"]), 3), "catch-up healed a dropped write"
    assert cluster.nodes[0].request("GET", "/api/v1/health").body["standin_faults"] == ["drop_fanout"]


def test_fault_phantom_ack_and_ack_without_quorum(make_cluster) -> None:  # type: ignore[no-untyped-def]
    # phantom_ack: a dead peer's failed push counts as an ack (got = 1 + acks at finalise: 2 or 3)
    for fault, acks in (("phantom_ack", {2, 3}), ("ack_without_quorum", {1})):
        cluster = make_cluster(faults=fault)
        for node in cluster.nodes[1:]:
            node.stop(signal.SIGKILL)
        resp = write(cluster.nodes[0], f"{fault}-w")
        assert resp.status == 201, fault
        assert resp.body["quorum_acks"] in acks, fault
        cluster.stop()


def test_fault_no_catchup_never_heals(make_cluster) -> None:  # type: ignore[no-untyped-def]
    cluster = make_cluster(faults="no_catchup")
    down = cluster.nodes[2]
    down.stop(signal.SIGKILL)
    resp = write(cluster.nodes[0], "never-healed")
    assert resp.status == 201
    time.sleep(0.6)  # let the one push retry (after 250 ms) fail against the stopped peer
    down.start()
    down.wait_healthy()
    assert not wait_for(lambda: on_node(down, resp.body["id"]), 4)


def test_sync_since_default_deny_without_trust(cluster: Cluster) -> None:
    node = cluster.nodes[0]
    write(node, "since")
    doc = node.request("GET", "/api/v1/sync/since?limit=10").body
    assert doc["scope_status"] == "legacy_bypass" and doc["count"] >= 1
    bad = node.request("GET", "/api/v1/sync/since?since=yesterday")
    assert bad.status == 400


def test_graceful_sigint_exits_zero(cluster: Cluster) -> None:
    node = cluster.nodes[1]
    assert node.stop(signal.SIGINT) == 0


def test_restarted_peer_does_not_cost_a_quorum(cluster: Cluster) -> None:
    """A peer restart leaves stale pooled connections on the leader; they must not turn into 503s."""
    leader, restarted, stopped = cluster.nodes
    for i in range(4):
        assert write(leader, f"warm-{i}").status == 201  # pool connections to both peers
    restarted.stop(signal.SIGKILL)
    restarted.start()
    restarted.wait_healthy()
    stopped.signal(signal.SIGSTOP)  # only the restarted peer can complete the quorum
    try:
        resp = write(leader, "after-restart")
        assert resp.status == 201, resp.body
    finally:
        stopped.signal(signal.SIGCONT)


def test_a_bulk_create_through_a_federated_node_is_200_and_replicated(cluster: Cluster) -> None:
    """A federated node once answered 500 to a bulk create after writing locally (issue 17)."""
    rows = [{"title": f"bulk-{i}", "content": "bulk", "namespace": "bulk", "scope": "collective"} for i in range(5)]
    resp = cluster.nodes[1].request("POST", "/api/v1/memories/bulk", rows)
    assert resp.status == 200 and resp.body == {"created": 5, "errors": []}, resp.body
    for node in cluster.nodes:
        assert wait_for(lambda n=node: len(n.request("GET", "/api/v1/memories?namespace=bulk&limit=50")
                                           .body["memories"]) == 5, 10)


def test_a_row_stamped_in_the_future_does_not_move_the_catch_up_watermark_past_now(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A clock-skewed peer's row (stamped 300 s ahead) once moved the watermark past it, so a row written after
    it but stamped earlier was never pulled by catch-up (issue 17). The watermark now stops at this node's now."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "standin"))  # the package as its zipapp runs it
    from ai_memory_standin.federation import Federation
    from ai_memory_standin.models import new_memory, ns_of, render_ns, stamp
    from ai_memory_standin.store import open_store

    store = open_store(str(tmp_path / "w.db"))
    fed = Federation(store=store, peers=["http://127.0.0.1:9"], writes=2, timeout_ms=500, catchup_secs=60,
                     ctx=None, api_key=None, hostname="t", faults=frozenset(), sync_trust_peer=True)
    ahead = {**new_memory({"title": "future", "content": "skewed", "namespace": "w", "scope": "collective"}, AGENT)}
    ahead["updated_at"] = ahead["created_at"] = render_ns(ns_of(stamp()) + 300 * 10**9)
    served: list[dict] = [ahead]

    class Peer:
        id = "peer-0"

        def request(self, method, path, body, headers):  # type: ignore[no-untyped-def]
            query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
            since = query.get("since", "").replace("%3A", ":").replace("%2B", "+")
            rows = [m for m in served if not since or ns_of(m["updated_at"]) >= ns_of(since)]
            rows.sort(key=lambda m: ns_of(m["updated_at"]))
            return 200, json.dumps({"memories": rows, "latest_updated_at": rows[-1]["updated_at"] if rows
                                    else None}).encode()

    try:
        fed.catch_up(Peer())  # type: ignore[arg-type]
        assert ns_of(store.watermark("peer-0")) <= ns_of(stamp())  # not 300 s ahead
        # written after that catch-up by an honest clock, so stamped before the skewed row: only catch-up brings it
        served.append(new_memory({"title": "later", "content": "written after", "namespace": "w",
                                  "scope": "collective"}, AGENT))
        fed.catch_up(Peer())  # type: ignore[arg-type]
        assert store.get(served[1]["id"]) is not None, "a row only catch-up could deliver was never pulled"
    finally:
        fed.stop(0)
        store.close()


def test_a_replicated_update_may_lower_a_priority_and_concurrent_updates_settle_on_the_later(
        cluster: Cluster) -> None:
    """The stand-in once kept the greater priority when it applied a peer's update (0.7.0's finding
    update-cannot-lower-priority, which the stand-in does not imitate), and answered an update with the row as the
    fan-out left it, so two concurrent updates through two nodes could both answer the other's stamp."""
    from concurrent.futures import ThreadPoolExecutor

    body = {"title": "prio", "content": "high", "namespace": "u", "scope": "collective", "priority": 9}
    created = cluster.nodes[0].request("POST", "/api/v1/memories", body)
    assert created.status == 201, created.body
    mem_id = created.body["id"]
    lowered = cluster.nodes[1].request("PUT", f"/api/v1/memories/{mem_id}", {"priority": 2})
    assert lowered.status == 200 and lowered.body["priority"] == 2, lowered.body

    def priority(node) -> int | None:  # type: ignore[no-untyped-def]
        got = node.request("GET", f"/api/v1/memories/{mem_id}")
        return got.body["memory"]["priority"] if got.status == 200 else None

    for node in cluster.nodes:
        assert wait_for(lambda n=node: priority(n) == 2, 5), (node, priority(node))
    # two updates at once through two nodes: each answers its own write; every node ends with the later one
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda i: cluster.nodes[i].request("PUT", f"/api/v1/memories/{mem_id}",
                                                                  {"content": f"through {i}"}), (0, 2)))
    assert [a.status for a in answers] == [200, 200]
    assert [a.body["content"] for a in answers] == ["through 0", "through 2"]
    later = max(answers, key=lambda a: (a.body["updated_at"], a.body["id"])).body["content"]

    def content(node) -> str | None:  # type: ignore[no-untyped-def]
        got = node.request("GET", f"/api/v1/memories/{mem_id}")
        return got.body["memory"]["content"] if got.status == 200 else None

    for node in cluster.nodes:
        assert wait_for(lambda n=node: content(n) == later, 5), (node, content(node), later)



def test_a_deleted_memory_is_not_brought_back_by_a_late_copy(cluster: Cluster) -> None:
    """The stand-in had no tombstones (as 0.7.0 has none: finding delete-undone-by-replication, not imitated): a
    peer that took a memory's delete before the memory's own push (a retried push, a catch-up) applied the late
    copy, and catch-up copied it back to the others. The receive path, as a peer drives it: the deletion first,
    then the memory; and a memory deleted through the API, pushed again."""
    node = cluster.nodes[2]
    mem = node.request("POST", "/api/v1/memories", {"title": "kept", "content": "x", "namespace": "tomb",
                                                     "scope": "collective"})
    assert mem.status == 201
    row = node.request("GET", f"/api/v1/memories/{mem.body['id']}").body["memory"]
    ghost = {**row, "id": "0" * 8 + row["id"][8:], "title": "ghost"}
    push = {"sender_agent_id": "ai:peer-test"}
    first = node.request("POST", "/api/v1/sync/push", {**push, "memories": [], "deletions": [ghost["id"]]})
    assert first.status == 200, first.body
    late = node.request("POST", "/api/v1/sync/push", {**push, "memories": [ghost]})
    assert late.status == 200 and late.body["applied"] == 0, late.body
    assert not on_node(node, ghost["id"])
    assert node.request("DELETE", f"/api/v1/memories/{row['id']}").status == 200
    again = node.request("POST", "/api/v1/sync/push", {**push, "memories": [row]})
    assert again.status == 200 and again.body["applied"] == 0, again.body
    assert not on_node(node, row["id"])
