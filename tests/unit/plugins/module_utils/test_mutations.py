"""Every write kind judged on every node (issue 17): updates and deletes folded into what each node must hold,
the ordering rule among concurrent updates, deleted writes that come back, records that differ between nodes
(with the fields named), acknowledgements that are not held by W nodes right after, bulk creates."""

from __future__ import annotations

from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._ops import apply_mutations, pair_mutations, pair_writes
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.records import (
    Varied,
    agreement,
    clock_digest,
    differing,
    intent_digest,
    replicated_digest,
)

from tests.unit.plugins.module_utils.history_builder import H, mem_id
from tests.unit.plugins.module_utils.test_checkers import has, judged

NODES = ["node-a", "node-b", "node-c"]
S1 = {"w": 2, "n": 3, "nodes": NODES, "held": True}


def update(h: H, title: str, digest: str, node: str = "node-b", status: int = 200,
           updated_at: str = "2026-12-02T10:00:00.000000001+00:00", request: dict[str, Any] | None = None,
           process: int | None = None, complete: bool = True) -> None:
    p = process if process is not None else 1000 + len(h.ops)
    value = {"id": mem_id(title), "title": title, "namespace": h.namespace, "digest": digest, "via": node}
    h._add(process=p, type="invoke", f="update", node=node, value=value,
           request={"method": "PUT", "path": f"/api/v1/memories/{mem_id(title)}", **(request or {})})
    if complete:
        h._add(process=p, type="ok" if status == 200 else "info", f="update", node=node, value=value, status=status,
               response={"id": mem_id(title), "updated_at": updated_at})


def delete(h: H, title: str, node: str = "node-c", status: int = 200) -> None:
    p = 2000 + len(h.ops)
    value = {"id": mem_id(title), "title": title, "namespace": h.namespace, "via": node}
    h._add(process=p, type="invoke", f="delete", node=node, value=value,
           request={"method": "DELETE", "path": f"/api/v1/memories/{mem_id(title)}"})
    h._add(process=p, type="ok" if status == 200 else "info", f="delete", node=node, value=value, status=status,
           response={"deleted": True})


def held(h: H, title: str, kind: str, holders: list[str], others: str = "other(priority)") -> None:
    states = {n: ("absent" if kind == "delete" else "held") if n in holders else others for n in NODES}
    value = {"id": mem_id(title), "title": title, "kind": kind, "holders": holders, "states": states}
    h._add(process=3000 + len(h.ops), type="ok", f="held", value=value)


def found(h: H, titles: dict[str, str], full: dict[str, str] | None = None,
          clock: dict[str, str] | None = None) -> dict[str, list[str | None]]:
    """{id: [title, intent digest, replicated digest, clock digest]} as a read records it."""
    return {mem_id(t): [t, d, (full or {}).get(t, "same"), (clock or {}).get(t)] for t, d in titles.items()}


def read(h: H, node: str, titles: dict[str, str], full: dict[str, str] | None = None,
         clock: dict[str, str] | None = None) -> None:
    h._add(process="reader", type="ok", f="read", node=node, status=200,
           value={"key": "id", "namespace": h.namespace, "count": len(titles), "pages": 1,
                  "found": found(h, titles, full, clock)})


def base(h: H, titles: list[str]) -> dict[str, str]:
    digests = {}
    for t in titles:
        h.write(t)
        held(h, t, "create", NODES)
        digests[t] = h.ops[-3]["value"]["digest"]
    return digests


def test_an_update_folds_into_what_every_node_must_hold() -> None:
    h = H()
    digests = base(h, ["a", "b"])
    update(h, "a", "digest-a2")
    held(h, "a", "update", NODES)
    read_ok = {"a": "digest-a2", "b": digests["b"]}
    for node in NODES:
        read(h, node, read_ok)
    assert judged("quorum_write", h.ops, S1)["valid"]
    stale = H()
    digests = base(stale, ["a", "b"])
    update(stale, "a", "digest-a2")
    held(stale, "a", "update", NODES)
    for node in NODES:
        read(stale, node, {"a": "digest-a2" if node != "node-c" else digests["a"], "b": digests["b"]})
    result = judged("quorum_write", stale.ops, S1)
    assert not result["valid"] and has(result, "present with other content than last written")
    assert result["corrupted"] == [{"id": mem_id("a"), "title": "a", "node": "node-c"}]


