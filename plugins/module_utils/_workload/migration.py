# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Ship-gate phase 3, migration, driven on the PostgreSQL host (ship-gate spec §1 phase 3, defects §7.16 fixed).

1. seed: a throw-away SQLite-backed ``ai-memory serve`` on loopback (owned here: always stopped) takes ``count``
   memories through ``POST /api/v1/memories/bulk`` (not 1000 CLI calls), then stops with SIGINT;
2. the source is listed with the binary's own CLI (``list --json``) and each row digested (all its fields);
3. ``migrate --from sqlite:///source --to postgres://... --namespace NS --json``; PostgreSQL's state of the namespace
   (row count and a digest of the whole rows, whatever the schema) is read;
4. the same migration again, and PostgreSQL's state again: it must be unchanged (not "rewrote 1000");
5. ``migrate`` back into a fresh SQLite file, listed and digested like the source: every row must be identical,
   field by field, at the precision the product guarantees across its backends; the fields that differ are named.

Precision: ai-memory stamps times with nanoseconds on SQLite (RFC 3339, 9 fractional digits) while PostgreSQL's
TIMESTAMPTZ keeps microseconds, so the round trip compares every RFC 3339 value (at any depth of a row) at
microsecond precision (``PRECISION``), and the op says how many rows differed only below it.

Attested writes: with ``agent_key`` and a ``signature_scheme`` the seed is signed as the release specifies. The
scratch daemon is a fresh database, so the agent is registered and its key bound there first with the binary's own
CLI (``agents register``, ``agents bind-key``: the way ai-memory documents it), and the seed daemon runs with the
campaign's posture (``posture_env``) like the nodes. The ``bind`` op records the key id, never the key.

Every step is an op of the history (process ``migration``); the checker ``migration`` judges it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
from datetime import datetime, timezone
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._attest import Signer
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import Endpoint
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History
from ansible_collections.aimemory.swarm.plugins.module_utils._process import Background, Completed, document, run

PROCESS = "migration"
HEALTH_DEADLINE_S = 30.0
STOP_GRACE_S = 30.0
COMMAND_TIMEOUT_S = 600.0
BULK_MAX = 1000
# PostgreSQL's state of the namespace, whatever the schema: the row count, the sum of the optimistic-concurrency
# counters, and one digest per column over every row (so a re-run that changes anything is named by column)
PG_COUNT_SQL = ("SELECT count(*), coalesce(sum((to_jsonb(m) ->> 'version')::bigint), 0) FROM memories m "
                "WHERE m.namespace = %s")
PG_COLUMNS_SQL = ("SELECT kv.key, md5(string_agg(coalesce(kv.value::text, 'null'), '|' ORDER BY m.id::text)) "
                  "FROM memories m, jsonb_each(to_jsonb(m)) kv WHERE m.namespace = %s GROUP BY kv.key")


class MigrationError(RuntimeError):
    """A step could not run at all (its op records why); the checker turns that red."""


PRECISION = "microsecond"
DIGITS = {"microsecond": 6, "nanosecond": 9}
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")


def at_precision(value: Any, precision: str = PRECISION) -> Any:
    """``value`` with every RFC 3339 time (at any depth) rewritten as UTC, truncated to ``precision``
    (microseconds by default), in one spelling ("Z" and "+00:00", 3, 6 or 9 digits compare equal when they name
    the same instant at that precision)."""
    if isinstance(value, dict):
        return {k: at_precision(v, precision) for k, v in value.items()}
    if isinstance(value, list):
        return [at_precision(v, precision) for v in value]
    if isinstance(value, str):
        match = _RFC3339.match(value)
        if match:
            day, clock, frac, zone = match.groups()
            try:
                when = datetime.fromisoformat(f"{day}T{clock}{'+00:00' if zone == 'Z' else zone}")
            except ValueError:
                return value
            digits = DIGITS[precision]
            fraction = ((frac or "") + "0" * digits)[:digits]
            return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction}Z"
    return value


def row_digest(mem: dict[str, Any], precision: str = PRECISION) -> str:
    return hashlib.sha256(json.dumps(at_precision(mem, precision), sort_keys=True, separators=(",", ":")).encode()
                          ).hexdigest()[:16]


