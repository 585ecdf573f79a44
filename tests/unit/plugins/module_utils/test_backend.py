"""S5 (PostgreSQL + AGE backend) and ship-gate phase 3 (migration) checkers on hand-written histories."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.plugins.module_utils.history_builder import H, mem_id
from tests.unit.plugins.module_utils.test_checkers import has, judged

S5 = {"node": "pg", "namespace": "s5", "schema_version": 57}
GATE_501 = {"error": "endpoint not yet implemented for postgres-backed daemon", "endpoint": "/api/v1/share",
            "method": "POST", "storage_backend": "postgres", "remediation": "use sqlite-backed daemon"}
JOURNAL_AGE = ["2026-12-02T08:01:37Z  INFO store::postgres: Postgres KG backend: AGE kg_backend=age",
               # the documented Wave-3 notice (seed S5): not an AGE fallback
               "2026-12-02T08:29:54Z  WARN ai_memory::daemon_runtime: v0.7.0 Wave-3: postgres-backed daemon — handlers "
               "that have not yet migrated to the SAL trait surface 501 Not Implemented. See "
               "docs/postgres-age-guide.md for the supported endpoint inventory."]


def probe(h: H, f: str, status: int | None, body: dict[str, Any], path: str = "/", method: str = "GET") -> None:
    value = {"path": path, "method": method}
    h._add(process="prober", type="invoke", f=f, node="pg", value=value)
    h._add(process="prober", type="ok" if status else "fail", f=f, node="pg", value=value, status=status,
           response=body, headers={})


def s5_history(backend: str = "postgres", schema: int = 57, expires: str | None = "2026-12-08T10:00:00.000000Z",
               rows: int = 1, link_status: int = 201, link_rows: int = 1, edges: list[str] | None = None,
               cypher_ok: bool = True, journal: list[str] | None = None,
               gate_body: dict[str, Any] | None = None) -> H:
    h = H("s5")
    probe(h, "capabilities", 200, {"storage_backend": backend, "db_schema_version": schema},
          "/api/v1/capabilities")
    h.write("s5-00000", node="pg")
    h.write("s5-00001", node="pg")
    a, b = mem_id("s5-00000"), mem_id("s5-00001")
    memory = {"id": a, "title": "s5-00000", "tier": "mid", "created_at": "2026-12-01T10:00:00.000000Z"}
    if expires:
        memory["expires_at"] = expires
    probe(h, "get_memory", 200, {"memory": memory, "links": []}, f"/api/v1/memories/{a}")
    probe(h, "link", link_status, {"linked": True}, "/api/v1/links", "POST")
    h._add(process="prober", type="ok", f="sql", value={"id": a, "rows": rows, "link_rows": link_rows})
    h._add(process="prober", type="ok" if cypher_ok else "fail", f="cypher",
           value={"as_role": "ai_memory", "source": a, "target": b,
                  "edges": ['"related_to"'] if edges is None else edges,  # agtype as text
                  "error": "" if cypher_ok else "function ag_catalog.cypher does not exist"})
    h._add(process="prober", type="ok", f="journal", value={"rc": 0, "lines": JOURNAL_AGE if journal is None
                                                            else journal})
    probe(h, "route", 501, gate_body or GATE_501, "/api/v1/share", "POST")
    return h


def test_postgres_backend_passes_and_records_501_routes() -> None:
    result = judged("postgres_backend", s5_history().ops, S5)
    assert result["valid"], result["reasons"]
    assert result["routes_not_served_501"] == ["POST /api/v1/share"]
    assert result["figures"]["assertions_passed"]["numerator"] == 10
    assert result["daemon_kg"] == {"kg_backend": "AGE", "age_warnings": []}


@pytest.mark.parametrize(("kwargs", "cause"), [
    ({"backend": "sqlite"}, "storage_backend 'sqlite', expected postgres"),
    ({"schema": 54}, "db_schema_version 54, expected 57 for this release"),
    ({"expires": None}, "expires_at None is not created_at"),
    ({"expires": "2026-12-01T16:00:00Z"}, "is not created_at"),
    ({"rows": 0}, "direct query found 0 row(s)"),
    ({"link_status": 501}, "POST /api/v1/links answered 501"),
    ({"link_rows": 0}, "memory_links holds 0 row(s)"),
    ({"edges": []}, "the daemon did not project its link into AGE"),
    ({"cypher_ok": False}, "Cypher MATCH as role 'ai_memory' failed: function ag_catalog.cypher does not exist"),
    ({"journal": []}, "announced KG backend None, expected AGE"),
    ({"journal": ["Postgres KG backend: CTE"]}, "announced KG backend 'CTE', expected AGE"),
    ({"journal": [*JOURNAL_AGE, "2026-12-02T08:01:37Z  WARN store::postgres: ensure memory_graph "
                                "projection failed at connect"]}, "the daemon warned about AGE"),
    ({"journal": ["\x1b[2m2026\x1b[0m \x1b[32m INFO\x1b[0m store::postgres: Postgres KG backend: CTE"]},
     "announced KG backend 'CTE'"),
    ({"gate_body": {"error": "nope"}}, "501 without the contract's body"),
])
def test_postgres_backend_failures_name_the_cause(kwargs: dict[str, Any], cause: str) -> None:
    result = judged("postgres_backend", s5_history(**kwargs).ops, S5)
    assert not result["valid"] and has(result, cause), result["reasons"]


def test_the_route_gate_notice_is_no_age_warning() -> None:
    """ai-memory 0.7.0 WARNs at every postgres-backed start about its 501 gate, citing docs/postgres-age-guide.md:
    a file name, not an AGE fallback. A real AGE warning on the same journal still fails."""
    notice = ("2026-12-02T09:01:37.991428Z  WARN ai_memory::daemon_runtime: v0.7.0 Wave-3: postgres-backed daemon "
              "— handlers that have not yet migrated to the SAL trait surface 501 Not Implemented. See "
              "docs/postgres-age-guide.md for the supported endpoint inventory.")
    result = judged("postgres_backend", s5_history(journal=[*JOURNAL_AGE, notice]).ops, S5)
    assert result["valid"], result["reasons"]
    fallback = "2026-12-02T09:01:38Z  WARN ai_memory::store::postgres: AGE projection skipped on link insert"
    result = judged("postgres_backend", s5_history(journal=[*JOURNAL_AGE, notice, fallback]).ops, S5)
    assert not result["valid"] and has(result, "the daemon warned about AGE"), result["reasons"]


def test_an_unpinned_release_records_the_schema_it_reports() -> None:
    result = judged("postgres_backend", s5_history(schema=80).ops, {**S5, "schema_version": None})
    assert result["valid"], result["reasons"]
    assert result["capabilities"]["db_schema_version"] == 80 and result["expected_schema_version"] is None


def test_postgres_backend_without_a_create() -> None:
    h = H("s5")
    probe(h, "capabilities", 200, {"storage_backend": "postgres", "db_schema_version": 57})
    h.write("s5-00000", node="pg", status=500)
    result = judged("postgres_backend", h.ops, S5)
    assert has(result, "create_201: 0 of 2 creates answered 201 (500)") and has(result, "no memory was created")


# ---------------------------------------------------------------- phase 3 migration

N = 4


def mig(h: H, f: str, ok: bool, value: dict[str, Any], step: str | None = None) -> None:
    extra = {"step": step} if step else {}
    h._add(process="migration", type="ok" if ok else "fail", f=f, value=value, **extra)


def report(read: int = N, written: int = N, errors: list[str] | None = None) -> dict[str, Any]:
    return {"from_url": "x", "to_url": "y", "memories_read": read, "memories_written": written, "batches": 1,
            "errors": errors or [], "dry_run": False}


COLUMNS = {"id": "c1", "title": "c2", "content": "c3", "updated_at": "c4", "version": "c5"}


def p3_history(again_columns: dict[str, str] | None = None, again_count: int = N, lose: list[str] | None = None,
               reverse_errors: list[str] | None = None, seeded: int = N, version_bumps: int = 0) -> H:
    h = H()
    digests = {f"id{i}": f"dig{i}" for i in range(N)}
    mig(h, "seed", seeded == N, {"count": N, "created": seeded, "errors": []})
    mig(h, "list_source", True, {"count": N, "digests": digests, "error": ""})
    mig(h, "migrate", True, {"rc": 0, "report": report()}, "forward")
    mig(h, "pg_state", True, {"count": N, "digest": "d1", "columns": COLUMNS, "version_sum": N}, "after_forward")
    mig(h, "migrate", True, {"rc": 0, "report": report()}, "again")
    mig(h, "pg_state", True, {"count": again_count, "digest": "d2", "columns": {**COLUMNS, **(again_columns or {})},
                              "version_sum": N + version_bumps}, "after_again")
    mig(h, "migrate", not reverse_errors, {"rc": 1 if reverse_errors else 0,
                                           "report": report(errors=reverse_errors)}, "reverse")
    back = dict(digests)
    diff = {}
    for mem in lose or []:
        back[mem] = "other"
        diff[mem] = ["tags"]
    mig(h, "list_roundtrip", True, {"count": N, "digests": back, "fields_differing": diff, "error": ""})
    return h


def test_migration_passes_with_shipgate_reports() -> None:
    result = judged("migration", p3_history().ops, {"count": N})
    assert result["valid"], result["reasons"]
    assert result["shipgate"]["phase"] == 3 and result["shipgate"]["src_count"] == N
    assert result["shipgate"]["report_idempotent"]["memories_read"] == N


def test_a_rerun_that_changes_postgres_is_red_and_names_the_columns() -> None:
    result = judged("migration", p3_history(again_columns={"content": "x", "updated_at": "y"}).ops, {"count": N})
    assert has(result, "the second migration changed PostgreSQL") and has(result, "column(s) content, updated_at")
    assert has(judged("migration", p3_history(again_count=2 * N).ops, {"count": N}), f"{N} -> {2 * N} rows")


def test_a_rerun_may_bump_the_version_counter_and_the_evidence_counts_the_bumps() -> None:
    result = judged("migration", p3_history(again_columns={"version": "bumped"}, version_bumps=N).ops, {"count": N})
    assert result["valid"], result["reasons"]
    assert result["rerun"] == {"columns_changed": ["version"], "version_bumps": N}


def test_a_lost_field_is_named() -> None:
    result = judged("migration", p3_history(lose=["id1", "id2"]).ops, {"count": N})
    assert has(result, f"2 of {N} memories differ after the round trip, in field(s) tags (2 rows)")


def test_reverse_errors_and_short_seed_are_red() -> None:
    assert has(judged("migration", p3_history(reverse_errors=["id3: boom"]).ops, {"count": N}),
               "migrate reverse: 1 error(s): id3: boom")
    assert has(judged("migration", p3_history(seeded=N - 1).ops, {"count": N}), f"seed: {N - 1} of {N} created")


def test_an_empty_migration_history_is_red() -> None:
    result = judged("migration", [], {"count": N})
    assert has(result, "seed: never ran") and has(result, "migrate forward: never ran")
