"""Local-database subcommands: store, recall, list, get, stats, backup, restore, curator, migrate, schema-init."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ai_memory_standin import SCHEMA_VERSION, VERSION
from ai_memory_standin.config import Config, config_path, resolve_db
from ai_memory_standin.links import now_us
from ai_memory_standin.links import view as link_view
from ai_memory_standin.models import TIERS, ValidationError, is_expired, new_memory, ns_of, public_view, stamp
from ai_memory_standin.store import Conflict, Store, open_store, redact_url, sqlite_path, touch_all

DEFAULT_STATEMENT_TIMEOUT_S = 30.0


def run(args: argparse.Namespace, cfg: Config, faults: frozenset[str]) -> int:
    handler = {"store": store, "recall": recall, "search": search, "list": list_, "get": get, "delete": delete,
               "stats": stats, "backup": backup, "restore": restore, "curator": curator, "migrate": migrate,
               "schema-init": schema_init}[args.command]
    try:
        return handler(args, cfg, faults)
    except (ValidationError, OSError, ValueError, sqlite3.Error) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1


def out(args: argparse.Namespace, doc: Any, text: str) -> None:
    print(json.dumps(doc) if args.json else text)


def _db(args: argparse.Namespace, cfg: Config) -> str:
    return resolve_db(args.db, cfg)


def store(args: argparse.Namespace, cfg: Config, faults: frozenset[str]) -> int:
    body: dict[str, Any] = {"title": args.title, "content": args.content, "tier": args.tier,
                            "namespace": args.namespace, "tags": [t for t in args.tags.split(",") if t],
                            "priority": args.priority, "source": args.source, "confidence": args.confidence,
                            "expires_at": args.expires_at, "ttl_secs": args.ttl_secs, "kind": args.kind}
    if args.tier not in TIERS:
        raise ValidationError(f"invalid tier: {args.tier} (use short, mid, long)")
    if args.scope:
        body["scope"] = args.scope
    mem = new_memory({k: v for k, v in body.items() if v is not None}, args.agent_id)
    db = open_store(_db(args, cfg))
    try:
        db.create(mem)
        mem = db.get(mem["id"]) or mem
    except Conflict as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    out(args, public_view(mem), f"stored: {mem['id']} [{mem['tier']}] (ns={mem['namespace']})")
    return 0


def _live(args: argparse.Namespace, cfg: Config, namespace: str | None) -> list[dict[str, Any]]:
    db = open_store(_db(args, cfg))
    try:
        return [m for m in db.all_rows(namespace) if not is_expired(m)]
    finally:
        db.close()


def _filtered(args: argparse.Namespace, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The filters list, search and recall share: tier, tags (all of them), since/until on created_at, agent."""
    tags = {t for t in (getattr(args, "tags", None) or "").split(",") if t}
    since, until = getattr(args, "since", None), getattr(args, "until", None)
    agent = getattr(args, "filter_agent_id", None)
    tier = getattr(args, "tier", None) if args.command != "recall" else None
    return [m for m in rows
            if (not tier or m["tier"] == tier) and tags <= set(m.get("tags") or [])
            and (not since or ns_of(m["created_at"]) >= ns_of(since))
            and (not until or ns_of(m["created_at"]) <= ns_of(until))
            and (not agent or (m.get("metadata") or {}).get("agent_id") == agent)]


def _keyword_hits(text: str, rows: list[dict[str, Any]], any_word: bool) -> list[tuple[dict[str, Any], float]]:
    """Keyword matching over title, content and tags, scored by matched words and priority (best first)."""
    words = [w.lower() for w in text.split() if w]
    hits = []
    for mem in rows:
        hay = f"{mem['title']} {mem['content']} {' '.join(mem.get('tags') or [])}".lower()
        found = sum(1 for w in words if w in hay)
        if words and (found if any_word else found == len(words)):
            hits.append((mem, round(found + mem["priority"] / 10 + (mem["title"].lower() in text.lower()), 3)))
    return sorted(hits, key=lambda h: -h[1])