def differing_fields(a: dict[str, Any], b: dict[str, Any], precision: str = PRECISION) -> list[str]:
    a, b = at_precision(a, precision), at_precision(b, precision)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def exactly_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def seed_memories(namespace: str, count: int) -> list[dict[str, Any]]:
    """Memories with varied tiers, tags, priorities, confidences and metadata, so a lost field shows."""
    return [{"title": f"p3-{i:05d}", "content": f"phase 3 row {i} of {count} in {namespace}", "namespace": namespace,
             "tier": ("mid", "long")[i % 2], "tags": [f"t{i % 7}", "phase3"], "priority": 1 + i % 10,
             "confidence": round(0.5 + (i % 5) / 10, 2), "source": "api", "scope": "collective",
             "metadata": {"seq": i, "phase": 3}} for i in range(count)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Migration:
    def __init__(self, binary: str, workdir: str, pg_url: str, namespace: str, history: History, agent_id: str,
                 count: int = 1000, agent_key: str | None = None, signature_scheme: str | None = None,
                 posture_env: dict[str, str] | None = None, precision: str = PRECISION) -> None:
        if precision not in DIGITS:
            raise ValueError(f"precision must be one of {sorted(DIGITS)}")
        self.binary, self.workdir, self.pg_url, self.namespace = binary, workdir, pg_url, namespace
        self.history, self.agent_id, self.count = history, agent_id, count
        self.agent_key, self.signature_scheme = agent_key, signature_scheme
        self.posture_env, self.precision = dict(posture_env or {}), precision
        self.source = os.path.join(workdir, "source.db")
        self.roundtrip = os.path.join(workdir, "roundtrip.db")
        self.home = os.path.join(workdir, "home")

    # --- plumbing ------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AI_MEMORY_")}
        env["HOME"] = self.home
        env.update(self.posture_env)
        return env

    def record(self, f: str, ok: bool, value: dict[str, Any], step: str | None = None) -> None:
        op: dict[str, Any] = {"process": PROCESS, "type": "ok" if ok else "fail", "f": f, "node": None,
                              "value": value}
        if step:
            op["step"] = step
        self.history.append(op)

    def cli(self, *args: str) -> Completed:
        return run([self.binary, *args], timeout=COMMAND_TIMEOUT_S, env=self._env(), cwd=self.workdir)

    def prepare(self) -> None:
        for path in (self.source, self.roundtrip):
            if os.path.exists(path):
                raise MigrationError(f"{path} already exists: phase 3 starts from fresh files (a new run name)")
        os.makedirs(os.path.join(self.home, ".config", "ai-memory"), mode=0o700, exist_ok=True)
        with open(os.path.join(self.home, ".config", "ai-memory", "config.toml"), "w") as fh:
            fh.write('# phase 3 seed daemon (loopback only)\ntier = "keyword"\n')

    # --- 1. seed through the bulk API --------------------------------------------------------------
    def bind(self) -> dict[str, str] | None:
        """Register the seed's agent in the fresh source database and bind its key there (the CLI way): the agent
        keys of the seed's endpoint, or None when the seed is not signed."""
        if not (self.agent_key and self.signature_scheme):
            return None
        signer = Signer(self.agent_key, self.signature_scheme)
        value: dict[str, Any] = {"agent_id": self.agent_id, "key_id": signer.key_id, "scheme": self.signature_scheme}
        for step, args in (("register", ("agents", "register", "--agent-id", self.agent_id, "--agent-type",
                                         "ai:swarm-agent")),
                           ("bind-key", ("agents", "bind-key", "--agent-id", self.agent_id, "--pubkey",
                                         signer.public_b64))):
            done = self.cli("--db", self.source, *args)
            if not done.ok:
                value.update(step=step, command=done.record(), stderr=done.stderr.strip()[-500:])
                self.record("bind", False, value)
                raise MigrationError(f"agents {step} in the seed database failed: {done.why()}")
        self.record("bind", True, value)
        return {self.agent_id: self.agent_key}

    def seed(self) -> None:
        port = free_port()
        value: dict[str, Any] = {"count": self.count, "port": port}
        try:
            keys = self.bind()
        except MigrationError as exc:
            value.update({"created": 0, "errors": [str(exc)]})
            self.record("seed", False, value)
            return
        argv = [self.binary, "--db", self.source, "serve", "--host", "127.0.0.1", "--port", str(port)]
        with Background(argv, log_path=os.path.join(self.workdir, "seed-daemon.log"), env=self._env(),
                        cwd=self.workdir, grace=STOP_GRACE_S) as daemon:
            try:
                client = Endpoint(f"http://127.0.0.1:{port}", agent_id=self.agent_id, timeout=60,
                                  agent_keys=keys, signature_scheme=self.signature_scheme if keys else None)
                try:
                    self._wait_healthy(client, daemon)
                    created, errors, signed = 0, [], []
                    rows = seed_memories(self.namespace, self.count)
                    for start in range(0, len(rows), BULK_MAX):
                        resp = client.request("POST", "/api/v1/memories/bulk", rows[start:start + BULK_MAX])
                        signed.append(resp.attestation)
                        body = resp.body if isinstance(resp.body, dict) else {}
                        if resp.status != 200:
                            errors.append(f"bulk: {resp.status or resp.error_class}: {str(resp.body)[:300]}")
                        created += int(body.get("created") or 0)
                        errors += [str(e)[:300] for e in body.get("errors") or []]
                    value.update({"created": created, "errors": errors, "attestation": signed})
                finally:
                    client.close()
            except MigrationError as exc:
                value.update({"created": 0, "errors": [str(exc)]})
        value["daemon_exit"] = daemon.returncode
        self.record("seed", not value["errors"] and value["created"] == self.count, value)

    def _wait_healthy(self, client: Endpoint, daemon: Background) -> None:
        deadline = time.monotonic() + HEALTH_DEADLINE_S
        while time.monotonic() < deadline:
            if not daemon.alive():
                raise MigrationError(f"the seed daemon exited with {daemon.proc.poll() if daemon.proc else None} "
                                     "(see seed-daemon.log)")
            if client.request("GET", "/api/v1/health").status == 200:
                return
            time.sleep(0.1)
        raise MigrationError(f"the seed daemon did not answer /api/v1/health within {HEALTH_DEADLINE_S:g} s")

    # --- 2./5. listing a SQLite file with the binary's CLI -----------------------------------------
    def listing(self, db: str) -> tuple[dict[str, dict[str, Any]] | None, str]:
        done = self.cli("--json", "--db", db, "list", "--namespace", self.namespace, "--limit",
                        str(self.count * 10 + 10))
        if not done.ok:
            return None, done.why()
        doc, why = document(done.stdout)
        rows = doc.get("memories") if isinstance(doc, dict) else None
        if not isinstance(rows, list) or not all(isinstance(m, dict) and "id" in m for m in rows):
            return None, f"list printed no memories: {why or 'no memories list in the document'}"
        return {str(m["id"]): m for m in rows}, ""

    # --- 3./4. migrate and PostgreSQL's state ------------------------------------------------------
    def migrate(self, step: str, source: str, target: str) -> None:
        done = self.cli("migrate", "--from", source, "--to", target, "--namespace", self.namespace, "--json")
        report, why = document(done.stdout)  # the whole stdout: the real binary pretty-prints it
        ok = done.ok and isinstance(report, dict)
        value: dict[str, Any] = {"rc": done.rc, "report": report if isinstance(report, dict) else None}
        if not ok:
            value.update(command=done.record(), output=why, stderr=done.stderr.strip()[-500:])
        self.record("migrate", ok, value, step)

    def pg_state(self, step: str) -> None:
        try:
            import psycopg  # the host's python3-psycopg (module requirement)
        except ImportError:
            self.record("pg_state", False, {"error": "python3-psycopg is not installed on this host"}, step)
            return
        try:
            with psycopg.connect(self.pg_url, connect_timeout=10) as conn, conn.cursor() as cur:
                cur.execute("SET statement_timeout = 30000")
                cur.execute(PG_COUNT_SQL, (self.namespace,))
                count, version_sum = cur.fetchone()
                cur.execute(PG_COLUMNS_SQL, (self.namespace,))
                columns = {str(key): str(digest) for key, digest in cur.fetchall()}
            digest = hashlib.sha256(json.dumps(columns, sort_keys=True).encode()).hexdigest()[:32]
            self.record("pg_state", True, {"count": int(count), "digest": digest, "columns": columns,
                                           "version_sum": int(version_sum)}, step)
        except Exception as exc:  # psycopg errors: the step is recorded as failed with the cause
            self.record("pg_state", False, {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}, step)

    def run(self) -> None:
        self.prepare()
        self.seed()
        source_rows, error = self.listing(self.source)
        self.record("list_source", source_rows is not None,
                    {"count": len(source_rows or {}), "digests": {k: row_digest(v, self.precision) for k, v in
                                                                  (source_rows or {}).items()}, "error": error})
        pg = self.pg_url
        self.migrate("forward", f"sqlite://{self.source}", pg)
        self.pg_state("after_forward")
        self.migrate("again", f"sqlite://{self.source}", pg)
        self.pg_state("after_again")
        self.migrate("reverse", pg, f"sqlite://{self.roundtrip}")
        back, error = self.listing(self.roundtrip)
        diff, below_precision = {}, 0
        for mem_id, mem in (back or {}).items():
            if not source_rows or mem_id not in source_rows:
                continue
            if row_digest(mem, self.precision) != row_digest(source_rows[mem_id], self.precision):
                diff[mem_id] = differing_fields(source_rows[mem_id], mem, self.precision)
            elif not exactly_equal(mem, source_rows[mem_id]):
                below_precision += 1
        self.record("list_roundtrip", back is not None,
                    {"count": len(back or {}), "digests": {k: row_digest(v, self.precision)
                                                           for k, v in (back or {}).items()},
                     "fields_differing": diff, "precision": self.precision,
                     "rows_differing_only_below_precision": below_precision, "error": error})
