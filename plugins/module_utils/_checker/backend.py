# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""PostgreSQL checkers: S5, the Postgres + AGE backend (T4 contract), and ship-gate phase 3, migration.

S5 (``postgres_backend``) judges the daemon, not a superuser beside it: a node started with ``--store-url
postgres://`` reports ``storage_backend: postgres`` and the schema version its release expects (pinned by the
campaign from the release table; a release the table does not know is recorded as reported, not judged); a create
is 201 and a get 200 with the tier's expiry backfilled (mid: created + 7 days, short: + 6 hours, long: none); the
row is visible in PostgreSQL by a direct query; a link written through the daemon's API is a ``memory_links`` row
and an edge of the AGE graph ``memory_graph`` that a Cypher MATCH finds as the daemon's own role; the daemon's
journal says its KG backend is AGE and carries no AGE fallback warning. Routes the backend does not serve answer
501 with the contract's body: they are recorded, not counted as failures.

Phase 3 (``migration``): see ``_workload/migration.py`` for the steps; every count, every error list and every row
digest is judged, in both directions, and the re-run must leave PostgreSQL unchanged.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._checker.convergence import examples, select_writes
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.ops import figure
from ansible_collections.aimemory.swarm.plugins.module_utils._ops import response, status, time_ns

# the optimistic-concurrency counter: ai-memory 0.7.0 bumps it on every upsert-merge (#1632, "upsert-merge IS a
# mutation"), so re-running a migration bumps it on every row; phase 3 reports the bumps and judges the content
RERUN_MUTABLE = "version"
TIER_TTL_S = {"short": 6 * 3600, "mid": 7 * 86400, "long": None}
ROUTE_501_KEYS = {"error", "endpoint", "method", "storage_backend", "remediation"}


def _last(ops: list[dict[str, Any]], f: str, step: str | None = None) -> dict[str, Any] | None:
    found = [op for op in ops if op.get("f") == f and op.get("type") in ("ok", "fail", "info")
             and (step is None or op.get("step") == step)]
    return found[-1] if found else None


def _seconds(text: Any) -> float | None:
    ns = time_ns(text) if isinstance(text, str) else None
    return ns / 1e9 if ns is not None else None


def _agtype_row(row: Any) -> dict[str, Any]:
    """A Cypher result row: agtype values arrive as text (strings JSON-quoted: '"swarm-tester"')."""
    if not isinstance(row, dict):
        return {}
    out = {}
    for key, value in row.items():
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        out[key] = value
    return out


