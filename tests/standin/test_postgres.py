"""The stand-in's PostgreSQL store (contract §5) against a real PostgreSQL 17 + pgvector + Apache AGE (fixture `pg`).

Every postgres-backed stand-in runs on Debian's /usr/bin/python3 (python3-psycopg 3.1 here); one test runs it on the
image's python3 with psycopg 3.2, as on the trixie hosts.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from standin.ai_memory_standin.models import MEMORY_FIELDS, OMITTED_WHEN_NULL, at_microseconds, iso, new_memory, now
from tests.standin.cluster import AGENT, HOST_PYTHON, Cluster, Node, wait_for
from tests.standin.pgserver import PgServer

pytestmark = pytest.mark.postgres

_names = itertools.count()
MIGRATION_LOCK = 0x61692D6D656D6F72  # store/postgres.py MIGRATION_LOCK, documented in docs/standin.md
GATED = [("POST", "/api/v1/memory_atomise"), ("POST", "/api/v1/memory_check_agent_action"),
         ("GET", "/api/v1/namespaces/team/standard"), ("POST", "/api/v1/find_paths"), ("GET", "/api/v1/skill/list"),
         ("GET", "/api/v1/skill/abc/resource"), ("POST", "/api/v1/skill/abc/compose"), ("POST", "/api/v1/share")]
NOT_GATED = [("POST", "/api/v1/memory_load_family"), ("POST", "/api/v1/namespaces/team/standard"),
             ("POST", "/api/v1/memory_unknown"), ("GET", "/api/v1/nope")]


def fresh_db(pg: PgServer, extensions: tuple[str, ...] = ("vector", "age")) -> str:
    return pg.create_database(f"t{next(_names)}_{os.getpid()}", extensions=extensions)


def cli(binary: Path, home: Path, *args: str, faults: str = "", check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "AI_MEMORY_STANDIN_FAULTS": faults}
    proc = subprocess.run([HOST_PYTHON, str(binary), *args], cwd=home, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def cli_json(binary: Path, home: Path, *args: str, faults: str = "") -> dict[str, Any]:
    return json.loads(cli(binary, home, *args, faults=faults).stdout)  # type: ignore[no-any-return]


def single_node(make_cluster: Any, url: str) -> Cluster:
    """One postgres-backed node, stopped by make_cluster's teardown even when the test fails."""
    return make_cluster(size=1, writes=0, store_urls={0: url})  # type: ignore[no-any-return]


def create(node: Node, title: str, ns: str = "pg", **extra: Any) -> dict[str, Any]:
    resp = node.request("POST", "/api/v1/memories", {"title": title, "content": f"content of {title}",
                                                     "namespace": ns, **extra})
    assert resp.status == 201, resp.body
    return resp.body  # type: ignore[no-any-return]


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def vertices(pg: PgServer, db: str, mem_id: str) -> list[list[Any]]:
    return pg.cypher(db, f"MATCH (m:Memory {{id: '{mem_id}'}}) RETURN m.id")


def edges(pg: PgServer, db: str, source: str, target: str) -> list[list[Any]]:
    """The edges of memory_graph from one memory to another: [label, relation property]."""
    return pg.cypher(db, f"MATCH (a:Memory {{id: '{source}'}})-[r]->(b:Memory {{id: '{target}'}}) "
                         "RETURN type(r), r.relation", 2)


@pytest.fixture(scope="module")
def pg_node(binary: Path, pg: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, str]]:
    db = fresh_db(pg)
    cluster = Cluster(binary=binary, root=tmp_path_factory.mktemp("pgnode"), size=1, writes=0,
                      store_urls={0: pg.url(db)}).start()
    try:
        yield cluster.nodes[0], db
    finally:
        cluster.stop()


def test_boot_capabilities_scratch_and_redacted_log(pg_node: tuple[Node, str], pg: PgServer) -> None:
    node, db = pg_node
    caps = node.request("GET", "/api/v1/capabilities").body
    assert caps["storage_backend"] == "postgres" and caps["db_schema_version"] == 57
    log = node.log.read_text()
    assert "Postgres KG backend: AGE" in log
    assert pg.role_password not in log and f"standin:***@127.0.0.1:{pg.port}/{db}" in log
    assert pg.sql(db, "SELECT max(version) FROM schema_version") == [[57]]
    assert pg.sql(db, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                      "WHERE attrelid = 'memories'::regclass AND attname = 'embedding'") == [["vector(384)"]]
    assert pg.sql(db, "SELECT name FROM ag_catalog.ag_graph") == [["memory_graph"]]
    # the scratch SQLite ./ai-memory.db in the working directory is still opened (contract §2 step 2)
    with contextlib.closing(sqlite3.connect(node.home / "ai-memory.db")) as scratch:
        assert scratch.execute("SELECT version FROM schema_version").fetchall() == [(57,)]
        assert scratch.execute("SELECT count(*) FROM sync_state WHERE peer = 'standin:node-id'").fetchone() == (1,)