def test_concurrent_updates_are_decided_by_the_later_updated_at_and_every_node_must_agree() -> None:
    h = H()
    base(h, ["a"])
    p1, p2 = 10, 11
    # two updates whose invoke/completion intervals overlap, through two peers
    for p, node, digest in ((p1, "node-b", "d-early"), (p2, "node-c", "d-late")):
        value = {"id": mem_id("a"), "title": "a", "namespace": h.namespace, "digest": digest, "via": node}
        h._add(process=p, type="invoke", f="update", node=node, value=value, request={})
    for p, node, digest, stamp in ((p1, "node-b", "d-early", "2026-12-02T10:00:00.000000002+00:00"),
                                   (p2, "node-c", "d-late", "2026-12-02T10:00:00.000000001+00:00")):
        value = {"id": mem_id("a"), "title": "a", "namespace": h.namespace, "digest": digest, "via": node}
        h._add(process=p, type="ok", f="update", node=node, value=value, status=200,
               response={"id": mem_id("a"), "updated_at": stamp})
    writes = pair_writes(h.ops)[0]
    mutations, problems = pair_mutations(h.ops)
    assert problems == [] and apply_mutations(writes, mutations) == []
    assert writes[0].allowed == {"d-early"}  # the later updated_at wins, not the later completion
    for node in NODES:
        read(h, node, {"a": "d-early"})
    assert judged("quorum_write", h.ops, S1)["valid"]
    split = H()
    split.ops = [dict(op) for op in h.ops[:-3]]
    for node in NODES:
        read(split, node, {"a": "d-early" if node != "node-a" else "d-late"})
    assert has(judged("quorum_write", split.ops, S1), "present with other content than last written")


def test_a_deleted_write_must_be_gone_everywhere_and_stay_gone() -> None:
    h = H()
    digests = base(h, ["a", "b"])
    delete(h, "b")
    held(h, "b", "delete", NODES)
    for node in NODES:
        read(h, node, {"a": digests["a"]})
    assert judged("quorum_write", h.ops, S1)["valid"]
    h.event("restart", ["node-a"])
    read(h, "node-a", digests)  # catch-up brought it back on node-a
    result = judged("quorum_write", h.ops, S1)
    assert not result["valid"] and has(result, "1 deleted write(s) held again")
    assert result["resurrected"] == [{"id": mem_id("b"), "title": "b", "node": "node-a"}]


def test_nodes_holding_different_records_of_a_write_are_named_with_the_fields() -> None:
    h = H()
    digests = base(h, ["a"])
    for node in NODES:
        read(h, node, {"a": digests["a"]}, full={"a": "v2" if node == "node-b" else "v1"})
    record = {"id": mem_id("a"), "title": "a", "content": "content of a", "version": 1,
              "updated_at": "2026-12-02T10:00:00+00:00"}
    for node in NODES:
        other = {**record, "version": 2} if node == "node-b" else record
        h._add(process="reader", type="ok", f="get", node=node, status=200,
               value={"id": mem_id("a"), "found": ["a", digests["a"], "v2" if node == "node-b" else "v1"],
                      "record": other})
    result = judged("quorum_write", h.ops, S1)
    assert not result["valid"] and has(result, "1 write(s) whose nodes hold different records, differing in "
                                               "version: a on node-a, node-b, node-c")


def test_an_acknowledgement_not_held_by_w_nodes_right_after_is_red_and_says_what_they_held() -> None:
    h = H()
    digests = base(h, ["a"])
    update(h, "a", "d2")
    held(h, "a", "update", ["node-b"])
    for node in NODES:
        read(h, node, {"a": "d2"})
    result = judged("quorum_write", h.ops, S1)
    assert not result["valid"]
    assert has(result, "1 update acknowledgement(s) held by fewer than W=2 node(s) right after the ack, the others "
                       "holding other(priority): a held by ['node-b']")
    assert (result["figures"]["acks_held_by_w_right_after"]["numerator"],
            result["figures"]["acks_held_by_w_right_after"]["denominator"]) == (1, 2)
    # an acknowledged write whose held op is missing proves nothing: red
    h2 = H()
    h2.write("a")
    for node in NODES:
        read(h2, node, {"a": digests["a"]})
    assert has(judged("quorum_write", h2.ops, S1), "1 acknowledged write(s) never read right after their ack")


