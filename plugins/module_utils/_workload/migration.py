# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Ship-gate phase 3, migration, driven on the PostgreSQL host (ship-gate spec §1 phase 3, defects §7.16 fixed).

1. seed: a throw-away SQLite-backed ``ai-memory serve`` on loopback (owned here: always stopped) takes ``count``
   memories through ``POST /api/v1/memories/bulk`` (not 1000 CLI calls), then stops with SIGINT;
2. the source is listed with the binary's own CLI (``list --json``) and each row digested (all its fields);
3. ``migrate --from sqlite:///source --to postgres://... --namespace NS --json``; PostgreSQL's state of the namespace
   (row count and a digest of the whole rows, whatever the schema) is read;
4. the same migration again, and PostgreSQL's state again: it must be unchanged (not "rewrote 1000");
5. ``migrate`` back into a fresh SQLite file, listed and digested like the source: every row must be identical,
   field by field; the fields that differ are named.

Every step is an op of the history (process ``migration``); the checker ``migration`` judges it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import Endpoint
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History

PROCESS = "migration"
HEALTH_DEADLINE_S = 30.0
STOP_GRACE_S = 30.0
COMMAND_TIMEOUT_S = 600.0
BULK_MAX = 1000
PG_STATE_SQL = ("SELECT count(*), md5(coalesce(string_agg(m::text, '|' ORDER BY m::text), '')) "
                "FROM memories m WHERE m.namespace = %s")


class MigrationError(RuntimeError):
    """A step could not run at all (its op records why); the checker turns that red."""