def test_create_get_sql_row_and_conflict(pg_node: tuple[Node, str], pg: PgServer) -> None:
    node, db = pg_node
    created = create(node, "pg-one", tags=["a", "b"], scope="collective")
    # the real's postgres branch answers the memory it built: every field but the null ones and the expiry the
    # store adds, times at nanoseconds (the row keeps microseconds)
    assert set(created) == set(MEMORY_FIELDS) - set(OMITTED_WHEN_NULL) and created["tier"] == "mid"
    assert created["confidence_source"] == "default" and created["version"] == 1
    got = node.request("GET", f"/api/v1/memories/{created['id']}")
    assert got.status == 200
    mem = got.body["memory"]
    assert ts(mem["expires_at"]) - ts(mem["created_at"]) == timedelta(days=7)
    row = pg.sql(db, "SELECT title, namespace, tier, agent_id, body->>'content', body->'tags', "
                     "extract(epoch FROM expires_at - created_at)::int, body->>'expires_at' FROM memories "
                     "WHERE id = %s", [created["id"]])
    assert row == [["pg-one", "pg", "mid", AGENT, "content of pg-one", ["a", "b"], 7 * 86400, mem["expires_at"]]]
    assert vertices(pg, db, created["id"]) == []  # memories are not projected into AGE, links are

    short, long = create(node, "pg-short", tier="short"), create(node, "pg-long", tier="long")
    short_mem = node.request("GET", f"/api/v1/memories/{short['id']}").body["memory"]
    assert ts(short_mem["expires_at"]) - ts(short_mem["created_at"]) == timedelta(hours=6)
    assert "expires_at" not in node.request("GET", f"/api/v1/memories/{long['id']}").body["memory"]
    assert pg.sql(db, "SELECT expires_at FROM memories WHERE id = %s", [long["id"]]) == [[None]]

    dup = node.request("POST", "/api/v1/memories", {"title": "pg-one", "content": "again", "namespace": "pg"})
    assert dup.status == 409
    assert dup.body == {"code": "CONFLICT", "error": "memory with title 'pg-one' already exists in namespace 'pg'",
                        "existing_id": created["id"]}
    assert pg.sql(db, "SELECT count(*) FROM memories WHERE title = 'pg-one'") == [[1]]