def test_a_bulk_create_that_answers_500_after_writing_is_red() -> None:
    h = H()
    value = {"title": "bk-0", "namespace": h.namespace, "digest": "dbk", "scope": "collective", "agent_id": "x"}
    h._add(process="bulk-0-0", type="invoke", f="write", node="node-a", step="bulk", value=value, request={})
    h._add(process="bulk-0-0", type="info", f="write", node="node-a", step="bulk", value=value, status=500,
           response={"error": "internal"})
    for node in NODES:
        read(h, node, {})
    result = judged("quorum_write", h.ops, {**S1, "held": False})
    assert has(result, "bk-0: bulk create through node-a answered 500")


def test_records_intent_and_replicated_digests() -> None:
    body = {"title": "t", "content": "c", "namespace": "n", "tier": "mid", "tags": ["x"], "priority": 3,
            "source": "api", "scope": "team", "metadata": {"w_seq": 1}}
    stored = {**{k: v for k, v in body.items() if k != "scope"}, "id": "i",
              "metadata": {"w_seq": 1, "scope": "team", "agent_id": "ag"},
              "access_count": 7, "version": 1, "created_at": "2026-12-02T10:00:00.123456789+00:00"}
    assert intent_digest({**body, "agent_id": "ag"}) == intent_digest(stored)
    assert differing({**body, "agent_id": "ag"}, {**stored, "priority": 9}) == ["priority"]
    assert replicated_digest(stored) == replicated_digest({**stored, "access_count": 0})  # node-local
    assert agreement({"a": stored, "b": {**stored, "version": 2}}) == ["version"]
    v = Varied(7, ["n1", "n2"], ["ag1", "ag2"])
    assert v.body(5, "s1") == Varied(7, ["n1", "n2"], ["ag1", "ag2"]).body(5, "s1")  # replayable from the seed
    assert v.body(5, "s1") != Varied(8, ["n1", "n2"], ["ag1", "ag2"]).body(5, "s1")
    kinds = {v.body(n, "s1")[2]["tier"] for n in range(60)} | {v.body(n, "s1")[2]["scope"] for n in range(60)}
    assert {"short", "mid", "long", "team", "unit", "org", "collective"} <= kinds


def test_a_vector_clock_that_differs_is_named_from_the_list_digests_alone() -> None:
    # 0.10.0 stamps metadata.version_vector on the node that took the write only: the lists say so, unread
    h = H()
    digests = base(h, ["a", "b"])
    for node in NODES:
        read(h, node, digests, clock={"a": "vv-a"} if node == "node-a" else None)
    result = judged("quorum_write", h.ops, S1)
    assert not result["valid"] and has(result, "1 write(s) whose nodes hold different records, differing in "
                                               "metadata.version_vector: a on node-a, node-b, node-c")
    assert not any("fields not read" in r for r in result["reasons"])
    h2 = H()
    digests = base(h2, ["a"])
    for node in NODES:  # content and clock differ, no record read: the content part stays unnamed
        read(h2, node, digests, full={"a": node}, clock={"a": node})
    assert has(judged("quorum_write", h2.ops, S1), "differing in fields not read, metadata.version_vector: a on")


def test_records_split_the_vector_clock_and_name_metadata_keys() -> None:
    stored = {"id": "i", "title": "t", "content": "c", "metadata": {"w_seq": 1, "version_vector": {"n1": "t1"}}}
    peer = {**stored, "metadata": {"w_seq": 1}}
    assert replicated_digest(stored) == replicated_digest(peer)
    assert clock_digest(stored) is not None and clock_digest(peer) is None
    assert agreement({"a": stored, "b": peer}) == ["metadata.version_vector"]
    assert agreement({"a": stored, "b": {**peer, "content": "d"}}) == ["content", "metadata.version_vector"]
