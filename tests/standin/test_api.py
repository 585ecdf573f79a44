"""HTTP API contract: auth, visibility, conflicts, paging, bulk, errors, mTLS refusal, capabilities."""

from __future__ import annotations

import ssl

import pytest

from tests.standin.cluster import Cluster


def test_health_and_capabilities(cluster: Cluster) -> None:
    node = cluster.nodes[0]
    health = node.request("GET", "/api/v1/health", api_key=None, agent=None)
    assert health.status == 200
    assert health.body == {"status": "ok", "service": "ai-memory", "version": "0.7.0", "embedder_ready": False,
                           "federation_enabled": True}
    caps = node.request("GET", "/api/v1/capabilities").body
    assert caps["storage_backend"] == "sqlite" and caps["db_schema_version"] == 57


def test_api_key_required_except_health(cluster: Cluster) -> None:
    node = cluster.nodes[0]
    for key in (None, "wrong"):
        resp = node.request("GET", "/api/v1/memories", api_key=key)
        assert resp.status == 401 and resp.body == {"error": "missing or invalid API key"}
    assert node.request("GET", "/metrics", api_key=None).status == 401


@pytest.mark.parametrize("path,method", [("/api/v1/health", "GET"), ("/api/v1/memories", "POST")])
def test_mtls_refuses_strangers_at_the_handshake(cluster: Cluster, path: str, method: str) -> None:
    node = cluster.nodes[0]
    body = {"title": "x", "content": "y"} if method == "POST" else None
    for ident in (None, cluster.outsider, cluster.rogue):
        ctx = cluster.context(ident)
        if ident is cluster.rogue:
            ctx.load_verify_locations(str(cluster.rogue_ca.path))
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            node.request(method, path, body, ctx=ctx)
    assert node.request(method, path, body).status in (200, 201)


def test_private_by_default_and_visibility(cluster: Cluster) -> None:
    node = cluster.nodes[0]
    created = node.request("POST", "/api/v1/memories", {"title": "mine", "content": "secret", "namespace": "v"})
    assert created.status == 201
    mem_id = created.body["id"]
    assert node.request("GET", f"/api/v1/memories/{mem_id}").status == 200
    other = node.request("GET", f"/api/v1/memories/{mem_id}", agent="ai:someone-else")
    assert other.status == 404 and other.body == {"error": "not found"}
    anon = node.request("GET", "/api/v1/memories?namespace=v", agent=None).body
    assert anon["count"] == 0


def test_conflict_409(cluster: Cluster) -> None:
    node = cluster.nodes[0]
    first = node.request("POST", "/api/v1/memories", {"title": "dup", "content": "a", "namespace": "c"})
    second = node.request("POST", "/api/v1/memories", {"title": "dup", "content": "b", "namespace": "c"})
    assert second.status == 409
    assert second.body == {"code": "CONFLICT", "error": "memory with title 'dup' already exists in namespace 'c'",
                           "existing_id": first.body["id"]}


def test_list_paging_default_20_max_1000(make_cluster) -> None:  # type: ignore[no-untyped-def]
    cluster = make_cluster(writes=0)
    node = cluster.nodes[0]
    rows = [{"title": f"p{i}", "content": "x", "namespace": "page", "scope": "collective"} for i in range(1005)]
    resp = node.request("POST", "/api/v1/memories/bulk", rows[:1000])
    assert resp.body == {"created": 1000, "errors": []}
    over = node.request("POST", "/api/v1/memories/bulk", rows[1000:]).body  # 1000/day per (agent, namespace)
    assert over["created"] == 0 and len(over["errors"]) == 5 and "QUOTA_EXCEEDED" in over["errors"][0]["error"]
    assert node.request("POST", "/api/v1/memories/bulk", rows[1000:], agent="ai:second").body["created"] == 5
    assert node.request("POST", "/api/v1/memories/bulk", rows[:1001]).status == 400
    assert node.request("GET", "/api/v1/memories?namespace=page").body["count"] == 20
    assert node.request("GET", "/api/v1/memories?namespace=page&limit=5000").body["count"] == 1000
    seen: set[str] = set()
    offset = 0
    while True:
        page = node.request("GET", f"/api/v1/memories?namespace=page&limit=300&offset={offset}").body["memories"]
        seen |= {m["id"] for m in page}
        if len(page) < 300:
            break
        offset += 300
    assert len(seen) == 1005


def test_validation_and_json_errors(cluster: Cluster) -> None:
    node = cluster.nodes[0]
    # the bodies ai-memory 0.7.0 answers (its JSON extractor's envelope, then the validator's message)
    missing = node.request("POST", "/api/v1/memories", {"title": "t"})
    assert (missing.status, missing.body) == (400, {"error": "missing required field: content", "fields": ["content"]})
    bad_tier = node.request("POST", "/api/v1/memories", {"title": "t", "content": "c", "tier": "huge"})
    assert (bad_tier.status, bad_tier.body) == (400, {"error": "invalid request body", "fields": []})
    empty = node.request("POST", "/api/v1/memories", {"title": " ", "content": "c"})
    assert (empty.status, empty.body) == (400, {"error": "title cannot be empty"})
    assert node.request("POST", "/api/v1/memories", {"title": "t", "content": "c", "agent_id": "ai:x"}).status == 403
    not_object = node.request("POST", "/api/v1/memories", ["not", "an", "object"])
    assert (not_object.status, not_object.body) == (400, {"error": "malformed JSON body", "fields": []})
    assert node.request("GET", "/api/v1/nope").status == 404
    assert node.request("GET", "/api/v1/stats", agent="ai:not-admin").status == 403
    assert node.request("GET", "/api/v1/stats").body["total"] >= 0


def test_expiry_backfill_by_tier(cluster: Cluster) -> None:
    node = cluster.nodes[0]
    ids = {}
    for tier in ("short", "mid", "long"):
        ids[tier] = node.request("POST", "/api/v1/memories",
                                 {"title": tier, "content": "c", "tier": tier, "namespace": "tiers"}).body["id"]
    from datetime import datetime

    def hours(tier: str) -> float | None:
        mem = node.request("GET", f"/api/v1/memories/{ids[tier]}").body["memory"]
        if "expires_at" not in mem:
            return None
        created = datetime.fromisoformat(mem["created_at"].replace("Z", "+00:00"))
        return (datetime.fromisoformat(mem["expires_at"].replace("Z", "+00:00")) - created).total_seconds() / 3600

    assert hours("short") == 6 and hours("mid") == 24 * 7 and hours("long") is None


def test_update_delete_and_search(cluster: Cluster) -> None:
    node = cluster.nodes[0]
    mem_id = node.request("POST", "/api/v1/memories", {"title": "u", "content": "before", "namespace": "u",
                                                       "scope": "collective"}).body["id"]
    upd = node.request("PUT", f"/api/v1/memories/{mem_id}", {"content": "after words"})
    # the real answers the updated memory itself (flat), its version counter moved
    assert upd.status == 200 and upd.body["content"] == "after words" and upd.body["version"] == 2
    found = node.request("GET", "/api/v1/search?q=after&namespace=u").body
    assert found["count"] == 1
    assert node.request("DELETE", f"/api/v1/memories/{mem_id}").body["deleted"] is True
    assert node.request("GET", f"/api/v1/memories/{mem_id}").status == 404