def test_link_is_a_row_and_an_age_edge(pg_node: tuple[Node, str], pg: PgServer) -> None:
    """As S5 judges it: a link through the API is a memory_links row and a memory_graph edge labelled with its
    relation (ai-memory 0.7.0 project_link_into_age), MATCHed here as the daemon's own role (not a superuser)."""
    node, db = pg_node
    a, b = create(node, "link-a", ns="links"), create(node, "link-b", ns="links")
    linked = node.request("POST", "/api/v1/links", {"source_id": a["id"], "target_id": b["id"],
                                                    "relation": "related_to"})
    assert linked.status == 201 and linked.body == {"linked": True, "source_id": a["id"], "target_id": b["id"],
                                                    "relation": "related_to", "attest_level": "self_signed"}
    assert pg.sql(db, "SELECT relation, attest_level, observed_by, length(signature), created_at = valid_from "
                      "FROM memory_links WHERE source_id = %s AND target_id = %s",
                  [a["id"], b["id"]]) == [["related_to", "self_signed", "daemon", 64, True]]
    assert pg.as_role_cypher(db, f"MATCH (a:Memory {{id: '{a['id']}'}})-[r]->(b:Memory {{id: '{b['id']}'}}) "
                                 "RETURN type(r)") == [["related_to"]]
    assert edges(pg, db, a["id"], b["id"]) == [["related_to", "related_to"]]
    aliased = node.request("POST", "/api/v1/links", {"from": b["id"], "to": a["id"], "rel_type": "supersedes"})
    assert aliased.status == 201 and edges(pg, db, b["id"], a["id"]) == [["supersedes", "supersedes"]]
    again = node.request("POST", "/api/v1/links", {"source_id": a["id"], "target_id": b["id"]})
    assert again.status == 201 and edges(pg, db, a["id"], b["id"]) == [["related_to", "related_to"]]  # MERGE

    got = node.request("GET", f"/api/v1/memories/{b['id']}").body["links"]  # both directions
    assert sorted(link["relation"] for link in got) == ["related_to", "supersedes"]
    assert all(set(link) == {"source_id", "target_id", "relation", "created_at", "valid_from", "observed_by",
                             "attest_level", "signature"} and len(link["signature"]) == 64 for link in got)

    refused = {"relation": ({"source_id": a["id"], "target_id": b["id"], "relation": "likes"},
                            {"error": "invalid_relation", "got": "likes", "allowed": ["related_to", "supersedes",
                                                                                     "contradicts", "derived_from",
                                                                                     "reflects_on"]}),
               "field": ({"source_id": a["id"], "target_id": b["id"], "link_type": "x"},
                         {"error": "unknown_field", "fields": ["link_type"]}),
               "self": ({"source_id": a["id"], "target_id": a["id"]}, {"error": "cannot link a memory to itself"}),
               "target": ({"source_id": a["id"], "target_id": "nope"},
                          {"error": "invalid input: target memory not found: nope"})}
    for name, (body, answer) in refused.items():
        resp = node.request("POST", "/api/v1/links", body)
        assert (resp.status, resp.body) == (400, answer), name

    assert node.request("DELETE", f"/api/v1/memories/{a['id']}").status == 200
    assert pg.sql(db, "SELECT count(*) FROM memory_links WHERE %s IN (source_id, target_id)", [a["id"]]) == [[0]]
    assert edges(pg, db, a["id"], b["id"]) != []  # the real leaves the graph as it was


def test_update_delete_and_put_conflict(pg_node: tuple[Node, str], pg: PgServer) -> None:
    node, db = pg_node
    first, second = create(node, "pg-upd-1", ns="upd"), create(node, "pg-upd-2", ns="upd")
    upd = node.request("PUT", f"/api/v1/memories/{first['id']}", {"content": "changed"})
    assert upd.status == 200 and upd.body["version"] == 2 and upd.body["content"] == "changed"  # flat
    assert pg.sql(db, "SELECT body->>'content', version::int FROM memories WHERE id = %s",
                  [first["id"]]) == [["changed", 2]]
    taken = node.request("PUT", f"/api/v1/memories/{first['id']}", {"title": "pg-upd-2"})
    assert taken.status == 409 and taken.body["existing_id"] == second["id"]
    deleted = node.request("DELETE", f"/api/v1/memories/{first['id']}")
    assert deleted.status == 200 and deleted.body == {"deleted": True, "id": first["id"]}  # postgres shape
    assert node.request("GET", f"/api/v1/memories/{first['id']}").status == 404
    assert pg.sql(db, "SELECT count(*) FROM memories WHERE id = %s", [first["id"]]) == [[0]]


def test_health_is_503_when_the_database_goes_away(make_cluster, pg: PgServer) -> None:  # type: ignore[no-untyped-def]
    db = fresh_db(pg)
    node = single_node(make_cluster, pg.url(db)).nodes[0]
    assert node.request("GET", "/api/v1/health", api_key=None).body["status"] == "ok"
    pg.sql("postgres", f"DROP DATABASE {db} WITH (FORCE)")
    for _ in range(2):  # the pooled connection is gone, and so is any new one
        resp = node.request("GET", "/api/v1/health", api_key=None)
        assert resp.status == 503 and resp.body["status"] == "error"


def test_route_gate_501_before_auth_and_404_elsewhere(pg_node: tuple[Node, str], make_cluster) -> None:  # type: ignore[no-untyped-def]
    node, _ = pg_node
    for method, path in GATED:
        resp = node.request(method, path, {} if method == "POST" else None, api_key=None, agent=None)
        assert resp.status == 501, (method, path)
        assert resp.body == {"error": "endpoint not yet implemented for postgres-backed daemon", "endpoint": path,
                             "method": method, "storage_backend": "postgres",
                             "remediation": "use sqlite-backed daemon or wait for v0.7.x trait coverage; see "
                                            "docs/postgres-age-guide.md for the supported endpoint inventory"}
    for method, path in NOT_GATED:
        assert node.request(method, path, {} if method == "POST" else None, api_key=None).status == 401, path
        resp = node.request(method, path, {} if method == "POST" else None)
        assert resp.status == 404 and resp.body == {"error": "not found"}, (method, path)
    sqlite_node = make_cluster(size=1, writes=0).nodes[0]
    assert sqlite_node.request("POST", "/api/v1/memory_atomise", {}).status == 404  # the gate is postgres-only
    # ai-memory 0.7.0 serves memory_reflect on PostgreSQL (S5 probes it): its input check answers first
    reflect = node.request("POST", "/api/v1/memory_reflect", {})
    assert (reflect.status, reflect.body) == (400, {"error": "source_ids is required (array of memory IDs)"})


