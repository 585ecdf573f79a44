"""A real PostgreSQL 17 with pgvector and Apache AGE on 127.0.0.1, run from the project's baked Debian trixie image.

The machine (Debian 12) has neither pgvector nor AGE; the image that the local swarm boots has both
(plugins/module_utils/_swarm/image.py). The server runs from that image without modifying it:

    unshare --mount --propagation private sh -c \\
        'mount -t overlay overlay -o lowerdir=IMAGE,upperdir=U,workdir=W MERGED &&
         exec systemd-nspawn --register=no --keep-unit -M pgtest-... -D MERGED --bind-ro=SETUP:/setup \\
              --user=postgres --kill-signal=SIGINT /bin/sh /setup/run.sh'

- the overlay lives in a private mount namespace, so it vanishes with the last process in it (no host mount to leak,
  even when the test run is killed); nspawn shares the host network, so PostgreSQL listens on 127.0.0.1:<free port>;
- run.sh does initdb (data in the container's /tmp tmpfs) and execs postgres in the foreground;
- SIGTERM to nspawn becomes SIGINT to postgres (fast shutdown); the session's parent-death signal does the same
  when pytest dies; a postgres that does not stop is SIGKILLed through its host pid;
- the machine name starts with "pgtest-", never "aimem-", so the campaign's sweep leaves it alone.

SQL from the tests goes through one long-lived /usr/bin/python3 + python3-psycopg "bridge" process (the venv has no
psycopg; Debian's python3 has, as the stand-in itself requires).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.standin.cluster import HOST_PYTHON
from tests.standin.pki import CA, Identity

IMAGE_STORE = "/var/lib/aimemory-swarm/images"
SUITE = "trixie"
READY_DEADLINE_S = 60.0
STOP_DEADLINE_S = 20.0
SQL_TIMEOUT_S = 60.0
PG_BIN = "/usr/lib/postgresql/17/bin"
ROLE = "standin"
TLS_DB = "tls_db"

RUN_SH = """set -e
{bin}/initdb -D /tmp/pgdata -U postgres --pwfile=/setup/pw --auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 \\
    --no-sync >/dev/null
exec {bin}/postgres -D /tmp/pgdata -p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp \\
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c hba_file=/setup/pg_hba.conf \\
    -c ssl=on -c ssl_cert_file=/setup/server.pem -c ssl_key_file=/setup/server.key -c ssl_ca_file=/setup/ca.pem
"""

# the TLS database takes the role with a client certificate only (CN = role); everything else a SCRAM password
PG_HBA = f"""local   all       all                 peer
host    {TLS_DB}    postgres  127.0.0.1/32   scram-sha-256
hostssl {TLS_DB}    all  127.0.0.1/32   cert
host    {TLS_DB}    all  127.0.0.1/32   reject
host    all       all  127.0.0.1/32   scram-sha-256
"""

BRIDGE = r"""
import json, sys
import psycopg
conns = {}
for line in sys.stdin:
    req = json.loads(line)
    try:
        conn = conns.get(req["conninfo"])
        if conn is None or conn.closed or conn.broken:
            conn = psycopg.connect(req["conninfo"], autocommit=True, connect_timeout=5)
            conn.execute("SET statement_timeout = '30s'")
            for stmt in req.get("init") or []:
                conn.execute(stmt)
            conns[req["conninfo"]] = conn
        cur = conn.execute(req["sql"], req.get("params") or None)
        out = {"rows": cur.fetchall() if cur.description else [], "rowcount": cur.rowcount}
    except Exception as exc:
        out = {"error": f"{type(exc).__name__}: {exc}", "sqlstate": getattr(exc, "sqlstate", None)}
    sys.stdout.write(json.dumps(out, default=str) + "\n")
    sys.stdout.flush()
"""


class SqlError(RuntimeError):
    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _die_with_parent() -> None:
    """preexec: SIGTERM when the test process dies, so nspawn shuts PostgreSQL down even after a crash."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the image -------------------------------------------------------------------------------------
def ensure_image(store: str = IMAGE_STORE) -> str:
    """The baked image for the campaign's recipe: reuse it, or bake it. ``image.bake`` takes the machine-wide bake
    lock, so a bake by a campaign running at the same time is waited for, never duplicated."""
    from ansible_collections.aimemory.swarm.plugins.module_utils._swarm import image as img

    final, _digest, _seconds, _log = img.bake(store, SUITE, img.default_mirror(), [])
    return final