KG_BACKEND = re.compile(r"Postgres KG backend: (\w+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# a warning from the store's KG targets, or naming the graph, AGE or its LOAD; file names a line cites are not what
# it warns about: 0.7.0 WARNs at every postgres-backed start that unmigrated handlers answer 501, "See
# docs/postgres-age-guide.md ..." (no AGE problem)
AGE_FALLBACK = re.compile(r"\bWARN\b.*(store::postgres|memory_graph|\bAGE\b|LOAD 'age'|cypher)")
CITED_FILE = re.compile(r"\S+\.md\b")


def _journal(op: dict[str, Any] | None) -> tuple[str | None, list[str]]:
    """(the KG backend the daemon announced, its warnings about AGE) from the journal lines S5 recorded."""
    lines = [ANSI.sub("", str(x)) for x in ((op or {}).get("value") or {}).get("lines") or []]
    backends = [m.group(1) for m in (KG_BACKEND.search(line) for line in lines) if m]
    return (backends[-1] if backends else None), [line for line in lines
                                                  if AGE_FALLBACK.search(CITED_FILE.sub("", line))]


def postgres_backend(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """S5. params: ``node``, ``namespace``, ``schema_version`` (the release's; None when not pinned)."""
    expected_schema = params.get("schema_version")
    checks: dict[str, str | None] = {}  # assertion -> None when it held, else why not

    caps_op = _last(ops, "capabilities")
    caps = response(caps_op) if caps_op else {}
    if caps_op is None or status(caps_op) != 200:
        checks["capabilities"] = f"capabilities not read (status {status(caps_op) if caps_op else 'none'})"
        checks["schema_version"] = "capabilities not read"
    else:
        backend, schema = caps.get("storage_backend"), caps.get("db_schema_version")
        checks["capabilities"] = None if backend == "postgres" else f"storage_backend {backend!r}, expected postgres"
        if expected_schema in (None, "", "None"):
            checks["schema_version"] = None if isinstance(schema, int) else \
                f"db_schema_version {schema!r} is not a number (the release is not pinned: the binary's report)"
        else:
            checks["schema_version"] = None if schema == int(expected_schema) else \
                f"db_schema_version {schema!r}, expected {int(expected_schema)} for this release"

    writes, problems = select_writes(ops, {"namespace": params.get("namespace")})
    acked = [w for w in writes if w.type == "ok" and w.id]
    checks["create_201"] = None if len(acked) >= 2 else \
        f"{len(acked)} of 2 creates answered 201 ({', '.join(str(w.status or w.type) for w in writes) or 'none'})"
    memory: dict[str, Any] = {}
    by_id = {w.id: w for w in acked}
    if acked:
        get_op = _last(ops, "get_memory")
        memory = (response(get_op).get("memory") or {}) if get_op else {}
        written = by_id.get(memory.get("id"))
        if get_op is None or status(get_op) != 200 or written is None:
            checks["get_200"] = (f"get answered {status(get_op) if get_op else 'nothing'} with id "
                                 f"{memory.get('id')!r}, not one of the acknowledged {sorted(by_id)}")
        elif memory.get("title") != written.title:
            checks["get_200"] = f"get returned title {memory.get('title')!r}, written {written.title!r}"
        else:
            checks["get_200"] = None
        tier = memory.get("tier")
        created, expires = _seconds(memory.get("created_at")), _seconds(memory.get("expires_at"))
        ttl = TIER_TTL_S.get(str(tier), "unknown")
        if not memory:
            checks["expiry_backfilled"] = "no memory read back"
        elif ttl == "unknown":
            checks["expiry_backfilled"] = f"unknown tier {tier!r}"
        elif ttl is None:
            checks["expiry_backfilled"] = None if expires is None else f"tier long has expires_at {expires}"
        elif created is None or expires is None or abs(expires - created - ttl) > 2:
            checks["expiry_backfilled"] = (f"tier {tier}: expires_at {memory.get('expires_at')!r} is not created_at "
                                           f"{memory.get('created_at')!r} + {ttl} s")
        else:
            checks["expiry_backfilled"] = None
    else:
        for name in ("get_200", "expiry_backfilled"):
            checks[name] = "no memory was created"
    sql = _last(ops, "sql")
    sql_v = (sql or {}).get("value") or {}
    if len(acked) < 2:
        for name in ("row_in_postgres", "link_201", "link_row_in_postgres", "age_edge_by_daemon"):
            checks[name] = "fewer than two memories were created"
    else:
        checks["row_in_postgres"] = None if sql and sql.get("type") == "ok" and sql_v.get("id") in by_id \
            and int(sql_v.get("rows") or 0) == 1 else f"direct query found {sql_v.get('rows')!r} row(s) for the id"
        link = _last(ops, "link")
        answer = f"{status(link)}: {str(response(link))[:200]}" if link else "nothing"
        checks["link_201"] = None if link and status(link) in (200, 201) else f"POST /api/v1/links answered {answer}"
        checks["link_row_in_postgres"] = None if int(sql_v.get("link_rows") or 0) == 1 else \
            f"memory_links holds {sql_v.get('link_rows')!r} row(s) for the link"
        cypher = _last(ops, "cypher")
        cy = (cypher or {}).get("value") or {}
        if cypher is not None and not {cy.get("source"), cy.get("target")} <= set(by_id):
            cy = {**cy, "error": f"the MATCH was for {cy.get('source')} -> {cy.get('target')}, not two created ids"}
            cypher = {**cypher, "type": "fail"}
        edges = [_agtype_row({"e": e}).get("e") for e in cy.get("edges") or []]
        if cypher is None or cypher.get("type") != "ok":
            checks["age_edge_by_daemon"] = (f"Cypher MATCH as role {cy.get('as_role')!r} failed: "
                                            f"{str(cy.get('error'))[:300] or 'never ran'}")
        elif edges != ["related_to"]:
            checks["age_edge_by_daemon"] = (f"memory_graph holds edges {edges} from {cy.get('source')} to "
                                            f"{cy.get('target')}, expected one related_to: the daemon did not "
                                            "project its link into AGE")
        else:
            checks["age_edge_by_daemon"] = None
    journal = _last(ops, "journal")
    backend, warnings = _journal(journal)
    if journal is None or journal.get("type") != "ok":
        checks["age_in_journal"] = "the daemon's journal could not be read"
    elif backend != "AGE":
        checks["age_in_journal"] = f"the daemon announced KG backend {backend!r}, expected AGE"
    elif warnings:
        checks["age_in_journal"] = f"the daemon warned about AGE: {examples(warnings)}"
    else:
        checks["age_in_journal"] = None
    memory_kg = {"kg_backend": backend, "age_warnings": warnings}

    not_served, served, wrong = [], [], []
    for op in ops:
        if op.get("f") != "route" or op.get("type") == "invoke":
            continue
        route = f"{(op.get('value') or {}).get('method')} {(op.get('value') or {}).get('path')}"
        body = response(op)
        if status(op) == 501:
            if set(body) != ROUTE_501_KEYS or body.get("storage_backend") != "postgres":
                wrong.append(f"{route}: 501 body keys {sorted(body)}")
            else:
                not_served.append(route)
        else:
            served.append(f"{route}: {status(op) or op.get('error_class')}")
    if wrong:
        checks["route_gate"] = f"501 without the contract's body: {examples(wrong)}"
    reasons = list(problems) + [f"{k}: {v}" for k, v in checks.items() if v]
    passed = sum(1 for v in checks.values() if v is None)
    return {"valid": not reasons, "reasons": reasons,
            "figures": {"assertions_passed": figure(passed, len(checks))},
            "assertions": {k: v or "ok" for k, v in checks.items()}, "capabilities": caps,
            "memory": memory, "daemon_kg": memory_kg, "expected_schema_version": expected_schema,
            "routes_not_served_501": not_served, "routes_served": served}


def _report(op: dict[str, Any] | None) -> dict[str, Any]:
    value = (op or {}).get("value") or {}
    return value.get("report") if isinstance(value.get("report"), dict) else {}


def migration(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Phase 3. params: ``count`` (memories seeded, 1000); ``precision`` (the precision the release keeps times at
    across its backends, from the release table: the round trip must have been compared at it, no finer or
    coarser)."""
    count = int(params["count"])
    reasons: list[str] = []
    seed = _last(ops, "seed")
    seed_v = (seed or {}).get("value") or {}
    if seed is None:
        reasons.append("seed: never ran")
    elif seed_v.get("created") != count or seed_v.get("errors"):
        reasons.append(f"seed: {seed_v.get('created')} of {count} created through the bulk API, errors "
                       f"{examples([str(e) for e in seed_v.get('errors') or []]) or 'none'}")
    src = _last(ops, "list_source")
    src_v = (src or {}).get("value") or {}
    src_digests: dict[str, str] = src_v.get("digests") or {}
    if src is None or src.get("type") != "ok":
        reasons.append(f"source listing failed: {src_v.get('error') or 'never ran'}")
    elif len(src_digests) != count:
        reasons.append(f"source holds {len(src_digests)} memories, expected {count}")
    reports = {}
    for step in ("forward", "again", "reverse"):
        op = _last(ops, "migrate", step)
        rep = _report(op)
        reports[step] = rep
        if op is None:
            reasons.append(f"migrate {step}: never ran")
            continue
        if op.get("type") != "ok":
            reasons.append(f"migrate {step}: exit {(op.get('value') or {}).get('rc')}, report {rep or 'none'}: "
                           f"{(op.get('value') or {}).get('stderr', '')[:200]}")
        if rep.get("errors"):
            errors = [str(e) for e in rep["errors"]]
            reasons.append(f"migrate {step}: {len(errors)} error(s): {examples(errors)}")
        if rep.get("memories_read") != count:
            reasons.append(f"migrate {step}: memories_read {rep.get('memories_read')}, expected {count}")
        if step != "again" and rep.get("memories_written") != count:
            reasons.append(f"migrate {step}: memories_written {rep.get('memories_written')}, expected {count}")
    states = {}
    for step in ("after_forward", "after_again"):
        op = _last(ops, "pg_state", step)
        value = (op or {}).get("value") or {}
        states[step] = value
        if op is None or op.get("type") != "ok":
            reasons.append(f"PostgreSQL {step.replace('_', ' ')}: not read ({value.get('error') or 'never ran'})")
    fwd, again = states["after_forward"], states["after_again"]
    if "count" in fwd and fwd["count"] != count:
        reasons.append(f"PostgreSQL holds {fwd['count']} rows of the namespace after the migration, expected {count}")
    rerun: dict[str, Any] = {}
    if "count" in fwd and "count" in again:
        before, after = fwd.get("columns") or {}, again.get("columns") or {}
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        content_changed = [c for c in changed if c != RERUN_MUTABLE]
        rerun = {"columns_changed": changed, "version_bumps": int(again.get("version_sum") or 0)
                 - int(fwd.get("version_sum") or 0)}
        if not before or not after:
            reasons.append("PostgreSQL's state has no column digests: the re-run cannot be judged")
        elif fwd["count"] != again["count"] or content_changed:
            reasons.append(f"the second migration changed PostgreSQL: {fwd['count']} -> {again['count']} rows, "
                           f"column(s) {', '.join(content_changed) or 'none'} changed (only the {RERUN_MUTABLE} "
                           "counter may move: the re-run must leave the content as it was)")
    back = _last(ops, "list_roundtrip")
    back_v = (back or {}).get("value") or {}
    back_digests: dict[str, str] = back_v.get("digests") or {}
    identical = 0
    if back is None or back.get("type") != "ok":
        reasons.append(f"round-trip listing failed: {back_v.get('error') or 'never ran'}")
    elif params.get("precision") and back_v.get("precision") != params["precision"]:
        reasons.append(f"the round trip was compared at {back_v.get('precision')} precision, the release keeps "
                       f"times at {params['precision']} across its backends")
    else:
        missing = sorted(set(src_digests) - set(back_digests))
        extra = sorted(set(back_digests) - set(src_digests))
        changed = sorted(k for k in set(src_digests) & set(back_digests) if src_digests[k] != back_digests[k])
        identical = len(set(src_digests) & set(back_digests)) - len(changed)
        if missing:
            reasons.append(f"{len(missing)} of {len(src_digests)} memories missing after the round trip: "
                           f"{examples(missing)}")
        if extra:
            reasons.append(f"{len(extra)} memories after the round trip were never in the source: {examples(extra)}")
        if changed:
            fields: dict[str, int] = {}
            for mem_id in changed:
                for name in (back_v.get("fields_differing") or {}).get(mem_id) or ["?"]:
                    fields[name] = fields.get(name, 0) + 1
            lost = ", ".join(f"{name} ({n} rows)" for name, n in sorted(fields.items()))
            reasons.append(f"{len(changed)} of {len(src_digests)} memories differ after the round trip, in field(s) "
                           f"{lost}")
    shipgate = {"phase": 3, "report_forward": reports["forward"], "report_idempotent": reports["again"],
                "report_reverse": reports["reverse"], "src_count": len(src_digests), "dst_count": len(back_digests)}
    figs = {"seeded": figure(int(seed_v.get("created") or 0), count),
            "rows_identical_after_round_trip": figure(identical, count),
            "migration_errors": figure(sum(len(r.get("errors") or []) for r in reports.values()),
                                       sum(int(r.get("memories_read") or 0) for r in reports.values()), 0, "<=")}
    return {"valid": not reasons, "reasons": reasons, "figures": figs, "shipgate": shipgate,
            "postgres_states": {k: {kk: vv for kk, vv in v.items() if kk != "columns"} for k, v in states.items()},
            "rerun": rerun, "precision": back_v.get("precision"),
            "rows_differing_only_below_precision": back_v.get("rows_differing_only_below_precision")}