def test_list_limit_and_offset_ignored(pg_node: tuple[Node, str]) -> None:
    node, _ = pg_node
    rows = [{"title": f"page-{i}", "content": "x", "namespace": "paging", "scope": "collective",
             "priority": 1 + i % 10} for i in range(30)]
    assert node.request("POST", "/api/v1/memories/bulk", rows).body == {"created": 30, "errors": []}

    def ids(query: str) -> list[str]:
        return [m["id"] for m in node.request("GET", f"/api/v1/memories?namespace=paging{query}").body["memories"]]

    assert len(ids("")) == 20 and len(ids("&limit=7")) == 7 and len(ids("&limit=1000")) == 30
    assert ids("&limit=10&offset=10") == ids("&limit=10")  # contract §5.5: list ignores offset on postgres
    assert len(ids("&limit=1000&min_priority=9")) == 30  # ... and min_priority


def test_v54_backfill_at_next_start(make_cluster, pg: PgServer) -> None:  # type: ignore[no-untyped-def]
    db = fresh_db(pg)
    cluster = single_node(make_cluster, pg.url(db))
    node = cluster.nodes[0]
    node.stop()
    legacy = {}
    for tier, age in (("mid", timedelta(days=2)), ("short", timedelta(hours=7)), ("long", timedelta(days=30))):
        mem = new_memory({"title": f"legacy-{tier}", "content": "from before v54", "tier": tier,
                          "scope": "collective"}, AGENT)
        mem["created_at"] = mem["updated_at"] = iso(now() - age)
        mem["expires_at"] = None
        pg.sql(db, "INSERT INTO memories (id, namespace, title, tier, created_at, updated_at, agent_id, body) "
                   "VALUES (%s, %s, %s, %s, %s::timestamptz, %s::timestamptz, %s, %s::jsonb)",
               [mem["id"], mem["namespace"], mem["title"], tier, mem["created_at"], mem["updated_at"], AGENT,
                json.dumps(mem)])
        legacy[tier] = mem
    pg.sql(db, "UPDATE schema_version SET version = 53")  # a store from before the v54 migration
    node.start()
    node.wait_healthy()
    assert node.request("GET", "/api/v1/capabilities").body["db_schema_version"] == 57
    assert "schema v54: tier expiry backfilled on 2 row(s)" in node.log.read_text()
    for tier, ttl in (("mid", timedelta(days=7)), ("short", timedelta(hours=6))):
        expected = iso(ts(legacy[tier]["created_at"]) + ttl)
        assert pg.sql(db, "SELECT body->>'expires_at', expires_at = %s::timestamptz FROM memories WHERE id = %s",
                      [expected, legacy[tier]["id"]]) == [[expected, True]], tier
    assert node.request("GET", f"/api/v1/memories/{legacy['mid']['id']}").body["memory"]["expires_at"] == iso(
        ts(legacy["mid"]["created_at"]) + timedelta(days=7))
    assert node.request("GET", f"/api/v1/memories/{legacy['short']['id']}").status == 404  # expired an hour ago
    assert pg.sql(db, "SELECT expires_at FROM memories WHERE id = %s", [legacy["long"]["id"]]) == [[None]]
    before = pg.sql(db, "SELECT id, body::text FROM memories ORDER BY id")
    assert node.stop(signal.SIGINT) == 0  # graceful: scratch checkpoint, pool closed
    node.start()
    node.wait_healthy()
    assert pg.sql(db, "SELECT id, body::text FROM memories ORDER BY id") == before  # idempotent
    assert node.log.read_text().count("tier expiry backfilled") == 1