def row_digest(mem: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(mem, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def differing_fields(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


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
                 count: int = 1000) -> None:
        self.binary, self.workdir, self.pg_url, self.namespace = binary, workdir, pg_url, namespace
        self.history, self.agent_id, self.count = history, agent_id, count
        self.source = os.path.join(workdir, "source.db")
        self.roundtrip = os.path.join(workdir, "roundtrip.db")
        self.home = os.path.join(workdir, "home")

    # --- plumbing ------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AI_MEMORY_")}
        env["HOME"] = self.home
        return env

    def record(self, f: str, ok: bool, value: dict[str, Any], step: str | None = None) -> None:
        op: dict[str, Any] = {"process": PROCESS, "type": "ok" if ok else "fail", "f": f, "node": None,
                              "value": value}
        if step:
            op["step"] = step
        self.history.append(op)

    def cli(self, *args: str) -> tuple[int, str, str]:
        proc = subprocess.run([self.binary, *args], cwd=self.workdir, env=self._env(), capture_output=True,
                              text=True, timeout=COMMAND_TIMEOUT_S, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    def prepare(self) -> None:
        for path in (self.source, self.roundtrip):
            if os.path.exists(path):
                raise MigrationError(f"{path} already exists: phase 3 starts from fresh files (a new run name)")
        os.makedirs(os.path.join(self.home, ".config", "ai-memory"), mode=0o700, exist_ok=True)
        with open(os.path.join(self.home, ".config", "ai-memory", "config.toml"), "w") as fh:
            fh.write('# phase 3 seed daemon (loopback only)\ntier = "keyword"\n')

    # --- 1. seed through the bulk API --------------------------------------------------------------
    def seed(self) -> None:
        port = free_port()
        log = open(os.path.join(self.workdir, "seed-daemon.log"), "wb")  # closed in the finally below
        daemon = subprocess.Popen([self.binary, "--db", self.source, "serve", "--host", "127.0.0.1", "--port",
                                   str(port)], cwd=self.workdir, env=self._env(), stdout=log, stderr=log,
                                  start_new_session=True)
        value: dict[str, Any] = {"count": self.count, "port": port}
        try:
            client = Endpoint(f"http://127.0.0.1:{port}", agent_id=self.agent_id, timeout=60)
            try:
                self._wait_healthy(client, daemon)
                created, errors = 0, []
                rows = seed_memories(self.namespace, self.count)
                for start in range(0, len(rows), BULK_MAX):
                    resp = client.request("POST", "/api/v1/memories/bulk", rows[start:start + BULK_MAX])
                    body = resp.body if isinstance(resp.body, dict) else {}
                    if resp.status != 200:
                        errors.append(f"bulk: {resp.status or resp.error_class}: {str(resp.body)[:300]}")
                    created += int(body.get("created") or 0)
                    errors += [str(e)[:300] for e in body.get("errors") or []]
                value.update({"created": created, "errors": errors})
            finally:
                client.close()
        except MigrationError as exc:
            value.update({"created": 0, "errors": [str(exc)]})
        finally:
            value["daemon_exit"] = self._stop(daemon)
            log.close()
        self.record("seed", not value["errors"] and value["created"] == self.count, value)

    def _wait_healthy(self, client: Endpoint, daemon: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + HEALTH_DEADLINE_S
        while time.monotonic() < deadline:
            if daemon.poll() is not None:
                raise MigrationError(f"the seed daemon exited with {daemon.returncode} (see seed-daemon.log)")
            if client.request("GET", "/api/v1/health").status == 200:
                return
            time.sleep(0.1)
        raise MigrationError(f"the seed daemon did not answer /api/v1/health within {HEALTH_DEADLINE_S:g} s")

    @staticmethod
    def _stop(daemon: subprocess.Popen[bytes]) -> int | None:
        """SIGINT (the daemon's graceful path, WAL checkpoint), SIGKILL after the grace period."""
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGINT)
            try:
                daemon.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait(10)
        return daemon.returncode

    # --- 2./5. listing a SQLite file with the binary's CLI -----------------------------------------
    def listing(self, db: str) -> tuple[dict[str, dict[str, Any]] | None, str]:
        rc, out, err = self.cli("--json", "--db", db, "list", "--namespace", self.namespace, "--limit",
                                str(self.count * 10 + 10))
        if rc != 0:
            return None, f"list exited {rc}: {err.strip()[-300:]}"
        try:
            rows = json.loads(out)["memories"]
        except (ValueError, KeyError, TypeError) as exc:
            return None, f"list printed no memories JSON: {exc}"
        return {str(m["id"]): m for m in rows}, ""

    # --- 3./4. migrate and PostgreSQL's state ------------------------------------------------------
    def migrate(self, step: str, source: str, target: str) -> None:
        rc, out, err = self.cli("migrate", "--from", source, "--to", target, "--namespace", self.namespace,
                                "--json")
        try:
            report = json.loads(out.strip().splitlines()[-1]) if out.strip() else None
        except ValueError:
            report = None
        ok = rc == 0 and isinstance(report, dict)
        self.record("migrate", ok, {"rc": rc, "report": report, "stderr": err.strip()[-500:] if not ok else ""},
                    step)

    def pg_state(self, step: str) -> None:
        try:
            import psycopg  # the host's python3-psycopg (module requirement)
        except ImportError:
            self.record("pg_state", False, {"error": "python3-psycopg is not installed on this host"}, step)
            return
        try:
            with psycopg.connect(self.pg_url, connect_timeout=10) as conn, conn.cursor() as cur:
                cur.execute("SET statement_timeout = 30000")
                cur.execute(PG_STATE_SQL, (self.namespace,))
                count, digest = cur.fetchone()
            self.record("pg_state", True, {"count": int(count), "digest": digest}, step)
        except Exception as exc:  # psycopg errors: the step is recorded as failed with the cause
            self.record("pg_state", False, {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}, step)

    def run(self) -> None:
        self.prepare()
        self.seed()
        source_rows, error = self.listing(self.source)
        self.record("list_source", source_rows is not None,
                    {"count": len(source_rows or {}), "digests": {k: row_digest(v) for k, v in
                                                                  (source_rows or {}).items()}, "error": error})
        pg = self.pg_url
        self.migrate("forward", f"sqlite://{self.source}", pg)
        self.pg_state("after_forward")
        self.migrate("again", f"sqlite://{self.source}", pg)
        self.pg_state("after_again")
        self.migrate("reverse", pg, f"sqlite://{self.roundtrip}")
        back, error = self.listing(self.roundtrip)
        diff = {}
        for mem_id, mem in (back or {}).items():
            if source_rows and mem_id in source_rows and row_digest(mem) != row_digest(source_rows[mem_id]):
                diff[mem_id] = differing_fields(source_rows[mem_id], mem)
        self.record("list_roundtrip", back is not None,
                    {"count": len(back or {}), "digests": {k: row_digest(v) for k, v in (back or {}).items()},
                     "fields_differing": diff, "error": error})
