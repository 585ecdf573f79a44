"""SQLite store (WAL), schema version 54, with the tier expiry backfill of v54."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from typing import Any

from ai_memory_standin import SCHEMA_VERSION
from ai_memory_standin.models import effective_expires_at, newer
from ai_memory_standin.store import Ambiguous, Conflict, StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
    id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    title TEXT NOT NULL,
    tier TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT,
    agent_id TEXT,
    standin_hidden INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    UNIQUE (title, namespace)
);
CREATE INDEX IF NOT EXISTS memories_ns ON memories (namespace, created_at);
CREATE INDEX IF NOT EXISTS memories_updated ON memories (updated_at);
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sync_state (peer TEXT PRIMARY KEY, watermark TEXT);
CREATE TABLE IF NOT EXISTS federation_push_dlq (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    memory_id TEXT NOT NULL,
    peer_id TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    attempt_count INTEGER NOT NULL DEFAULT 1,
    last_error TEXT,
    failed_at TEXT NOT NULL,
    replayed_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS dlq_pending ON federation_push_dlq (memory_id, peer_id) WHERE replayed_at IS NULL;
CREATE TABLE IF NOT EXISTS memory_links (
    source_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    relation TEXT NOT NULL DEFAULT 'related_to',
    created_at TEXT NOT NULL,
    valid_from TEXT,
    valid_until TEXT,
    observed_by TEXT,
    signature BLOB,
    attest_level TEXT,
    PRIMARY KEY (source_id, target_id, relation)
);
CREATE INDEX IF NOT EXISTS memory_links_target ON memory_links (target_id);
"""
LINK_COLUMNS = ("source_id", "target_id", "relation", "created_at", "valid_from", "valid_until", "observed_by",
                "signature", "attest_level")