def test_concurrent_bootstraps_queue_on_the_migration_lock(binary: Path, pg: PgServer, tmp_path: Path) -> None:
    """Migrations run under pg_advisory_lock(MIGRATION_LOCK): four daemons bootstrapping one fresh database wait
    while another session holds the lock, then all succeed with one schema_version row and one graph."""
    db = fresh_db(pg)
    url = pg.url(db)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AI_MEMORY_STANDIN_FAULTS": ""}
    blocked = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = "
               "(SELECT oid FROM pg_database WHERE datname = current_database())")
    pg.sql(db, "SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])  # held by the bridge's session
    procs: list[subprocess.Popen[str]] = []
    try:
        procs = [subprocess.Popen([HOST_PYTHON, str(binary), "schema-init", "--store-url", url], cwd=tmp_path,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
        assert wait_for(lambda: pg.sql(db, blocked) == [[4]], 20), "the bootstraps did not wait for the lock"
        assert all(p.poll() is None for p in procs) and pg.sql(db, "SELECT to_regclass('memories')") == [[None]]
        pg.sql(db, "SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])
        results = [(p.communicate(timeout=60)[1], p.returncode) for p in procs]
        assert [rc for _, rc in results] == [0, 0, 0, 0], results
    finally:
        pg.sql(db, "SELECT pg_advisory_unlock_all()")
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert pg.sql(db, "SELECT max(version) FROM schema_version") == [[57]]
    assert pg.sql(db, "SELECT count(*) FROM ag_catalog.ag_graph WHERE name = 'memory_graph'") == [[1]]


def test_statement_timeout_comes_from_the_config(binary: Path, pg: PgServer, tmp_path: Path) -> None:
    """postgres_statement_timeout_secs bounds every statement: here the wait for a held migration lock."""
    db = fresh_db(pg)
    config = tmp_path / ".config" / "ai-memory" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("postgres_statement_timeout_secs = 1\n")
    pg.sql(db, "SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
    try:
        proc = cli(binary, tmp_path, "schema-init", "--store-url", pg.url(db), check=False)
    finally:
        pg.sql(db, "SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])
    assert proc.returncode != 0 and "canceling statement due to statement timeout" in proc.stderr, proc.stderr
    assert cli_json(binary, tmp_path, "schema-init", "--store-url", pg.url(db), "--json")["schema_version"] == 57


def test_missing_vector_extension_and_bad_password_refuse_to_start(binary: Path, pg: PgServer,
                                                                   tmp_path: Path) -> None:
    url = pg.url("novector")
    for args in (["serve", "--port", "1", "--store-url", url], ["schema-init", "--store-url", url]):
        proc = cli(binary, tmp_path, *args, check=False)
        assert proc.returncode != 0
        assert "PostgreSQL extension 'vector' (pgvector) is required but missing" in proc.stderr, proc.stderr
        assert pg.role_password not in proc.stderr + proc.stdout and "standin:***@" in proc.stderr
    assert pg.sql("novector", "SELECT count(*) FROM pg_tables WHERE tablename = 'memories'") == [[0]]
    bad = cli(binary, tmp_path, "serve", "--port", "1", "--store-url", pg.url("novector", password="wrong-secret"),
              check=False)
    assert bad.returncode != 0 and "cannot connect to PostgreSQL" in bad.stderr
    assert "wrong-secret" not in bad.stderr
    mangled = cli(binary, tmp_path, "schema-init", "--store-url", pg.url("novector", password="pw%zzhidden"),
                  check=False)  # libpq quotes the bad token back: it must come out scrubbed
    assert mangled.returncode != 0 and "invalid --store-url" in mangled.stderr and "hidden" not in mangled.stderr
    both = cli(binary, tmp_path, "--db", "other.db", "serve", "--store-url", url, check=False)
    assert both.returncode != 0 and "mutually exclusive" in both.stderr


def test_schema_init_json_both_backends_and_cte(binary: Path, pg: PgServer, tmp_path: Path,
                                                make_cluster) -> None:  # type: ignore[no-untyped-def]
    db = fresh_db(pg)
    url = pg.url(db, scheme="postgres")
    doc = cli_json(binary, tmp_path, "schema-init", "--store-url", url, "--json")
    assert set(doc) == {"url", "kind", "tables", "views", "functions", "indices", "extensions", "schema_version",
                        "age_projection_created", "embedding_dim", "embedding_dim_migrated"}
    assert doc["url"] == url.replace(pg.role_password, "***")
    assert doc["kind"] == "postgres" and doc["schema_version"] == 57 and doc["age_projection_created"] is True
    assert {"memories", "schema_version", "federation_push_dlq"} <= set(doc["tables"])
    assert {"vector", "age"} <= set(doc["extensions"]) and "memories_title_namespace_key" in doc["indices"]
    assert (doc["embedding_dim"], doc["embedding_dim_migrated"]) == (384, False)
    wide = cli_json(binary, tmp_path, "--json", "schema-init", "--store-url", url, "--embedding-dim", "768")
    assert (wide["embedding_dim"], wide["embedding_dim_migrated"]) == (768, True)
    assert pg.sql(db, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                      "WHERE attrelid = 'memories'::regclass AND attname = 'embedding'") == [["vector(768)"]]
    again = cli_json(binary, tmp_path, "schema-init", "--store-url", url, "--embedding-dim", "768", "--json")
    assert again["embedding_dim_migrated"] is False

    plain = fresh_db(pg, extensions=("vector",))  # no AGE: the CTE knowledge-graph backend
    cte = cli_json(binary, tmp_path, "schema-init", "--store-url", pg.url(plain), "--json")
    assert cte["age_projection_created"] is False and "age" not in cte["extensions"]
    cluster = single_node(make_cluster, pg.url(plain))
    assert "Postgres KG backend: CTE" in cluster.nodes[0].log.read_text()
    create(cluster.nodes[0], "no-graph")
    assert pg.sql(plain, "SELECT count(*) FROM memories") == [[1]]

    lite = cli_json(binary, tmp_path, "schema-init", "--store-url", "sqlite://./local.db", "--json")
    assert lite["kind"] == "sqlite" and lite["schema_version"] == 57 and "memories" in lite["tables"]
    assert (tmp_path / "local.db").exists() and lite["age_projection_created"] is False


LINKS = 10  # links the migration source holds, each inside one namespace
SEED = r"""
import json, sys
from datetime import timedelta
sys.path.insert(0, sys.argv[1])  # the zipapp under test: its own models and SQLite store
from ai_memory_standin.links import new_link
from ai_memory_standin.models import iso, new_memory, now
from ai_memory_standin.store.sqlite import SqliteStore
store, rows = SqliteStore(sys.argv[2]), []
for i in range(1000):
    ns = "mig-tags" if i < 5 else f"mig-{i % 7}"
    mem = new_memory({"title": f"row-{i}", "content": f"payload {i} \u00e9\u4e2d", "namespace": ns,
                      "tier": ("mid", "long", "short")[i % 3], "tags": [f"t{i % 4}", "all"], "priority": 1 + i % 10,
                      "confidence": 0.5 + (i % 5) / 10, "scope": "collective",
                      "metadata": {"n": i, "nested": {"k": [1, 2.5, None]}}}, f"ai:agent-{i % 3}")
    store.create(mem)
    rows.append(mem)
for i in range(5, 5 + LINKS):  # row-i and row-(i+700) share the namespace mig-(i % 7)
    store.link(new_link(rows[i]["id"], rows[i + 700]["id"], "related_to"))
gone = new_memory({"title": "expired", "content": "x"}, "ai:tester")
gone["expires_at"] = iso(now() - timedelta(minutes=1))
store.create(gone)  # expired rows are not migrated
store.close()
print(json.dumps(rows))
"""


def _seed_sqlite(binary: Path, path: Path) -> dict[str, dict[str, Any]]:
    proc = subprocess.run([HOST_PYTHON, "-c", f"LINKS = {LINKS}\n{SEED}", str(binary), str(path)],
                          capture_output=True, text=True,
                          timeout=60, check=True)
    return {m["id"]: m for m in json.loads(proc.stdout)}


def _sqlite_rows(path: Path) -> dict[str, dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return {m["id"]: m for m in (json.loads(b) for (b,) in conn.execute("SELECT body FROM memories"))}


def _pg_state(pg: PgServer, db: str) -> list[Any]:
    return pg.sql(db, "SELECT count(*), md5(string_agg(id || ':' || body::text, ',' ORDER BY id)) FROM memories")


def test_migrate_sqlite_postgres_round_trip_idempotent_and_fault(binary: Path, pg: PgServer, tmp_path: Path) -> None:
    source = _seed_sqlite(binary, tmp_path / "src.db")
    db = fresh_db(pg)
    url = pg.url(db, scheme="postgres")
    src = f"sqlite://{tmp_path}/src.db"
    first = cli_json(binary, tmp_path, "migrate", "--from", src, "--to", url, "--json")
    assert first == {"from_url": src, "to_url": url.replace(pg.role_password, "***"), "memories_read": 1000,
                     "memories_written": 1000, "batches": 1, "errors": [], "dry_run": False}  # links not counted
    state = _pg_state(pg, db)
    assert state[0][0] == 1000 and pg.sql(db, "SELECT sum(version)::int FROM memories") == [[1000]]
    link_rows = "SELECT count(*), count(*) FILTER (WHERE attest_level = 'unsigned') FROM memory_links"
    assert pg.sql(db, link_rows) == [[LINKS, LINKS]]
    # the links, not the memories, are projected into AGE: both ends of each link and its edge
    assert pg.cypher(db, "MATCH (m:Memory) RETURN count(m)") == [[2 * LINKS]]
    assert pg.cypher(db, "MATCH ()-[r:related_to]->() RETURN count(r)") == [[LINKS]]
    again = cli_json(binary, tmp_path, "migrate", "--from", src, "--to", url, "--json")
    # a re-run leaves the content as it was, duplicates nothing and bumps every row's version (an upsert-merge
    # is a mutation in ai-memory 0.7.0, #1632)
    assert again == first and _pg_state(pg, db) == state
    assert pg.sql(db, "SELECT min(version)::int, max(version)::int FROM memories") == [[2, 2]]
    assert pg.sql(db, link_rows) == [[LINKS, LINKS]]
    assert pg.cypher(db, "MATCH ()-[r:related_to]->() RETURN count(r)") == [[LINKS]]
    dry = cli_json(binary, tmp_path, "migrate", "--from", src, "--to", pg.url(fresh_db(pg)), "--dry-run", "--json")
    assert (dry["memories_read"], dry["memories_written"], dry["dry_run"]) == (1000, 0, True)

    back = cli_json(binary, tmp_path, "migrate", "--from", url, "--to", "sqlite://./back.db", "--json")
    assert (back["memories_read"], back["memories_written"], back["errors"]) == (1000, 1000, [])
    copy = _sqlite_rows(tmp_path / "back.db")
    assert set(copy) == set(source)
    with contextlib.closing(sqlite3.connect(tmp_path / "back.db")) as back_db:
        assert back_db.execute("SELECT count(*) FROM memory_links").fetchone() == (LINKS,)
    # PostgreSQL keeps times at microseconds (as the real's TIMESTAMPTZ does); a migrated row starts at version 1
    # in a fresh target whatever its version was (the re-run's 2 stays behind): every field comes back as written
    assert pg.sql(db, "SELECT min(version)::int FROM memories") == [[2]]
    expected = {mem_id: at_microseconds(mem) for mem_id, mem in source.items()}
    mismatches = [(mem_id, field, copy[mem_id].get(field, "<missing>"), mem.get(field))
                  for mem_id, mem in expected.items() for field in MEMORY_FIELDS
                  if copy[mem_id].get(field, "<missing>") != mem.get(field)]
    assert mismatches[:5] == []

    lossy_db = fresh_db(pg)
    lossy = cli_json(binary, tmp_path, "migrate", "--from", src, "--to", pg.url(lossy_db), "--namespace",
                     "mig-tags", "--json", faults="migrate_drop_field")
    assert lossy["memories_read"] == 5 and lossy["errors"] == []
    assert pg.sql(lossy_db, "SELECT DISTINCT body->'tags' FROM memories") == [[[]]]
    cli(binary, tmp_path, "migrate", "--from", url, "--to", "sqlite://./lossy.db", "--namespace", "mig-tags",
        faults="migrate_drop_field")
    lost = _sqlite_rows(tmp_path / "lossy.db")
    assert len(lost) == 5 and all(m["tags"] == [] for m in lost.values()) and all(source[i]["tags"] for i in lost)


def test_tls_url_parameters_reach_libpq(binary: Path, pg: PgServer, tmp_path: Path,
                                        make_cluster) -> None:  # type: ignore[no-untyped-def]
    """sslmode=verify-full&sslrootcert&sslcert&sslkey pass through: the TLS database only takes a client cert."""
    doc = cli_json(binary, tmp_path, "schema-init", "--store-url", pg.tls_url(), "--json")
    assert doc["kind"] == "postgres" and doc["schema_version"] == 57
    no_cert = cli(binary, tmp_path, "schema-init", "--store-url", pg.tls_url(with_client_cert=False), check=False)
    assert no_cert.returncode != 0 and "cannot connect to PostgreSQL" in no_cert.stderr
    create(single_node(make_cluster, pg.tls_url()).nodes[0], "over-tls")
    seen = pg.sql("postgres", "SELECT s.ssl, s.client_dn FROM pg_stat_ssl s JOIN pg_stat_activity a "
                              "USING (pid) WHERE a.usename = 'standin' AND a.datname = %s", ["tls_db"])
    assert seen and all(row == [True, "/CN=standin"] for row in seen)


def test_store_on_the_trixie_python_with_psycopg_32(binary: Path, pg: PgServer, pg_node: tuple[Node, str]) -> None:
    node, db = pg_node
    create(node, "for-trixie")
    inside = pg.stage(binary)
    version = pg.in_image(["python3", "-c", "import psycopg, sys; print(psycopg.__version__, sys.version_info[:2])"])
    assert version.returncode == 0 and version.stdout.startswith("3.2"), version.stderr
    doc = pg.in_image(["python3", inside, "schema-init", "--store-url", pg.url(db), "--json"])
    assert doc.returncode == 0, doc.stderr
    assert json.loads(doc.stdout)["schema_version"] == 57
    live = pg.sql(db, "SELECT count(*) FROM memories WHERE expires_at IS NULL OR expires_at > now()")[0][0]
    copied = pg.in_image(["python3", inside, "--json", "migrate", "--from", pg.url(db), "--to",
                          "sqlite:///tmp/copy.db"])
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["memories_written"] == live > 0


def test_three_nodes_with_a_postgres_leader_reach_quorum(make_cluster, pg: PgServer) -> None:  # type: ignore[no-untyped-def]
    db = fresh_db(pg)
    cluster = make_cluster(writes=3, store_urls={0: pg.url(db)})  # W = N: every node must acknowledge
    leader, sqlite_peer, other = cluster.nodes
    mine = create(leader, "from-postgres", ns="fed", scope="collective")  # 201: W = 3 acknowledged
    assert "quorum_acks" not in mine  # the real's postgres branch answers the memory, without the count
    assert all(n.request("GET", f"/api/v1/memories/{mine['id']}").status == 200 for n in (sqlite_peer, other))
    theirs = create(sqlite_peer, "from-sqlite", ns="fed", scope="collective")
    assert theirs["quorum_acks"] == 3  # the postgres receiver acknowledged
    assert pg.sql(db, "SELECT title FROM memories WHERE id = %s", [theirs["id"]]) == [["from-sqlite"]]

    deleted = leader.request("DELETE", f"/api/v1/memories/{mine['id']}")
    assert deleted.body == {"deleted": True, "id": mine["id"]}  # §3.7: postgres leaders do not fan deletes out
    assert sqlite_peer.request("GET", f"/api/v1/memories/{mine['id']}").status == 200

    push = leader.request("POST", "/api/v1/sync/push", {"sender_agent_id": "host:test", "memories": [],
                                                         "archives": [{"id": "x"}]})
    assert push.status == 200 and push.body["storage_backend"] == "postgres" and push.body["skipped"] == 1

    other.stop(signal.SIGKILL)
    short = leader.request("POST", "/api/v1/memories", {"title": "while-down", "content": "c", "namespace": "fed",
                                                        "scope": "collective"})
    assert short.status == 503 and short.body["got"] == 2 and short.body["needed"] == 3
    [[down_id]] = pg.sql(db, "SELECT id FROM memories WHERE title = 'while-down'")  # kept on the leader
    queued = "SELECT peer_id, replayed_at IS NULL FROM federation_push_dlq WHERE memory_id = %s"
    assert wait_for(lambda: pg.sql(db, queued, [down_id]) == [["peer-1", True]], 5)  # postgres-side DLQ (§3.10)
    other.start()
    other.wait_healthy()
    assert wait_for(lambda: pg.sql(db, queued, [down_id]) == [["peer-1", False]], 15), "DLQ row never replayed"
    assert other.request("GET", f"/api/v1/memories/{down_id}").status == 200
    with contextlib.closing(sqlite3.connect(leader.home / "ai-memory.db")) as scratch:  # watermarks: scratch SQLite
        assert wait_for(lambda: scratch.execute("SELECT count(*) FROM sync_state WHERE peer LIKE 'peer-%'")
                        .fetchone()[0] >= 1, 10)
