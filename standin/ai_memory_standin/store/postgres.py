"""PostgreSQL store (contract §5) through psycopg 3: pgvector required, Apache AGE optional, schema version 54.

Layout (see docs/standin.md, "PostgreSQL store"):
- `memories`: the memory as a JSONB `body` (all 26 fields, the source of truth for the API) plus indexed columns
  (id, namespace, title, tier, created_at, updated_at, expires_at, agent_id), UNIQUE (title, namespace), and an
  `embedding vector(N)` column that stays NULL (the stand-in is keyword tier).
- `schema_version` (54) and `federation_push_dlq` (the postgres-side push DLQ of §3.10, one `node_id` per daemon).
- `memory_links` (source_id, target_id, relation, created_at, valid_from, valid_until, observed_by, signature,
  attest_level; PRIMARY KEY (source_id, target_id, relation); both ends reference memories ON DELETE CASCADE).
- With AGE: graph `memory_graph`; links, not memories, are projected, as ai-memory 0.7.0 does
  (`project_link_into_age`): a link MERGEs `(:Memory {id})` for both ends and the edge
  `(a)-[:<relation> {relation}]->(b)` in the link's transaction. Deleting a memory leaves the graph alone.
- The catch-up watermarks (sync_state) and the node id stay in the daemon's scratch SQLite (contract §2 step 2).
"""

from __future__ import annotations

import contextlib
import json
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from ai_memory_standin import SCHEMA_VERSION
from ai_memory_standin.links import RELATION_SHAPE, RELATIONS
from ai_memory_standin.models import TIER_TTL, at_microseconds, merge_remote, newer, render_ns, stamp
from ai_memory_standin.store import Ambiguous, Conflict, StoreError, redact_url

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg.conninfo import conninfo_to_dict
except ImportError:  # the SQLite store must keep working on hosts without python3-psycopg
    psycopg = None  # type: ignore[assignment]

GRAPH = "memory_graph"
# created at bootstrap (under the migration lock) rather than by the first MERGE, so that daemons sharing a database
# never race to create a label
GRAPH_LABELS = (("vlabel", "Memory"), *(("elabel", relation) for relation in RELATIONS))
LINK_COLUMNS = ("source_id", "target_id", "relation", "created_at", "valid_from", "valid_until", "observed_by",
                "signature", "attest_level")
LINK_TIMES = ("created_at", "valid_from", "valid_until")
MIGRATION_LOCK = 0x61692D6D656D6F72  # pg_advisory_lock key ("ai-memor"): one migrator per database at a time
POOL_MAX = 16
ACQUIRE_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10
IDLE_PING_S = 10.0
APPLY_ATTEMPTS = 3
NODE_ID_KEY = "standin:node-id"  # kept in the scratch SQLite's sync_state next to the peer watermarks
ISO_FORMAT = """'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'"""  # microseconds, as ai-memory renders a TIMESTAMPTZ

COLUMNS = "id, namespace, title, tier, created_at, updated_at, expires_at, agent_id, standin_hidden, version, body"
VALUES = "%s, %s, %s, %s, %s::timestamptz, %s::timestamptz, %s::timestamptz, %s, %s, %s, %s::jsonb"
# an upsert-merge is a mutation: it bumps the optimistic-concurrency counter, as ai-memory 0.7.0 does (#1632)
UPDATE_SET = ("namespace = EXCLUDED.namespace, title = EXCLUDED.title, tier = EXCLUDED.tier, "
              "created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, "
              "expires_at = EXCLUDED.expires_at, agent_id = EXCLUDED.agent_id, body = EXCLUDED.body, "
              "version = memories.version + 1")
# the memory as the API returns it: the body (every field but the counter) with the version column
ROW = "(body || jsonb_build_object('version', version))"
LIVE = "(expires_at IS NULL OR expires_at > now())"