def _image_ids(image: str, user: str) -> tuple[int, int]:
    for line in Path(image, "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise RuntimeError(f"no user {user} in {image}/etc/passwd")


# --- the server ------------------------------------------------------------------------------------
class PgServer:
    """One PostgreSQL server owned by the test session: start() ... stop(), nothing left behind."""

    def __init__(self, image: str, root: Path, port: int) -> None:
        self.image, self.root, self.port = image, root, port
        self.superpass = secrets.token_hex(16)
        self.role_password = secrets.token_hex(16)
        self.machine = f"pgtest-{os.getpid()}-{secrets.token_hex(3)}"
        self.setup = root / "setup"
        self.log = root / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.bridge: subprocess.Popen[str] | None = None
        self.ca = CA(root / "pki", "pg test CA")
        self.client: Identity | None = None

    # lifecycle
    def start(self) -> PgServer:
        self._write_setup()
        for sub in ("upper", "work", "merged"):
            (self.root / sub).mkdir(exist_ok=True)
        overlay = (f"mount -t overlay overlay -o lowerdir={self.image},upperdir={self.root}/upper,"
                   f"workdir={self.root}/work {self.root}/merged")
        nspawn = (f"exec systemd-nspawn --quiet --register=no --keep-unit -M {self.machine} -D {self.root}/merged "
                  f"--bind-ro={self.setup}:/setup --user=postgres --kill-signal=SIGINT /bin/sh /setup/run.sh")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                          f"{overlay} && {nspawn}"], stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        self.bridge = subprocess.Popen([HOST_PYTHON, "-u", "-c", BRIDGE], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=(self.root / "bridge.log").open("ab"),
                                       text=True, start_new_session=True, preexec_fn=_die_with_parent)
        try:
            self._wait_ready()
            self._provision()
        except BaseException:
            self.stop()
            raise
        return self

    def _write_setup(self) -> None:
        self.setup.mkdir(parents=True)
        self.setup.chmod(0o755)
        uid, gid = _image_ids(self.image, "postgres")
        server = self.ca.issue("pg-server", ["127.0.0.1"], client=False)
        self.client = self.ca.issue(ROLE, ["127.0.0.1"], client=True)  # CN = the role: pg_hba "cert"
        files = {"run.sh": RUN_SH.format(bin=PG_BIN, port=self.port), "pg_hba.conf": PG_HBA,
                 "pw": self.superpass + "\n", "server.pem": server.cert.read_text(),
                 "server.key": server.key.read_text(), "ca.pem": self.ca.path.read_text()}
        for name, text in files.items():
            path = self.setup / name
            path.write_text(text)
            private = name in ("pw", "server.key")
            path.chmod(0o600 if private else 0o644)
            if private:
                os.chown(path, uid, gid)  # PostgreSQL wants its key owned by itself and not group-readable

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_DEADLINE_S
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited {self.proc.returncode}: {self.log.read_text()[-3000:]}")
            try:
                self.sql("postgres", "SELECT 1")
                return
            except SqlError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"postgres not ready after {READY_DEADLINE_S}s: "
                                       f"{self.log.read_text()[-3000:]}") from None
                time.sleep(0.1)

    def _provision(self) -> None:
        self.sql("postgres", f"CREATE ROLE {ROLE} LOGIN PASSWORD '{self.role_password}'")
        self.create_database("novector", extensions=(), owner="postgres")  # the role may not create vector here
        self.create_database(TLS_DB, extensions=("vector",))

    def leader_pid(self) -> int | None:
        """Host pid of the container's first process (postgres), the child of systemd-nspawn."""
        if self.proc is None:
            return None
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def stop(self) -> None:
        if self.bridge is not None and self.bridge.poll() is None:
            with contextlib.suppress(OSError):
                self.bridge.stdin.close()  # type: ignore[union-attr]
            try:
                self.bridge.wait(5)
            except subprocess.TimeoutExpired:
                self.bridge.kill()
                self.bridge.wait(5)
        if self.proc is None or self.proc.poll() is not None:
            return
        leader = self.leader_pid()
        self.proc.terminate()  # nspawn passes SIGINT on: PostgreSQL fast shutdown
        try:
            self.proc.wait(STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            if leader is not None and pid_alive(leader):
                os.kill(leader, signal.SIGKILL)  # the container's pid 1: its whole pid namespace goes with it
            self.proc.kill()
            self.proc.wait(10)

    # access
    def url(self, db: str, *, user: str = ROLE, password: str | None = None, scheme: str = "postgresql",
            query: str = "sslmode=disable") -> str:
        secret = self.role_password if password is None else password
        auth = f"{user}:{secret}@" if secret else f"{user}@"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/{db}" + (f"?{query}" if query else "")

    def tls_url(self, *, with_client_cert: bool = True) -> str:
        assert self.client is not None
        query = f"sslmode=verify-full&sslrootcert={self.ca.path}"
        if with_client_cert:
            query += f"&sslcert={self.client.cert}&sslkey={self.client.key}"
        return self.url(TLS_DB, password="", query=query)

    def _conninfo(self, db: str, tag: str = "tests") -> str:
        return (f"host=127.0.0.1 port={self.port} user=postgres password={self.superpass} dbname={db} "
                f"sslmode=disable application_name={tag}")

    def _request(self, req: dict[str, Any]) -> dict[str, Any]:
        bridge = self.bridge
        if bridge is None or bridge.poll() is not None:
            raise RuntimeError(f"SQL bridge is not running: {(self.root / 'bridge.log').read_text()[-2000:]}")
        assert bridge.stdin is not None and bridge.stdout is not None
        bridge.stdin.write(json.dumps(req) + "\n")
        bridge.stdin.flush()
        ready, _, _ = select.select([bridge.stdout], [], [], SQL_TIMEOUT_S)
        if not ready:
            bridge.kill()  # a late answer must never be taken for the next one
            raise TimeoutError(f"no SQL answer after {SQL_TIMEOUT_S}s to {req['sql'][:200]}")
        reply: dict[str, Any] = json.loads(bridge.stdout.readline())
        return reply

    def sql(self, db: str, query: str, params: list[Any] | tuple[Any, ...] = ()) -> list[list[Any]]:
        """Run one statement as the superuser; rows as lists (timestamps and the like as text)."""
        reply = self._request({"conninfo": self._conninfo(db), "sql": query, "params": list(params)})
        if "error" in reply:
            raise SqlError(reply["error"], reply.get("sqlstate"))
        return reply["rows"]  # type: ignore[no-any-return]

    def cypher(self, db: str, query: str, columns: int = 1) -> list[list[Any]]:
        """MATCH ... RETURN on graph memory_graph as the superuser; agtype values decoded from their JSON text."""
        return self._cypher(self._conninfo(db, "tests-age"), "LOAD 'age'", query, columns)

    def as_role_cypher(self, db: str, query: str, columns: int = 1) -> list[list[Any]]:
        """The same as the stand-in's own role (not a superuser, may not LOAD 'age'): the library is loaded by
        calling one of its functions, as the daemon does."""
        conninfo = self._conninfo(db, "tests-age-role").replace(
            f"user=postgres password={self.superpass}", f"user={ROLE} password={self.role_password}")
        return self._cypher(conninfo, "SELECT 'null'::ag_catalog.agtype", query, columns)

    def _cypher(self, conninfo: str, load: str, query: str, columns: int) -> list[list[Any]]:
        cols = ", ".join(f"c{i} ag_catalog.agtype" for i in range(columns))
        reply = self._request({"conninfo": conninfo, "init": [load, 'SET search_path = ag_catalog, "$user", public'],
                               "sql": f"SELECT * FROM ag_catalog.cypher('memory_graph', $$ {query} $$) AS ({cols})"})
        if "error" in reply:
            raise SqlError(reply["error"], reply.get("sqlstate"))
        return [[json.loads(v) if v is not None else None for v in row] for row in reply["rows"]]

    def create_database(self, name: str, *, extensions: tuple[str, ...] = ("vector", "age"),
                        owner: str = ROLE) -> str:
        self.sql("postgres", f"CREATE DATABASE {name} OWNER {owner}")
        for ext in extensions:
            self.sql(name, f"CREATE EXTENSION {ext}")
        if "age" in extensions:
            self.sql(name, f"GRANT USAGE ON SCHEMA ag_catalog TO {ROLE}")
        return name

    def stage(self, path: Path) -> str:
        """Copy a file into the container's read-only /setup (a live bind of a host directory); its path there."""
        target = self.setup / path.name
        target.write_bytes(path.read_bytes())
        target.chmod(0o755)
        return f"/setup/{path.name}"

    def in_image(self, args: list[str], *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run a command in the server container's file system (its python3 is Debian trixie's, with psycopg 3.2)."""
        leader = self.leader_pid()
        assert leader is not None, "postgres is not running"
        return subprocess.run(["nsenter", "-t", str(leader), "-m", "-r", "--", "env", "-C", "/tmp", "HOME=/tmp",
                               "AI_MEMORY_NO_CONFIG=1", "PATH=/usr/bin:/bin", *args],
                              capture_output=True, text=True, timeout=timeout, check=False)