def recall(args: argparse.Namespace, cfg: Config, faults: frozenset[str]) -> int:
    """Keyword recall whatever the tier asked for (the stand-in has no embedder: mode "keyword", as the real
    answers when its embedder is not loaded). The hits are touched (access counted, expiry extended)."""
    hits = _keyword_hits(args.context, _filtered(args, _live(args, cfg, args.namespace)), any_word=True)
    hits = hits[: args.limit]
    rows = [{**public_view(m), "score": score} for m, score in hits]
    db = open_store(_db(args, cfg))
    try:
        touch_all(db, [m["id"] for m, _score in hits])
    finally:
        db.close()
    tokens = sum(max(1, len(m["content"]) // 4) for m, _score in hits)
    text = "\n".join(f"[{m['tier']}/{m['id'][:8]}] {m['title']} score={score:.2f} (ns={m['namespace']})\n"
                     f"  {m['content']}\n" for m, score in hits) + f"\n{len(rows)} memory(ies) recalled [keyword]"
    out(args, {"memories": rows, "count": len(rows), "mode": "keyword", "tokens_used": tokens}, text)
    return 0


def search(args: argparse.Namespace, cfg: Config, faults: frozenset[str]) -> int:
    hits = _keyword_hits(args.query, _filtered(args, _live(args, cfg, args.namespace)), any_word=False)
    rows = [public_view(m) for m, _score in hits[: args.limit]]
    text = "\n".join(f"[{m['tier']}/{m['id'][:8]}] {m['title']} (p={m['priority']}, ns={m['namespace']})"
                     for m in rows) + f"\n\n{len(rows)} result(s)"
    out(args, {"count": len(rows), "results": rows}, text)
    return 0


def list_(args: argparse.Namespace, cfg: Config, faults: frozenset[str]) -> int:
    rows = _filtered(args, _live(args, cfg, args.namespace))[args.offset: args.offset + args.limit]
    out(args, {"count": len(rows), "memories": [public_view(m) for m in rows]},
        "\n".join(f"[{m['tier']}/{m['id'][:8]}] {m['title']} (p={m['priority']}, ns={m['namespace']})"
                  for m in rows) + f"\n\n{len(rows)} memory(ies)")
    return 0


def get(args: argparse.Namespace, cfg: Config, faults: frozenset[str]) -> int:
    db = open_store(_db(args, cfg))
    try:
        mem = db.get(args.id)
        links = db.links_of(mem["id"]) if mem is not None else []
    finally:
        db.close()
    if mem is None:
        print(f"not found: {args.id}", file=sys.stderr)
        return 1
    doc = {"memory": public_view(mem), "links": [link_view(link) for link in links]}
    out(args, doc, json.dumps(public_view(mem), indent=2))
    return 0


def delete(args: argparse.Namespace, cfg: Config, faults: frozenset[str]) -> int:
    db = open_store(_db(args, cfg))
    try:
        mem = db.get(args.id)
        gone = mem is not None and db.delete(mem["id"])
    finally:
        db.close()
    if not gone or mem is None:
        print(f"not found: {args.id}", file=sys.stderr)
        return 1
    out(args, {"deleted": True, "id": mem["id"]}, f"deleted: {mem['id']}")
    return 0


def stats(args: argparse.Namespace, cfg: Config, faults: frozenset[str]) -> int:
    path = _db(args, cfg)
    rows = _live(args, cfg, None)
    db = open_store(path)
    try:
        links = db.links_count()
    finally:
        db.close()
    tiers: dict[str, int] = {}
    spaces: dict[str, int] = {}
    for m in rows:
        tiers[m["tier"]] = tiers.get(m["tier"], 0) + 1
        spaces[m["namespace"]] = spaces.get(m["namespace"], 0) + 1
    doc = {"total": len(rows), "by_tier": [{"tier": t, "count": c} for t, c in sorted(tiers.items())],
           "by_namespace": [{"namespace": n, "count": c} for n, c in sorted(spaces.items())],
           "expiring_soon": 0, "links_count": links,
           "db_size_bytes": os.path.getsize(path) if os.path.exists(path) else 0,
           "dim_violations": 0, "index_evictions_total": 0}
    out(args, doc, f"total memories: {doc['total']}\nlinks: {links}\ndatabase size: {doc['db_size_bytes']} bytes")
    return 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def backup(args: argparse.Namespace, cfg: Config, faults: frozenset[str]) -> int:
    source = _db(args, cfg)
    target_dir = Path(args.to)
    target_dir.mkdir(parents=True, exist_ok=True)
    label = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    snapshot = target_dir / f"ai-memory-{label}.db"
    db = open_store(source)
    try:
        if "backup_no_snapshot" not in faults:  # FAULT: report success without writing the snapshot
            db.backup_to(str(snapshot))
    finally:
        db.close()
    size = snapshot.stat().st_size if snapshot.exists() else 0
    manifest = {"snapshot": snapshot.name, "sha256": _sha256(snapshot) if snapshot.exists() else
                hashlib.sha256(b"").hexdigest(), "bytes": size, "source_db": os.path.abspath(source),
                "version": VERSION, "created_at": stamp()}
    (target_dir / f"ai-memory-{label}.manifest.json").write_text(json.dumps(manifest, indent=2))
    if args.keep > 0:
        snaps = sorted(target_dir.glob("ai-memory-*.db"))
        for old in snaps[: max(0, len(snaps) - args.keep)]:
            old.unlink(missing_ok=True)
            old.with_name(old.name[:-3] + ".manifest.json").unlink(missing_ok=True)
    out(args, manifest, f"backup written: {snapshot}")
    return 0


def restore(args: argparse.Namespace, cfg: Config, faults: frozenset[str]) -> int:
    source = Path(args.source)
    if source.is_dir():
        snaps = sorted(source.glob("ai-memory-*.db"))
        if not snaps:
            print(f"Error: no snapshot in {source}", file=sys.stderr)
            return 1
        source = snaps[-1]
    manifest = source.with_name(source.name[:-3] + ".manifest.json")
    if not args.skip_verify:
        if not manifest.exists():
            print(f"Error: manifest {manifest} missing (use --skip-verify to restore anyway)", file=sys.stderr)
            return 1
        expected = json.loads(manifest.read_text())["sha256"]
        if _sha256(source) != expected:
            print(f"Error: sha256 mismatch for {source}", file=sys.stderr)
            return 1
    target = Path(_db(args, cfg))
    if target.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target.rename(target.with_name(f"{target.stem}.pre-restore-{stamp}.db"))
    for suffix in ("-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    shutil.copyfile(source, target)
    out(args, {"restored": str(source), "db": str(target)}, f"restored {source} -> {target}")
    return 0


def curator(args: argparse.Namespace, cfg: Config, faults: frozenset[str]) -> int:
    started = stamp()
    rows = _live(args, cfg, None)
    doc = {"started_at": started, "completed_at": stamp(), "cycle_duration_ms": 0,
           "memories_scanned": len(rows), "memories_eligible": 0, "auto_tagged": 0,
           "contradictions_found": 0, "operations_attempted": 0, "operations_skipped_cap": 0,
           "autonomy": {"clusters_formed": 0, "memories_consolidated": 0, "memories_forgotten": 0,
                        "priority_adjustments": 0, "rollback_entries_written": 0, "errors": []},
           "personas_generated": 0, "errors": ["no LLM client configured"], "dry_run": bool(args.dry_run)}
    # the real pretty-prints this report (serde_json::to_string_pretty, keys in order)
    print(json.dumps(doc, indent=2) if args.json else f"curator: scanned {len(rows)}, errors: {doc['errors']}")
    return 0


def statement_timeout_secs() -> float:
    """config.toml `postgres_statement_timeout_secs` (contract §1; default 30 s). Read here because the shared
    Config does not carry it; AI_MEMORY_NO_CONFIG=1 skips the file like every other key."""
    path = config_path()
    if os.environ.get("AI_MEMORY_NO_CONFIG") == "1" or path is None or not path.exists():
        return DEFAULT_STATEMENT_TIMEOUT_S
    try:
        value = float(tomllib.loads(path.read_text()).get("postgres_statement_timeout_secs",
                                                          DEFAULT_STATEMENT_TIMEOUT_S))
    except (OSError, ValueError, TypeError, tomllib.TOMLDecodeError):
        return DEFAULT_STATEMENT_TIMEOUT_S
    return value if value > 0 else DEFAULT_STATEMENT_TIMEOUT_S


def _open_url(url: str, embedding_dim: int = 384) -> Store:
    return open_store(url, statement_timeout_s=statement_timeout_secs(), embedding_dim=embedding_dim)


def _copy_rows(rows: list[dict[str, Any]], dst: Store, faults: frozenset[str], errors: list[str]) -> int:
    """Upsert by id, every row every time, as ai-memory 0.7.0's migrate does: a new row starts at version 1 (the
    source's counter is not carried), a re-run leaves the content as it was and bumps each row's
    optimistic-concurrency counter (an upsert-merge is a mutation), on either backend."""
    written = 0
    for mem in rows:
        copy = dict(mem)
        if "migrate_drop_field" in faults:
            copy["tags"] = []  # FAULT: a field silently lost in migration
        try:
            dst.upsert(copy)
            written += 1
        except Exception as exc:
            errors.append(f"{mem['id']}: {exc}")
    return written


def _copy_links(links: list[dict[str, Any]], dst: Store, errors: list[str]) -> None:
    """Then the links whose source memory was in scope, through the store's plain link write (unsigned: the
    migrator claims no link as its own; ON CONFLICT DO NOTHING). A SQLite target stamps them now, a PostgreSQL
    one keeps their times. A link whose other end is not in the target is an error, as in the real's migrate.
    The report does not count links (the real's --json report leaves its link counts out)."""
    for link in links:
        copy = {**link, "signature": None, "attest_level": "unsigned", "observed_by": None}
        if dst.backend == "sqlite":
            copy["created_at"] = copy["valid_from"] = now_us()
        try:
            dst.link(copy)
        except Exception as exc:
            errors.append(f"write link {link['source_id']}->{link['target_id']}/{link['relation']} failed: {exc}")


def migrate(args: argparse.Namespace, cfg: Config, faults: frozenset[str]) -> int:
    """Contract §5.4: non-expired memories of the source (one list call, admin view), upserted by id, then the
    source's links of those memories."""
    src, dst = _open_url(args.source), None
    errors: list[str] = []
    written = 0
    try:
        rows = [m for m in src.all_rows(args.namespace) if not is_expired(m)]
        if not args.dry_run:
            dst = _open_url(args.target)
            written = _copy_rows(rows, dst, faults, errors)
            _copy_links(src.list_links(args.namespace), dst, errors)
    finally:
        src.close()
        if dst is not None:
            dst.close()
    doc = {"from_url": redact_url(args.source), "to_url": redact_url(args.target), "memories_read": len(rows),
           "memories_written": written, "batches": 1, "errors": errors, "dry_run": bool(args.dry_run)}
    # the real binary pretty-prints this report (serde_json::to_string_pretty, keys in order) over many lines
    print(json.dumps(doc, indent=2, sort_keys=True) if args.json else
          f"migrated {written}/{len(rows)} memories, {len(errors)} error(s)")
    return 1 if errors else 0


def _describe_sqlite(path: str, embedding_dim: int) -> dict[str, Any]:
    with contextlib.closing(sqlite3.connect(path, timeout=5.0)) as conn:
        # the stand-in's own bookkeeping (standin_*) is not part of the schema it imitates
        rows = conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                            "AND name NOT LIKE 'standin\\_%' ESCAPE '\\' ORDER BY name").fetchall()
    return {"kind": "sqlite", "tables": [n for t, n in rows if t == "table"],
            "views": [n for t, n in rows if t == "view"], "functions": [],
            "indices": [n for t, n in rows if t == "index"], "extensions": [], "age_projection_created": False,
            "embedding_dim": embedding_dim, "embedding_dim_migrated": False}


def schema_init(args: argparse.Namespace, cfg: Config, faults: frozenset[str]) -> int:
    """Contract §5.3: open the store (same bootstrap as serve) and report what it holds."""
    db = _open_url(args.store_url, args.embedding_dim)
    try:
        if db.backend == "postgres":
            described = db.describe()  # type: ignore[attr-defined]
        else:
            described = {**_describe_sqlite(sqlite_path(args.store_url), args.embedding_dim),
                         "schema_version": db.schema_version()}
    finally:
        db.close()
    doc = {"url": redact_url(args.store_url), **described}
    text = (f"schema ready: {doc['kind']} v{doc['schema_version']}, {len(doc['tables'])} tables, "
            f"extensions {','.join(doc['extensions']) or '-'}, AGE graph memory_graph: "
            f"{'yes' if doc['age_projection_created'] else 'no'}, embedding dim {doc['embedding_dim']}"
            f"{' (migrated)' if doc['embedding_dim_migrated'] else ''}")
    out(args, doc, text)
    return 0 if doc["schema_version"] == SCHEMA_VERSION else 1