def schema_ddl(embedding_dim: int) -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)",
        f"""CREATE TABLE IF NOT EXISTS memories (
            id text PRIMARY KEY,
            namespace text NOT NULL,
            title text NOT NULL,
            tier text NOT NULL CHECK (tier IN ('short', 'mid', 'long')),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            expires_at timestamptz,
            agent_id text,
            standin_hidden boolean NOT NULL DEFAULT false,
            version bigint NOT NULL DEFAULT 1,
            body jsonb NOT NULL,
            embedding vector({int(embedding_dim)}),
            CONSTRAINT memories_title_namespace_key UNIQUE (title, namespace))""",
        "CREATE INDEX IF NOT EXISTS memories_namespace_created ON memories (namespace, created_at DESC)",
        "CREATE INDEX IF NOT EXISTS memories_updated ON memories (updated_at, id)",
        "CREATE INDEX IF NOT EXISTS memories_expires ON memories (expires_at) WHERE expires_at IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS memories_agent ON memories (agent_id)",
        """CREATE TABLE IF NOT EXISTS federation_push_dlq (
            id bigserial PRIMARY KEY,
            node_id text NOT NULL,
            memory_id text NOT NULL,
            peer_id text NOT NULL,
            payload_json text NOT NULL,
            attempt_count integer NOT NULL DEFAULT 1,
            last_error text,
            failed_at timestamptz NOT NULL,
            replayed_at timestamptz)""",
        "CREATE UNIQUE INDEX IF NOT EXISTS federation_push_dlq_pending "
        "ON federation_push_dlq (node_id, memory_id, peer_id) WHERE replayed_at IS NULL",
        f"""CREATE TABLE IF NOT EXISTS memory_links (
            source_id text NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            target_id text NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            relation text NOT NULL DEFAULT 'related_to',
            created_at timestamptz NOT NULL DEFAULT now(),
            valid_from timestamptz,
            valid_until timestamptz,
            observed_by text,
            signature bytea,
            attest_level text,
            PRIMARY KEY (source_id, target_id, relation),
            CONSTRAINT memory_links_relation_check
                CHECK (relation IN ({", ".join(f"'{r}'" for r in RELATIONS)})))""",
        "CREATE INDEX IF NOT EXISTS memory_links_target ON memory_links (target_id)",
        "CREATE TABLE IF NOT EXISTS standin_tombstones (id text PRIMARY KEY, deleted_at timestamptz NOT NULL)",
    ]


def _params(mem: dict[str, Any], hidden: bool) -> tuple[Any, ...]:
    mem = at_microseconds(mem)  # what TIMESTAMPTZ keeps: the body says what the columns say
    body = {k: v for k, v in mem.items() if k != "version"}
    return (mem["id"], mem["namespace"], mem["title"], mem["tier"], mem["created_at"], mem["updated_at"],
            mem.get("expires_at"), (mem.get("metadata") or {}).get("agent_id"), hidden,
            int(mem.get("version") or 1), json.dumps(body, separators=(",", ":")))