class SqliteStore:
    backend = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        conn = self._conn()
        conn.executescript(SCHEMA)
        if conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 0:
            conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
        self._backfill_expiry()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _backfill_expiry(self) -> None:
        """Schema v54: rows of tier mid/short without expires_at get created_at + the tier TTL (idempotent)."""
        conn = self._conn()
        rows = conn.execute(
            "SELECT body FROM memories WHERE expires_at IS NULL AND tier IN ('mid', 'short')").fetchall()
        for (body,) in rows:
            mem = json.loads(body)
            mem["expires_at"] = effective_expires_at(mem["tier"], mem["created_at"], None)
            self.put(mem)

    @staticmethod
    def _row(mem: dict[str, Any], hidden: bool) -> tuple[Any, ...]:
        return (mem["id"], mem["namespace"], mem["title"], mem["tier"], mem["created_at"], mem["updated_at"],
                mem.get("expires_at"), (mem.get("metadata") or {}).get("agent_id"), int(hidden),
                json.dumps(mem, separators=(",", ":")))

    def create(self, mem: dict[str, Any]) -> None:
        try:
            self._conn().execute("INSERT INTO memories VALUES (?,?,?,?,?,?,?,?,?,?)", self._row(mem, False))
        except sqlite3.IntegrityError as exc:
            row = self._conn().execute("SELECT id FROM memories WHERE title=? AND namespace=?",
                                       (mem["title"], mem["namespace"])).fetchone()
            if row is None:
                raise
            raise Conflict(mem["title"], mem["namespace"], row[0]) from exc

    def get(self, id_or_prefix: str) -> dict[str, Any] | None:
        conn = self._conn()
        row = conn.execute("SELECT body FROM memories WHERE id=?", (id_or_prefix,)).fetchone()
        if row is None and 4 <= len(id_or_prefix) < 36:
            rows = conn.execute("SELECT body FROM memories WHERE id LIKE ? LIMIT 2",
                                (id_or_prefix.replace("%", "") + "%",)).fetchall()
            if len(rows) > 1:
                raise Ambiguous(id_or_prefix)
            row = rows[0] if rows else None
        return json.loads(row[0]) if row else None

    def all_rows(self, namespace: str | None = None, include_expired: bool = False) -> list[dict[str, Any]]:
        sql, args = "SELECT body FROM memories", []
        if namespace is not None:
            sql += " WHERE namespace=?"
            args.append(namespace)
        sql += " ORDER BY json_extract(body, '$.priority') DESC, updated_at DESC, id"  # the real's list order
        return [json.loads(b) for (b,) in self._conn().execute(sql, args)]

    def put(self, mem: dict[str, Any]) -> None:
        hidden = self._conn().execute("SELECT standin_hidden FROM memories WHERE id=?", (mem["id"],)).fetchone()
        self._conn().execute("INSERT OR REPLACE INTO memories VALUES (?,?,?,?,?,?,?,?,?,?)",
                             self._row(mem, bool(hidden and hidden[0])))

    def upsert(self, mem: dict[str, Any]) -> None:
        """migrate's write, as 0.7.0's store does it: a new row starts at version 1 whatever the source's was, an
        existing one is replaced and its version bumped (an upsert-merge is a mutation)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT body, standin_hidden FROM memories WHERE id=?", (mem["id"],)).fetchone()
            version = int(json.loads(row[0]).get("version") or 1) + 1 if row else 1
            conn.execute("INSERT OR REPLACE INTO memories VALUES (?,?,?,?,?,?,?,?,?,?)",
                         self._row({**mem, "version": version}, bool(row and row[1])))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def touch(self, mem: dict[str, Any]) -> None:
        """Rewrite a recalled row (access count, expiry, tier); its version stays."""
        self.put(mem)

    def delete(self, mem_id: str) -> bool:
        """The row and its links (the real's memory_links references memories ON DELETE CASCADE)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            deleted = conn.execute("DELETE FROM memories WHERE id=?", (mem_id,)).rowcount > 0
            conn.execute("DELETE FROM memory_links WHERE source_id=? OR target_id=?", (mem_id, mem_id))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return deleted

    # --- links --------------------------------------------------------------------------------------
    def exists(self, mem_id: str) -> bool:
        return self._conn().execute("SELECT 1 FROM memories WHERE id=?", (mem_id,)).fetchone() is not None

    def link(self, link: dict[str, Any]) -> bool:
        """INSERT OR IGNORE on (source_id, target_id, relation); both ends must exist (StoreError otherwise).
        True when a row was added."""
        for end in ("source", "target"):
            if not self.exists(link[f"{end}_id"]):
                raise StoreError(f"{end} memory not found: {link[f'{end}_id']}")
        values = tuple(link.get(c) for c in LINK_COLUMNS)
        cur = self._conn().execute(f"INSERT OR IGNORE INTO memory_links ({', '.join(LINK_COLUMNS)}) "
                                   f"VALUES ({', '.join('?' * len(LINK_COLUMNS))})", values)
        return cur.rowcount > 0

    def _link_rows(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        rows = self._conn().execute(f"SELECT {', '.join(LINK_COLUMNS)} FROM memory_links {sql}", args).fetchall()
        return [dict(zip(LINK_COLUMNS, row, strict=True)) for row in rows]

    def links_of(self, mem_id: str) -> list[dict[str, Any]]:
        """Every link with the memory at either end."""
        return self._link_rows("WHERE source_id = ? OR target_id = ? ORDER BY created_at, target_id",
                               (mem_id, mem_id))

    def list_links(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every link, or those whose source memory is in the namespace (migrate's affinity)."""
        if namespace is None:
            return self._link_rows("ORDER BY source_id, target_id, relation", ())
        return self._link_rows("WHERE source_id IN (SELECT id FROM memories WHERE namespace = ?) "
                               "ORDER BY source_id, target_id, relation", (namespace,))

    def links_count(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM memory_links").fetchone()[0])

    def apply_remote(self, mem: dict[str, Any], hidden: bool = False) -> str:
        """insert_if_newer: upsert on (title, namespace); newer updated_at wins; tier never downgrades."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT body FROM memories WHERE title=? AND namespace=?",
                               (mem["title"], mem["namespace"])).fetchone()
            if row is None:
                row = conn.execute("SELECT body FROM memories WHERE id=?", (mem["id"],)).fetchone()
            if row is None:
                conn.execute("INSERT INTO memories VALUES (?,?,?,?,?,?,?,?,?,?)", self._row(mem, hidden))
                outcome = "applied"
            else:
                existing = json.loads(row[0])
                if not newer(mem, existing):
                    outcome = "noop"
                else:
                    merged = dict(mem)
                    merged["id"] = existing["id"]  # a peer keeps its own id for the same title+namespace
                    from ai_memory_standin.models import TIER_RANK

                    if TIER_RANK[existing["tier"]] > TIER_RANK[merged["tier"]]:
                        merged["tier"] = existing["tier"]
                    for key in ("priority", "confidence", "access_count"):
                        merged[key] = max(existing.get(key) or 0, merged.get(key) or 0)
                    meta = dict(merged.get("metadata") or {})
                    if (existing.get("metadata") or {}).get("agent_id"):
                        meta["agent_id"] = existing["metadata"]["agent_id"]
                    merged["metadata"] = meta
                    conn.execute("DELETE FROM memories WHERE id=?", (existing["id"],))
                    conn.execute("INSERT INTO memories VALUES (?,?,?,?,?,?,?,?,?,?)", self._row(merged, hidden))
                    outcome = "applied"
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return outcome

    def since(self, since: str | None, limit: int) -> list[dict[str, Any]]:
        sql = "SELECT body FROM memories WHERE standin_hidden = 0"
        args: list[Any] = []
        if since:
            sql += " AND updated_at >= ?"
            args.append(since)
        sql += " ORDER BY updated_at ASC, id LIMIT ?"
        args.append(limit)
        return [json.loads(b) for (b,) in self._conn().execute(sql, args)]

    def hide_from_catchup(self, mem_id: str) -> None:
        self._conn().execute("UPDATE memories SET standin_hidden = 1 WHERE id=?", (mem_id,))

    def schema_version(self) -> int:
        return int(self._conn().execute("SELECT max(version) FROM schema_version").fetchone()[0])

    # --- federation bookkeeping -------------------------------------------------------------------
    def watermark(self, peer: str) -> str | None:
        row = self._conn().execute("SELECT watermark FROM sync_state WHERE peer=?", (peer,)).fetchone()
        return row[0] if row else None

    def set_watermark(self, peer: str, value: str) -> None:
        self._conn().execute("INSERT OR REPLACE INTO sync_state VALUES (?, ?)", (peer, value))

    def dlq_add(self, memory_id: str, peer: str, payload: str, error: str, at: str) -> None:
        self._conn().execute(
            "INSERT INTO federation_push_dlq (memory_id, peer_id, payload_json, last_error, failed_at) "
            "VALUES (?,?,?,?,?) ON CONFLICT (memory_id, peer_id) WHERE replayed_at IS NULL "
            "DO UPDATE SET attempt_count = attempt_count + 1, last_error = excluded.last_error",
            (memory_id, peer, payload, error, at))

    def dlq_pending(self, limit: int = 64) -> list[tuple[int, str, str]]:
        return list(self._conn().execute(
            "SELECT id, peer_id, payload_json FROM federation_push_dlq WHERE replayed_at IS NULL "
            "AND attempt_count < 100 ORDER BY id LIMIT ?", (limit,)))

    def dlq_done(self, row_id: int, at: str) -> None:
        self._conn().execute("UPDATE federation_push_dlq SET replayed_at=? WHERE id=?", (at, row_id))

    def dlq_bump(self, row_id: int, error: str) -> None:
        self._conn().execute("UPDATE federation_push_dlq SET attempt_count = attempt_count + 1, last_error=? "
                             "WHERE id=?", (error, row_id))

    def dlq_depth(self) -> int:
        return int(self._conn().execute(
            "SELECT count(*) FROM federation_push_dlq WHERE replayed_at IS NULL").fetchone()[0])

    def backup_to(self, target: str) -> None:
        self._conn().execute("VACUUM INTO ?", (target,))

    def checkpoint(self) -> None:
        self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._conns.clear()
