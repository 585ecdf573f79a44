"""The stand-in against the real ai-memory 0.7.0: the same HTTP requests, CLI commands (``--json``), MCP sessions
(``initialize``, ``tools/list`` per profile, ``tools/call``), ``migrate --json``, quorum shortfall, a link fanned
out to a peer, and a PostgreSQL + AGE backend as S5 reads it (the stand-in tests' PostgreSQL server: root), run
on both, their answers reduced to shapes (status, contract headers, JSON keys and types, time spelling, exit
codes) or, where a value is what a check reads, compared exactly. A difference fails the test unless ``ALLOWED``
lists it with the reason (docs/standin.md repeats the list); an allowance that no longer matches anything fails
too, so the list never outlives the gap.

The real binary comes from the build role's cache (``scripts/test`` builds it first and exports
``AIMEMORY_REAL_BINARY``); without it the test fails when ``AIMEMORY_REQUIRE_REAL=1`` (CI), else it is skipped.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.backend import _journal as s5_journal

from tests.differential.harness import Binary, differences, free_port, shape

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path("/var/lib/aimemory-build/artifacts")

# (scenario, path prefix) -> why the stand-in differs there; docs/standin.md "Differences from the real binary"
ALLOWED: dict[tuple[str, str], str] = {
}


def find_real_binary(version: str = "0.7.0") -> Path | None:
    given = os.environ.get("AIMEMORY_REAL_BINARY")
    if given:
        return Path(given)
    found = []
    for manifest in CACHE.glob(f"ai-memory-{version}-*/manifest.json"):
        doc = json.loads(manifest.read_text())
        binary = manifest.parent / doc.get("binary", "ai-memory")
        if doc.get("version_output") == f"ai-memory {version}" and binary.exists():
            found.append((manifest.stat().st_mtime, binary))
    return max(found)[1] if found else None


@pytest.fixture(scope="module")
def binaries() -> Iterator[dict[str, Path]]:
    real = find_real_binary()
    if real is None:
        message = ("no real ai-memory 0.7.0 in the build cache: run scripts/test (it builds it) or set "
                   "AIMEMORY_REAL_BINARY")
        if os.environ.get("AIMEMORY_REQUIRE_REAL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    standin = ROOT / "build" / "ai-memory"
    assert standin.exists(), "run scripts/bootstrap (it builds the stand-in)"
    yield {"real": real, "stand-in": standin}


def run_both(binaries: dict[str, Path], scenario: Callable[[Binary], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    results = {}
    for name, path in binaries.items():
        with tempfile.TemporaryDirectory(prefix=f"diff-{name}-") as home:
            b = Binary(path, Path(home))
            try:
                results[name] = scenario(b)
            finally:
                b.stop()
    return results


USED: set[tuple[str, str]] = set()


def unexplained(results: dict[str, dict[str, Any]]) -> list[str]:
    """Every difference of every step not covered by ALLOWED (allowances hit are remembered)."""
    out = []
    for step in results["real"]:
        for diff in differences(results["real"][step], results["stand-in"][step]):
            hit = [key for key in ALLOWED if key[0] == step and diff.startswith(key[1])]
            USED.update(hit)
            if not hit:
                out.append(f"{step}: {diff}")
    return out


def assert_alike(results: dict[str, dict[str, Any]]) -> None:
    diffs = unexplained(results)
    assert diffs == [], "differences not in ALLOWED:\n" + "\n".join(diffs)


# ---------------------------------------------------------------- HTTP

def http_scenario(b: Binary) -> dict[str, Any]:
    d = b.serve("http.db")
    ns = "diff-ns"
    out: dict[str, Any] = {}

    def step(name: str, method: str, path: str, body: Any = None) -> Any:
        answer = d.request(method, path, body)
        out[name] = answer.shape()
        return answer.body

    step("health", "GET", "/api/v1/health")
    step("capabilities", "GET", "/api/v1/capabilities")
    a = step("create", "POST", "/api/v1/memories", {"title": "t1", "content": "alpha beta", "namespace": ns,
                                                      "scope": "collective", "tags": ["x"], "metadata": {"k": 1},
                                                      "priority": 7})
    b2 = step("create_plain", "POST", "/api/v1/memories", {"title": "t2", "content": "gamma", "namespace": ns,
                                                             "scope": "collective"})
    step("create_conflict", "POST", "/api/v1/memories", {"title": "t1", "content": "again", "namespace": ns,
                                                          "scope": "collective"})
    step("create_missing_title", "POST", "/api/v1/memories", {"content": "no title"})
    ida, idb = (a or {}).get("id", "x"), (b2 or {}).get("id", "y")
    step("get", "GET", f"/api/v1/memories/{ida}")
    step("get_unknown", "GET", "/api/v1/memories/00000000-0000-4000-8000-000000000000")
    step("update", "PUT", f"/api/v1/memories/{ida}", {"content": "alpha beta delta"})
    step("list", "GET", f"/api/v1/memories?namespace={ns}&limit=10")
    step("search", "GET", f"/api/v1/search?q=delta&namespace={ns}")
    step("bulk", "POST", "/api/v1/memories/bulk", [{"title": f"b{i}", "content": "bulk", "namespace": ns}
                                                   for i in range(3)])
    step("link", "POST", "/api/v1/links", {"source_id": ida, "target_id": idb, "relation": "related_to"})
    step("link_bad_relation", "POST", "/api/v1/links", {"source_id": ida, "target_id": idb, "relation": "likes"})
    step("link_unknown_field", "POST", "/api/v1/links", {"source_id": ida, "target_id": idb, "link_type": "x"})
    step("get_with_link", "GET", f"/api/v1/memories/{ida}")
    step("delete", "DELETE", f"/api/v1/memories/{idb}")
    step("delete_again", "DELETE", f"/api/v1/memories/{idb}")
    step("sync_since", "GET", "/api/v1/sync/since?since=2020-01-01T00:00:00Z")
    return out


def test_http_api_answers_alike(binaries: dict[str, Path]) -> None:
    assert_alike(run_both(binaries, http_scenario))


def quorum_scenario(b: Binary) -> dict[str, Any]:
    d = b.serve("q.db", "--quorum-writes", "2", "--quorum-peers", f"http://127.0.0.1:{free_port()}",
                "--quorum-timeout-ms", "500", env={"AI_MEMORY_FED_SYNC_TRUST_PEER": "1"})
    answer = d.request("POST", "/api/v1/memories", {"title": "q1", "content": "x", "namespace": "q",
                                                    "scope": "collective"})
    return {"quorum_not_met": {**answer.shape(), "retry_after": answer.headers.get("retry-after"),
                               "error": (answer.body or {}).get("error"), "needed": (answer.body or {}).get("needed"),
                               "got": (answer.body or {}).get("got")}}


def test_quorum_shortfall_answers_alike(binaries: dict[str, Path]) -> None:
    results = run_both(binaries, quorum_scenario)
    assert results["real"]["quorum_not_met"]["status"] == 503
    assert_alike(results)


def federation_scenario(b: Binary) -> dict[str, Any]:
    """Two daemons, W = 2: a memory and a link written on one reach the other (the link through its own
    fan-out: catch-up carries no links)."""
    env = {"AI_MEMORY_FED_SYNC_TRUST_PEER": "1"}
    peer = b.serve("peer.db", env=env)
    leader = b.serve("leader.db", "--quorum-writes", "2", "--quorum-peers", f"http://127.0.0.1:{peer.port}",
                     "--quorum-timeout-ms", "3000", env=env)
    out: dict[str, Any] = {}
    ids = []
    for title in ("f1", "f2"):
        answer = leader.request("POST", "/api/v1/memories", {"title": title, "content": "fed", "namespace": "fed",
                                                             "scope": "collective"})
        out[f"create_{title}"] = answer.shape()
        ids.append((answer.body or {}).get("id", "x"))
    link = leader.request("POST", "/api/v1/links", {"source_id": ids[0], "target_id": ids[1]})
    out["link"] = link.shape()
    on_peer = peer.request("GET", f"/api/v1/memories/{ids[0]}")
    out["peer_get_with_link"] = {**on_peer.shape(),
                                 "links": exact([(k["relation"], k.get("attest_level"))
                                                 for k in (on_peer.body or {}).get("links") or []])}
    return out


def test_federated_link_answers_alike(binaries: dict[str, Path]) -> None:
    results = run_both(binaries, federation_scenario)
    assert results["real"]["peer_get_with_link"]["links"] == exact([("related_to", "unsigned")])
    assert_alike(results)


# ---------------------------------------------------------------- PostgreSQL + AGE (what S5 reads)

DATABASES = itertools.count()
# the journal lines S5 records (playbooks/tasks/check_s5.yml), judged by S5's own code
S5_LINES = re.compile(r"(?i)(kg backend|memory_graph|apache age|\bage\b|load .age|postgres)")


def exact(value: Any) -> str:
    """A value compared as it is, not by shape (the shape of a list compares its first items only)."""
    return json.dumps(value, sort_keys=True)


def postgres_scenario(pg: Any) -> Callable[[Binary], dict[str, Any]]:
    def scenario(b: Binary) -> dict[str, Any]:
        db = pg.create_database(f"diff_{next(DATABASES)}_{os.getpid()}")
        d = b.serve(None, "--store-url", pg.url(db), env={"RUST_LOG": "ai_memory=info,store::postgres=info"})
        out: dict[str, Any] = {}

        def step(name: str, method: str, path: str, body: Any = None) -> Any:
            answer = d.request(method, path, body)
            out[name] = answer.shape()
            return answer.body

        caps = step("capabilities", "GET", "/api/v1/capabilities")
        out["capabilities_values"] = {k: (caps or {}).get(k) for k in ("storage_backend", "db_schema_version")}
        a = step("create", "POST", "/api/v1/memories", {"title": "p1", "content": "pg one", "namespace": "pgd",
                                                         "tier": "mid", "scope": "collective"})
        b2 = step("create_plain", "POST", "/api/v1/memories", {"title": "p2", "content": "pg two",
                                                                "namespace": "pgd"})
        step("create_missing_title", "POST", "/api/v1/memories", {"content": "no title"})
        ida, idb = (a or {}).get("id", "x"), (b2 or {}).get("id", "y")
        step("get", "GET", f"/api/v1/memories/{ida}")
        step("update", "PUT", f"/api/v1/memories/{idb}", {"content": "pg two changed"})
        step("link", "POST", "/api/v1/links", {"source_id": ida, "target_id": idb, "relation": "related_to"})
        step("link_bad_relation", "POST", "/api/v1/links", {"source_id": ida, "target_id": idb, "relation": "x-y"})
        step("link_missing_target", "POST", "/api/v1/links", {"source_id": ida, "target_id": "nope"})
        step("get_with_link", "GET", f"/api/v1/memories/{ida}")
        step("list", "GET", "/api/v1/memories?namespace=pgd")
        step("reflect_route", "POST", "/api/v1/memory_reflect", {})  # S5's probes: served on postgres ...
        step("gated_route", "POST", "/api/v1/share", {})  # ... and gated (501)
        step("gated_skill_list", "GET", "/api/v1/skill/list")
        out["sql"] = exact(pg.sql(db, "SELECT (SELECT count(*) FROM memories), (SELECT count(*) FROM memory_links "
                                      "WHERE source_id = %s AND target_id = %s)", [ida, idb]))
        out["age_edge_as_role"] = exact(pg.as_role_cypher(
            db, f"MATCH (a:Memory {{id: '{ida}'}})-[r]->(b:Memory {{id: '{idb}'}}) RETURN type(r)"))
        out["memory_vertices"] = exact(pg.as_role_cypher(db, "MATCH (m:Memory) RETURN count(m)"))
        step("delete", "DELETE", f"/api/v1/memories/{idb}")
        out["links_after_delete"] = exact(pg.sql(db, "SELECT count(*) FROM memory_links"))
        lines = [line for line in d.log.read_text(errors="replace").splitlines() if S5_LINES.search(line)]
        backend, warnings = s5_journal({"type": "ok", "value": {"lines": lines}})
        out["journal_as_s5_reads_it"] = exact({"kg_backend": backend, "age_warnings": len(warnings),
                                               "warn_lines": sum(1 for line in lines if " WARN " in line)})
        return out

    return scenario


def test_postgres_backend_answers_alike(binaries: dict[str, Path], pg: Any) -> None:
    results = run_both(binaries, postgres_scenario(pg))
    real = results["real"]
    assert real["age_edge_as_role"] == exact([["related_to"]])
    assert json.loads(real["journal_as_s5_reads_it"])["kg_backend"] == "AGE"
    assert_alike(results)


def migrate_scenario(pg: Any) -> Callable[[Binary], dict[str, Any]]:
    """Phase 3's round trip on a small scale: SQLite -> PostgreSQL twice (the re-run), then back into a fresh
    SQLite file twice; the version counters and the report shapes at each step."""
    def scenario(b: Binary) -> dict[str, Any]:
        db = pg.create_database(f"diffmig_{next(DATABASES)}_{os.getpid()}")
        src, back = f"sqlite://{b.home}/src.db", f"sqlite://{b.home}/back.db"
        for i in range(3):
            b.cli("--db", f"{b.home}/src.db", "store", "-T", f"m{i}", "-c", f"content {i}", "-n", "mig")
        out: dict[str, Any] = {}
        for step, frm, to in (("forward", src, pg.url(db)), ("again", src, pg.url(db)),
                              ("reverse", pg.url(db), back), ("reverse_again", pg.url(db), back)):
            done = b.cli("migrate", "--from", frm, "--to", to, "--namespace", "mig", "--json")
            if to.startswith("postgres"):
                target = pg.sql(db, "SELECT title, version FROM memories ORDER BY title")
            else:
                listed = _doc(b.cli("--db", f"{b.home}/back.db", "--json", "list", "-n", "mig").stdout)
                rows = listed.get("memories", []) if isinstance(listed, dict) else []
                target = sorted([m.get("title"), m.get("version")] for m in rows)
            out[step] = {"rc": done.returncode, "report": shape(_doc(done.stdout)), "versions": exact(target)}
        return out

    return scenario


def test_migrate_round_trip_answers_alike(binaries: dict[str, Path], pg: Any) -> None:
    results = run_both(binaries, migrate_scenario(pg))
    assert results["real"]["reverse"]["versions"] == exact([["m0", 1], ["m1", 1], ["m2", 1]])
    assert_alike(results)


# ---------------------------------------------------------------- CLI

def _doc(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return f"not one JSON document: {text[:80]!r}"


def cli_scenario(b: Binary) -> dict[str, Any]:
    db = str(b.home / "c.db")
    out: dict[str, Any] = {}

    def step(name: str, *args: str) -> Any:
        done = b.cli("--db", db, *args)
        doc = _doc(done.stdout) if "--json" in args else None
        out[name] = {"rc": done.returncode, "stdout": shape(doc) if doc is not None else "text"}
        return doc

    stored = step("store", "--json", "store", "--title", "c1", "--content", "cli content one", "--tier", "mid",
                  "--namespace", "cns")
    mid = stored.get("id", "x") if isinstance(stored, dict) else "x"
    step("get", "--json", "get", mid)
    step("list", "--json", "list", "--namespace", "cns", "--limit", "5")
    step("stats", "--json", "stats")
    step("recall_keyword", "--json", "recall", "cli content", "--limit", "5", "--tier", "keyword")
    step("search", "--json", "search", "content", "--namespace", "cns")
    step("curator", "--json", "curator", "--once", "--dry-run", "--max-ops", "10")
    step("backup", "backup", "--to", str(b.home / "bk"), "--keep", "1")
    manifests = sorted((b.home / "bk").glob("ai-memory-*.manifest.json"))
    out["backup_manifest"] = shape(json.loads(manifests[0].read_text())) if manifests else "none"
    migrated = b.cli("migrate", "--from", f"sqlite://{db}", "--to", f"sqlite://{b.home}/m.db", "--namespace",
                     "cns", "--json")
    out["migrate"] = {"rc": migrated.returncode, "stdout": shape(_doc(migrated.stdout)),
                      "pretty": migrated.stdout.count("\n") > 1}
    step("get_unknown", "--json", "get", "00000000-0000-4000-8000-000000000000")
    step("get_after_recall", "--json", "get", mid)  # the recall touched it: last_accessed_at, access_count
    step("store_confident", "store", "--json", "--title", "c2", "--content", "cli content two", "-n", "cns",
         "--confidence", "0.5", "--priority", "9")  # global flags after the subcommand, as clap takes them
    step("list_flags_after", "list", "--json", "-n", "cns", "--limit", "5", "--agent-id", "nobody")
    step("store_bad_priority", "--json", "store", "--title", "c3", "--content", "x", "--priority", "11")
    step("delete", "--json", "delete", mid)
    step("delete_again", "--json", "delete", mid)
    return out


def test_cli_json_answers_alike(binaries: dict[str, Path]) -> None:
    results = run_both(binaries, cli_scenario)
    assert results["real"]["migrate"]["pretty"] is True  # the finding phase 3 once tripped on
    assert_alike(results)


# ---------------------------------------------------------------- MCP

PROFILES = ("core", "lifecycle", "graph", "admin", "power", "full")


def mcp_scenario(b: Binary) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for profile in PROFILES:
        msgs = [{"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "d"}}},
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
                {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                 "params": {"name": "memory_store", "arguments": {"title": f"m-{profile}", "content": "over mcp"}}},
                {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                 "params": {"name": "memory_recall", "arguments": {"context": "over mcp"}}},
                {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "no_such_tool"}},
                {"jsonrpc": "2.0", "id": 6, "method": "no/such/method"}]
        done = b.cli("--db", str(b.home / f"mcp-{profile}.db"), "mcp", "--profile", profile, "--tier", "keyword",
                     stdin="\n".join(json.dumps(m) for m in msgs) + "\n")
        replies = {r.get("id"): r for r in map(_doc, done.stdout.splitlines()) if isinstance(r, dict)}
        tools = [t.get("name") for t in ((replies.get(2) or {}).get("result") or {}).get("tools", [])]
        recalled = json.dumps((replies.get(4) or {}).get("result"))
        out[f"mcp_{profile}"] = {
            "rc": done.returncode, "replied_ids": sorted(k for k in replies if k is not None),
            "initialize": replies.get(1, {}).get("result"), "tools": tools,
            "store_result": shape((replies.get(3) or {}).get("result")),
            "recall_finds_title": f"m-{profile}" in recalled,
            "unknown_tool": (replies.get(5) or {}).get("error", {}).get("code"),
            "unknown_method": (replies.get(6) or {}).get("error", {}).get("code")}
    bad = b.cli("--db", str(b.home / "mcp-bad.db"), "mcp", "--profile", "bogus", stdin="\n")
    out["mcp_bad_profile"] = {"rc": bad.returncode, "stdout": bad.stdout}
    return out


def test_mcp_sessions_answer_alike_for_every_profile(binaries: dict[str, Path]) -> None:
    results = run_both(binaries, mcp_scenario)
    assert len(results["real"]["mcp_core"]["tools"]) == 8 and results["real"]["mcp_core"]["recall_finds_title"]
    assert_alike(results)


# ---------------------------------------------------------------- the list of allowances stays honest

def test_every_allowance_is_still_needed() -> None:
    """Runs last in this module (pytest keeps file order): an allowance no scenario hit is stale."""
    if not ALLOWED:
        return
    if not USED:
        pytest.skip("the differential scenarios did not run")
    assert sorted(set(ALLOWED) - USED) == []