def warn(message: str) -> None:
    """A WARN line on stderr (the journal), as the real's tracing writes it."""
    print(f"{stamp()} WARN ai_memory::store::postgres: {message}", file=sys.stderr, flush=True)


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class _Pool:
    """At most POOL_MAX connections; a borrower waits ACQUIRE_TIMEOUT_S at most. Broken connections are dropped,
    and one idle for more than IDLE_PING_S is pinged before reuse, so a restarted server costs no request."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._idle: queue.LifoQueue[tuple[Any, float]] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(POOL_MAX)
        self._closed = False

    def add(self, conn: Any) -> None:
        self._idle.put((conn, time.monotonic()))

    def _checkout(self) -> Any:
        while True:
            try:
                conn, since = self._idle.get_nowait()
            except queue.Empty:
                return self._factory()
            if conn.closed or conn.broken:
                continue
            if time.monotonic() - since > IDLE_PING_S:
                try:
                    conn.execute("SELECT 1")
                except psycopg.Error:
                    conn.close()
                    continue
            return conn

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        if self._closed:
            raise StoreError("the PostgreSQL store is closed")
        if not self._slots.acquire(timeout=ACQUIRE_TIMEOUT_S):
            raise StoreError(f"no PostgreSQL connection free after {ACQUIRE_TIMEOUT_S:.0f}s (pool of {POOL_MAX})")
        conn = None
        try:
            conn = self._checkout()
            yield conn
        finally:
            if conn is not None:
                idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
                if conn.closed or conn.broken or not idle or self._closed:
                    conn.close()
                else:
                    self.add(conn)
            self._slots.release()

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                conn, _since = self._idle.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(Exception):
                conn.close()


class PostgresStore:
    backend = "postgres"

    def __init__(self, url: str, *, scratch: str | None = None, statement_timeout_s: float = 30.0,
                 embedding_dim: int = 384) -> None:
        if psycopg is None:
            raise StoreError("--store-url postgres:// needs psycopg 3 (Debian: apt-get install python3-psycopg)")
        self.url = url
        self.redacted_url = redact_url(url)
        self.statement_timeout_ms = int(statement_timeout_s * 1000)
        self.embedding_dim = int(embedding_dim)
        self.embedding_dim_migrated = False
        self.age = False
        self.vector_version = ""
        self.backfilled = 0
        self._connect_kwargs = self._kwargs(url)
        self.scratch: Any = None
        if scratch is not None:
            from ai_memory_standin.store.sqlite import SqliteStore

            self.scratch = SqliteStore(scratch)
        self.node_id = self._node_id()
        self._pool = _Pool(self._connect)
        try:
            self._pool.add(self._bootstrap())
        except BaseException:
            self.close()
            raise

    # --- connections ---------------------------------------------------------------------------
    def _kwargs(self, url: str) -> dict[str, Any]:
        """Everything in the URL (sslmode, sslrootcert, sslcert, sslkey, options, ...) is passed to libpq as is;
        only a connect_timeout and an application_name are added when the URL has none."""
        try:
            given = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise StoreError(f"invalid --store-url {redact_url(url)}: {self._scrub(exc)}") from None
        extra: dict[str, Any] = {}
        if "connect_timeout" not in given:
            extra["connect_timeout"] = CONNECT_TIMEOUT_S
        if "application_name" not in given:
            extra["application_name"] = "ai-memory"
        return extra

    def _scrub(self, exc: BaseException) -> str:
        """An error text without the password, should libpq ever echo part of the URL back."""
        text = str(exc).strip()
        with contextlib.suppress(ValueError):
            secret = urlsplit(self.url).password
            if secret:
                text = text.replace(secret, "***").replace(unquote(secret), "***")
        return text

    def _node_id(self) -> str:
        if self.scratch is None:
            return "cli"
        node = self.scratch.watermark(NODE_ID_KEY)
        if not node:
            node = str(uuid.uuid4())
            self.scratch.set_watermark(NODE_ID_KEY, node)
        return str(node)

    def _open(self) -> Any:
        try:
            # no server-side prepared statements: safe behind PgBouncer in transaction mode (contract §7.2)
            conn = psycopg.connect(self.url, autocommit=True, prepare_threshold=None, **self._connect_kwargs)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self.redacted_url}: {self._scrub(exc)}") from exc
        try:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{self.statement_timeout_ms}ms",))
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect(self) -> Any:
        conn = self._open()
        if self.age:
            try:
                self._load_age(conn)
            except BaseException:
                conn.close()
                raise
        return conn

    @staticmethod
    def _load_age(conn: Any) -> None:
        """AGE's parser hooks must be loaded in every session. LOAD 'age' needs a superuser (or age.so under
        $libdir/plugins); otherwise calling any AGE C function (the agtype input) loads the library just as well."""
        try:
            conn.execute("LOAD 'age'")
        except pg_errors.InsufficientPrivilege:
            conn.execute("SELECT 'null'::ag_catalog.agtype")

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._pool.connection() as conn, conn.transaction():
            yield conn

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        with self._pool.connection() as conn:
            return conn.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[Any]:
        with self._pool.connection() as conn:
            return conn.execute(sql, args).fetchall()

    # --- bootstrap (contract §5.2) ---------------------------------------------------------------
    def _bootstrap(self) -> Any:
        conn = self._open()
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                self._require_vector(conn)
                self.age = self._has_extension(conn, "age")
                with conn.transaction():
                    for ddl in schema_ddl(self.embedding_dim):
                        conn.execute(ddl)
                    self._migrate_embedding_dim(conn)
                    self._record_version(conn)
                    self.backfilled = self._backfill_expiry(conn)
                if self.age:
                    self._load_age(conn)
                    self._create_graph(conn)
            finally:
                if not conn.broken:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"PostgreSQL schema bootstrap failed on {self.redacted_url}: {self._scrub(exc)}") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _has_extension(conn: Any, name: str) -> bool:
        return conn.execute("SELECT 1 FROM pg_extension WHERE extname = %s", (name,)).fetchone() is not None

    def _require_vector(self, conn: Any) -> None:
        if not self._has_extension(conn, "vector"):
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as exc:
                raise StoreError(
                    f"PostgreSQL extension 'vector' (pgvector) is required but missing in {self.redacted_url} "
                    f"and could not be created: {self._scrub(exc)} — install pgvector and run "
                    "CREATE EXTENSION vector as a superuser, or grant the role the privilege") from exc
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        self.vector_version = str(row[0]) if row else ""

    def _migrate_embedding_dim(self, conn: Any) -> None:
        """The embedding column follows the configured dimension; a mismatched one is re-typed (values dropped:
        the stand-in computes no embeddings)."""
        row = conn.execute("SELECT atttypmod FROM pg_attribute WHERE attrelid = 'memories'::regclass "
                           "AND attname = 'embedding' AND NOT attisdropped").fetchone()
        dim = self.embedding_dim
        if row is None:
            conn.execute(f"ALTER TABLE memories ADD COLUMN embedding vector({dim})")
        elif int(row[0]) != dim:
            conn.execute(f"ALTER TABLE memories ALTER COLUMN embedding TYPE vector({dim}) USING NULL")
            self.embedding_dim_migrated = True

    @staticmethod
    def _record_version(conn: Any) -> None:
        current = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        if current is None or current < SCHEMA_VERSION:
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))

    @staticmethod
    def _backfill_expiry(conn: Any) -> int:
        """Schema v54: mid/short rows without expires_at get created_at + the tier TTL, in the column and the body.
        Idempotent; run at every bootstrap like the SQLite store does."""
        count = 0
        for tier, ttl in TIER_TTL.items():
            if ttl is None:
                continue
            interval = f"{int(ttl.total_seconds())} seconds"
            cur = conn.execute(
                "UPDATE memories SET expires_at = created_at + %s::interval, "
                "body = jsonb_set(body, '{expires_at}', "
                f"to_jsonb(to_char((created_at + %s::interval) AT TIME ZONE 'UTC', {ISO_FORMAT}))) "
                "WHERE expires_at IS NULL AND tier = %s", (interval, interval, tier))
            count += cur.rowcount
        return count

    @staticmethod
    def _create_graph(conn: Any) -> None:
        """create_graph('memory_graph') and its labels unless they exist (AGE says so with SQLSTATE 3F000)."""
        statements = [("SELECT ag_catalog.create_graph(%s)", (GRAPH,))]
        statements += [(f"SELECT ag_catalog.create_{kind}(%s, %s)", (GRAPH, label)) for kind, label in GRAPH_LABELS]
        for sql, args in statements:
            try:
                with conn.transaction():
                    conn.execute('SET LOCAL search_path = ag_catalog, "$user", public')
                    conn.execute(sql, args)
            except pg_errors.InvalidSchemaName as exc:
                if "already exists" not in str(exc):
                    raise

    # --- the AGE projection ----------------------------------------------------------------------
    def _cypher(self, conn: Any, query: str, params: dict[str, Any]) -> None:
        """Run one Cypher statement inside the caller's transaction (keep it the transaction's last statement:
        ag_catalog is prepended to the search_path until the transaction ends)."""
        conn.execute("SELECT set_config('search_path', 'ag_catalog, ' || current_setting('search_path'), true)")
        conn.execute(f"SELECT * FROM ag_catalog.cypher('{GRAPH}', $$ {query} $$, %s) AS (v ag_catalog.agtype)",
                     (json.dumps(params),))

    def _project_link(self, conn: Any, link: dict[str, Any]) -> None:
        """MERGE both ends as (:Memory {id}) and the edge labelled with the relation, carrying it as a property,
        inside a savepoint of the link's transaction. AGE failing there leaves the row committed without its edge
        and logs a WARN (the real daemon's posture), which is what S5's journal check looks for."""
        relation = link["relation"]
        if not RELATION_SHAPE.match(relation):
            raise StoreError(f"invalid relation for AGE projection: {relation!r} (must be [a-z0-9_]+)")
        try:
            with conn.transaction():
                for end in ("source_id", "target_id"):
                    self._cypher(conn, "MERGE (n:Memory {id: $id}) RETURN n", {"id": link[end]})
                self._cypher(conn, f"MATCH (a:Memory {{id: $src}}), (b:Memory {{id: $dst}}) "
                                   f"MERGE (a)-[r:{relation} {{relation: $rel}}]->(b) RETURN r",
                             {"src": link["source_id"], "dst": link["target_id"], "rel": relation})
        except psycopg.Error as exc:
            warn(f"AGE link projection failed for {link['source_id']} -> {link['target_id']} ({relation}); "
                 f"the memory_links row is kept without its memory_graph edge: {self._scrub(exc)}")

    # --- memories --------------------------------------------------------------------------------
    def _conflict(self, mem: dict[str, Any]) -> Conflict | StoreError:
        row = self._one("SELECT id FROM memories WHERE title = %s AND namespace = %s",
                        (mem["title"], mem["namespace"]))
        if row is None:
            return StoreError(f"memory id {mem['id']} already exists")
        return Conflict(mem["title"], mem["namespace"], row[0])

    def create(self, mem: dict[str, Any]) -> None:
        with self._tx() as conn:
            row = conn.execute(f"INSERT INTO memories ({COLUMNS}) VALUES ({VALUES}) ON CONFLICT DO NOTHING "
                               "RETURNING id", _params(mem, False)).fetchone()
            if row is not None:
                return
        raise self._conflict(mem)

    def get(self, id_or_prefix: str) -> dict[str, Any] | None:
        row = self._one(f"SELECT {ROW} FROM memories WHERE id = %s", (id_or_prefix,))
        if row is None and 4 <= len(id_or_prefix) < 36:
            rows = self._all(f"SELECT {ROW} FROM memories WHERE id LIKE %s LIMIT 2", (_like_prefix(id_or_prefix),))
            if len(rows) > 1:
                raise Ambiguous(id_or_prefix)
            row = rows[0] if rows else None
        return dict(row[0]) if row else None

    def all_rows(self, namespace: str | None = None, include_expired: bool = False) -> list[dict[str, Any]]:
        where, args = [], []
        if namespace is not None:
            where.append("namespace = %s")
            args.append(namespace)
        if not include_expired:
            where.append(LIVE)
        sql = f"SELECT {ROW} FROM memories"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY (body->>'priority')::int DESC, updated_at DESC, id COLLATE \"C\""  # the real's list order
        return [row[0] for row in self._all(sql, args)]

    def put(self, mem: dict[str, Any]) -> None:
        """Upsert by id (the hidden-from-catch-up flag of an existing row is kept)."""
        try:
            with self._pool.connection() as conn:
                conn.execute(f"INSERT INTO memories ({COLUMNS}) VALUES ({VALUES}) ON CONFLICT (id) DO UPDATE SET "
                             f"{UPDATE_SET}", _params(mem, False))
        except pg_errors.UniqueViolation as exc:
            raise self._conflict(mem) from exc

    def upsert(self, mem: dict[str, Any]) -> None:
        """migrate's write, as 0.7.0's store does it: a new row starts at version 1 whatever the source's was, an
        existing one is replaced and its version bumped (UPDATE_SET)."""
        self.put({**mem, "version": 1})

    def touch(self, mem: dict[str, Any]) -> None:
        """Rewrite a recalled row (access count, expiry, tier) without bumping its version (touch is no
        upsert-merge)."""
        params = _params(mem, False)
        with self._pool.connection() as conn:
            conn.execute("UPDATE memories SET tier = %s, updated_at = %s::timestamptz, expires_at = %s::timestamptz, "
                         "body = %s::jsonb WHERE id = %s", (params[3], params[5], params[6], params[10], mem["id"]))

    def delete(self, mem_id: str) -> bool:
        """The row (its links go with it: ON DELETE CASCADE); the graph keeps its vertices and edges."""
        with self._tx() as conn:
            deleted = conn.execute("DELETE FROM memories WHERE id = %s", (mem_id,)).rowcount > 0
            # a tombstone: a copy of the memory replicated later (a retried push, catch-up) is not applied again
            conn.execute("INSERT INTO standin_tombstones VALUES (%s, now()) ON CONFLICT DO NOTHING", (mem_id,))
            return bool(deleted)

    def apply_remote(self, mem: dict[str, Any], hidden: bool = False) -> str:
        """insert_if_newer: upsert on (title, namespace); newer updated_at wins; tier never downgrades.
        A concurrent writer of the same row makes one attempt lose its race; it is retried."""
        for attempt in range(APPLY_ATTEMPTS):
            try:
                outcome = self._apply_once(mem, hidden)
            except pg_errors.UniqueViolation:
                if attempt == APPLY_ATTEMPTS - 1:
                    raise
                continue
            if outcome is not None:
                return outcome
        raise StoreError(f"could not apply memory {mem.get('id')}: concurrent writers kept winning")

    def _apply_once(self, mem: dict[str, Any], hidden: bool) -> str | None:
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM standin_tombstones WHERE id = %s", (mem["id"],)).fetchone():
                return "noop"  # deleted here: a late copy does not bring it back
            row = conn.execute(f"SELECT {ROW} FROM memories WHERE title = %s AND namespace = %s FOR UPDATE",
                               (mem["title"], mem["namespace"])).fetchone()
            if row is None:
                row = conn.execute(f"SELECT {ROW} FROM memories WHERE id = %s FOR UPDATE", (mem["id"],)).fetchone()
            if row is None:
                done = conn.execute(f"INSERT INTO memories ({COLUMNS}) VALUES ({VALUES}) ON CONFLICT DO NOTHING "
                                    "RETURNING id", _params(mem, hidden)).fetchone()
                if done is None:
                    return None  # someone inserted it meanwhile: merge on the next attempt
                return "applied"
            existing = row[0]
            if not newer(mem, existing):
                return "noop"
            merged = merge_remote(mem, existing)
            conn.execute("UPDATE memories SET namespace = %s, title = %s, tier = %s, created_at = %s::timestamptz, "
                         "updated_at = %s::timestamptz, expires_at = %s::timestamptz, agent_id = %s, "
                         "standin_hidden = %s, version = %s, body = %s::jsonb WHERE id = %s",
                         (*_params(merged, hidden)[1:], existing["id"]))
            return "applied"

    # --- links ---------------------------------------------------------------------------------------
    def exists(self, mem_id: str) -> bool:
        return self._one("SELECT 1 FROM memories WHERE id = %s", (mem_id,)) is not None

    def link(self, link: dict[str, Any]) -> bool:
        """INSERT ... ON CONFLICT DO NOTHING on (source_id, target_id, relation), projected into AGE in the same
        transaction; both ends must exist (StoreError otherwise). True when a row was added."""
        with self._tx() as conn:
            for end in ("source", "target"):
                if conn.execute("SELECT 1 FROM memories WHERE id = %s", (link[f"{end}_id"],)).fetchone() is None:
                    raise StoreError(f"{end} memory not found: {link[f'{end}_id']}")
            added = conn.execute(
                f"INSERT INTO memory_links ({', '.join(LINK_COLUMNS)}) VALUES (%s, %s, %s, %s::timestamptz, "
                "%s::timestamptz, %s::timestamptz, %s, %s, %s) ON CONFLICT (source_id, target_id, relation) "
                "DO NOTHING", tuple(link.get(c) for c in LINK_COLUMNS)).rowcount > 0
            if self.age:
                self._project_link(conn, link)
        return added

    def _link_rows(self, where: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        cols = ", ".join(f"extract(epoch from {c})::numeric * 1000000 AS {c}" if c in LINK_TIMES else c
                         for c in LINK_COLUMNS)
        out = []
        for row in self._all(f"SELECT {cols} FROM memory_links {where}", args):
            link = dict(zip(LINK_COLUMNS, row, strict=True))
            for key in LINK_TIMES:  # TIMESTAMPTZ: microseconds, rendered as the real renders a DateTime<Utc>
                if link[key] is not None:
                    link[key] = render_ns(int(link[key]) * 1000)
            if link["signature"] is not None:
                link["signature"] = bytes(link["signature"])
            out.append(link)
        return out

    def links_of(self, mem_id: str) -> list[dict[str, Any]]:
        return self._link_rows("WHERE source_id = %s OR target_id = %s ORDER BY source_id, target_id, relation",
                               (mem_id, mem_id))

    def list_links(self, namespace: str | None = None) -> list[dict[str, Any]]:
        if namespace is None:
            return self._link_rows("ORDER BY source_id, target_id, relation", ())
        return self._link_rows("WHERE source_id IN (SELECT id FROM memories WHERE namespace = %s) "
                               "ORDER BY source_id, target_id, relation", (namespace,))

    def links_count(self) -> int:
        return int(self._one("SELECT count(*) FROM memory_links")[0])

    def since(self, since: str | None, limit: int) -> list[dict[str, Any]]:
        sql, args = f"SELECT {ROW} FROM memories WHERE NOT standin_hidden", []
        if since:
            sql += " AND updated_at >= %s::timestamptz"
            args.append(since)
        sql += ' ORDER BY updated_at ASC, id COLLATE "C" LIMIT %s'
        args.append(limit)
        return [row[0] for row in self._all(sql, args)]

    def hide_from_catchup(self, mem_id: str) -> None:
        with self._pool.connection() as conn:
            conn.execute("UPDATE memories SET standin_hidden = true WHERE id = %s", (mem_id,))

    def schema_version(self) -> int:
        return int(self._one("SELECT max(version) FROM schema_version")[0])

    def ping(self) -> bool:
        """The health check's database probe."""
        try:
            return self._one("SELECT 1") == (1,)
        except (psycopg.Error, StoreError):
            return False

    # --- federation bookkeeping ------------------------------------------------------------------
    def _scratch(self) -> Any:
        if self.scratch is None:
            raise StoreError("sync_state lives in the daemon's scratch SQLite; this store was opened without one")
        return self.scratch

    def watermark(self, peer: str) -> str | None:
        return self._scratch().watermark(peer)  # type: ignore[no-any-return]

    def set_watermark(self, peer: str, value: str) -> None:
        self._scratch().set_watermark(peer, value)

    def dlq_add(self, memory_id: str, peer: str, payload: str, error: str, at: str) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO federation_push_dlq (node_id, memory_id, peer_id, payload_json, last_error, failed_at) "
                "VALUES (%s, %s, %s, %s, %s, %s::timestamptz) "
                "ON CONFLICT (node_id, memory_id, peer_id) WHERE replayed_at IS NULL "
                "DO UPDATE SET attempt_count = federation_push_dlq.attempt_count + 1, last_error = EXCLUDED.last_error",
                (self.node_id, memory_id, peer, payload, error, at))

    def dlq_pending(self, limit: int = 64) -> list[tuple[int, str, str]]:
        rows = self._all("SELECT id, peer_id, payload_json FROM federation_push_dlq WHERE node_id = %s "
                         "AND replayed_at IS NULL AND attempt_count < 100 ORDER BY id LIMIT %s",
                         (self.node_id, limit))
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def dlq_done(self, row_id: int, at: str) -> None:
        with self._pool.connection() as conn:
            conn.execute("UPDATE federation_push_dlq SET replayed_at = %s::timestamptz WHERE id = %s", (at, row_id))

    def dlq_bump(self, row_id: int, error: str) -> None:
        with self._pool.connection() as conn:
            conn.execute("UPDATE federation_push_dlq SET attempt_count = attempt_count + 1, last_error = %s "
                         "WHERE id = %s", (error, row_id))

    def dlq_depth(self) -> int:
        return int(self._one("SELECT count(*) FROM federation_push_dlq WHERE node_id = %s AND replayed_at IS NULL",
                             (self.node_id,))[0])

    # --- reporting (schema-init) -----------------------------------------------------------------
    @property
    def kg_backend(self) -> str:
        return "AGE" if self.age else "CTE"

    def describe(self) -> dict[str, Any]:
        """What schema-init reports (contract §5.3), read from the catalogs of the store's schema."""
        schema = "current_schema()"
        tables = self._all("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                           f"{schema} AND table_type = 'BASE TABLE' AND left(table_name, 8) <> 'standin_' ORDER BY 1")
        views = self._all(f"SELECT table_name FROM information_schema.views WHERE table_schema = {schema} ORDER BY 1")
        functions = self._all("SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                              f"WHERE n.nspname = {schema} AND NOT EXISTS (SELECT 1 FROM pg_depend d "
                              "WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') "
                              "ORDER BY 1")  # the store's own functions, not those of extensions
        indices = self._all(f"SELECT indexname FROM pg_indexes WHERE schemaname = {schema} "
                            "AND left(indexname, 8) <> 'standin_' ORDER BY 1")
        extensions = self._all("SELECT extname FROM pg_extension ORDER BY 1")
        # an AGE graph is a schema of its own name (pg_namespace is readable by every role, ag_graph is not)
        graph = self.age and self._one("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (GRAPH,))[0] > 0
        return {"kind": self.backend, "tables": [r[0] for r in tables], "views": [r[0] for r in views],
                "functions": sorted({r[0] for r in functions}), "indices": [r[0] for r in indices],
                "extensions": [r[0] for r in extensions], "schema_version": self.schema_version(),
                "age_projection_created": graph, "embedding_dim": self.embedding_dim,
                "embedding_dim_migrated": self.embedding_dim_migrated}

    # --- SQLite-only operations, lifecycle -------------------------------------------------------
    def backup_to(self, target: str) -> None:
        raise StoreError("backup is SQLite only (VACUUM INTO); back a PostgreSQL store up with pg_dump")

    def checkpoint(self) -> None:
        """The WAL checkpoint concerns the scratch SQLite, the only SQLite file a postgres-backed daemon has."""
        if self.scratch is not None:
            self.scratch.checkpoint()

    def close(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.close()
        if self.scratch is not None:
            self.scratch.close()
