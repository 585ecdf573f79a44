"""The postgres_age role on one real Debian trixie host (the local provider: systemd-nspawn in a network namespace).

One host is booted for the module (campaign id ``pgrole-<pid>-<time>``, public 198.18.252.0/24, VPC 10.252.0.0/24,
a throwaway SSH key and PKI in pytest's temp dir); the module's finalizer always removes it and checks that no
namespace, link, overlay mount or nspawn process of it is left. The host is booted with ``keep`` and a 20-minute
lifetime, so another run's sweep leaves it alone while this module runs and removes it if this process is killed.

The role runs in check mode on the fresh host (changes predicted, nothing written), then twice for real (the second
run changes nothing), then in check mode again (nothing predicted). The client side runs on the controller: its own
``/usr/bin/python3`` + psycopg (libpq) and the PKI files, inside the host's network namespace (the controller has no
address on the VPC, as on DigitalOcean) against the host's private address only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from standin.ai_memory_standin import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / ".venv" / "bin" / "ansible-playbook"
PLAYS = "tests/integration/playbooks"
HOST_PYTHON = "/usr/bin/python3"
SWARM_STATE = Path("/run/aimemory-swarm")
CAMPAIGN = f"pgrole-{os.getpid()}-{int(time.time())}"
RUN_TIMEOUT = 300
CLIENT_TIMEOUT = 60
PG_PORT = 5432
CONF_DIR = "etc/postgresql/17/main"

# Runs in the host's network namespace with the controller's python3 + psycopg: one connection per attempt,
# each statement's rows (or the error), as JSON.
CLIENT = r"""
import json, sys
import psycopg
out = []
for attempt in json.loads(sys.argv[1]):
    try:
        with psycopg.connect(attempt["conninfo"], autocommit=True, connect_timeout=5) as conn:
            rows = []
            for statement in attempt["statements"]:
                cur = conn.execute(statement)
                rows.append([list(r) for r in cur.fetchall()] if cur.description else None)
        out.append({"ok": True, "rows": rows})
    except Exception as exc:
        out.append({"ok": False, "error": str(exc)})
print(json.dumps(out))
"""

AGE_PATH = 'SET search_path = ag_catalog, "$user", public'
AGE_CREATE = ("SELECT * FROM cypher('memory_graph', $$ CREATE (:Agent {id: 'a'})-[:WROTE]->(:Memory {id: 'm'}) $$) "
              "AS (v agtype)")
AGE_MATCH = ("SELECT a::text, m::text FROM cypher('memory_graph', $$ MATCH (a:Agent)-[:WROTE]->(m:Memory) "
             "RETURN a.id, m.id $$) AS (a agtype, m agtype)")
WHO = ("SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), s.ssl, s.version "
       "FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()")
VECTOR = "SELECT ('[1,2,3]'::public.vector OPERATOR(public.<->) '[1,2,5]'::public.vector)::float8"


@dataclass
class Run:
    rc: int
    out: str
    seconds: float

    @property
    def changed(self) -> int:
        m = re.search(r"^pg\s+:\s+ok=\d+\s+changed=(\d+)", self.out, re.M)
        assert m, self.out[-3000:]
        return int(m.group(1))

    def changed_tasks(self) -> list[str]:
        tasks, current = [], ""
        for line in self.out.splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                current = line
            elif line.startswith("changed:") and current not in tasks:
                tasks.append(current)
        return tasks


@dataclass
class PgHost:
    state: Path
    netns: str
    public_ip: str
    private_ip: str
    merged: Path
    env: dict[str, str]
    runs: dict[str, Run] = field(default_factory=dict)
    after_fresh_check: dict[str, Any] = field(default_factory=dict)

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    def play(self, playbook: str, *args: str, inventory: bool = True) -> Run:
        cmd = [str(PLAYBOOK), f"{PLAYS}/{playbook}", *args]
        if inventory:
            cmd[1:1] = ["-i", str(self.state / "inventory.yml")]
        start = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                              check=False)
        return Run(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start)

    def conninfo(self, *, db: str = "ai_memory", user: str = "ai_memory", sslmode: str = "verify-full",
                 identity: str | None = "pg", password: str | None = None) -> str:
        parts = [f"host={self.private_ip}", f"port={PG_PORT}", f"dbname={db}", f"user={user}",
                 f"sslmode={sslmode}", f"sslrootcert={self.pki / 'ca.pem'}"]
        if identity:
            parts += [f"sslcert={self.pki / 'hosts' / identity / 'client.pem'}",
                      f"sslkey={self.pki / 'hosts' / identity / 'client.key'}"]
        else:  # make sure libpq does not pick up a default ~/.postgresql/postgresql.crt
            parts += ["sslcert=/nonexistent/client.pem", "sslkey=/nonexistent/client.key"]
        if password:
            # libpq cannot hash an Ed25519 server certificate for SCRAM channel binding ("could not find digest
            # for NID UNDEF", libpq 15 and 17 alike): the campaign's PKI is Ed25519, so binding is off
            parts += [f"password={password}", "channel_binding=disable"]
        return " ".join(parts)

    def client(self, *attempts: tuple[str, list[str]]) -> list[dict[str, Any]]:
        spec = json.dumps([{"conninfo": c, "statements": s} for c, s in attempts])
        proc = subprocess.run(["ip", "netns", "exec", self.netns, HOST_PYTHON, "-c", CLIENT, spec],
                              capture_output=True, text=True, timeout=CLIENT_TIMEOUT, check=True)
        return json.loads(proc.stdout)

    def listeners(self) -> set[str]:
        out = subprocess.run(["ip", "netns", "exec", self.netns, "ss", "-Hltn", f"sport = :{PG_PORT}"],
                             capture_output=True, text=True, timeout=CLIENT_TIMEOUT, check=True).stdout
        return {line.split()[3].rsplit(":", 1)[0] for line in out.splitlines() if line.strip()}


def leftovers(campaign: str) -> list[str]:
    """Everything the local provider labels with this campaign's short id (other campaigns may run meanwhile)."""
    sid = hashlib.sha256(campaign.encode()).hexdigest()[:6]
    found = []
    netns = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, check=False).stdout
    found += [n["name"] for n in json.loads(netns or "[]") if n["name"].startswith(f"aimem-{sid}-")]
    links = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, check=False).stdout
    found += [x["ifname"] for x in json.loads(links or "[]") if x["ifname"].startswith(f"am{sid}")]
    found += [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
              if f"{SWARM_STATE}/{campaign}/" in line]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"systemd-nspawn" in cmd and f"aimem-{sid}-".encode() in cmd:
            found.append(f"pid {pid}")
    if (SWARM_STATE / campaign).exists():
        found.append(str(SWARM_STATE / campaign))
    return found


@pytest.fixture(scope="module")
def pg_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgHost]:
    state = tmp_path_factory.mktemp("pgrole")
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1",
           # the play timer must not overwrite the checkout's .state/plays.json (a campaign's evidence)
           "AIMEMORY_PLAY_TIMES_FILE": str(state / "plays.json")}
    ids = ["-e", f"pg_test_campaign_id={CAMPAIGN}"]

    def run(playbook: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(PLAYBOOK), f"{PLAYS}/{playbook}", *ids, *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)

    try:
        up = run("pg_host_up.yml", "-e", f"pg_test_state_dir={state}")
        if up.returncode != 0 and "not up within boot_timeout" in up.stdout:
            # one more try: the provider may read systemd-nspawn's short-lived setup child as the container's
            # leader under load, and then waits on it until boot_timeout (it cleans up after itself)
            up = run("pg_host_up.yml", "-e", f"pg_test_state_dir={state}")
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-2000:]
        swarm = json.loads((SWARM_STATE / CAMPAIGN / "state.json").read_text())["hosts"][0]
        yield PgHost(state=state, netns=swarm["netns"], public_ip=swarm["public_ip"],
                     private_ip=swarm["private_ip"], merged=SWARM_STATE / CAMPAIGN / "hosts" / "pg" / "merged",
                     env=env)
    finally:
        down = run("pg_host_down.yml")
        # throwaway, but no key or password outlives its host
        shutil.rmtree(state / "ssh", ignore_errors=True)
        shutil.rmtree(state / "pki", ignore_errors=True)
        (state / "scram.json").unlink(missing_ok=True)
        assert down.returncode == 0, down.stdout[-3000:]
        assert leftovers(CAMPAIGN) == []


@pytest.fixture(scope="module")
def applied(pg_host: PgHost) -> PgHost:
    """check mode on the fresh host, two real runs, check mode again; the role's fact goes to info.json."""
    h = pg_host
    h.runs["check_fresh"] = h.play("pg_role_apply.yml", "--check")
    h.after_fresh_check = {
        "dropin_exists": (h.merged / CONF_DIR / "conf.d" / "50-postgres-age.conf").exists(),
        "tls_dir_exists": (h.merged / CONF_DIR / "tls").exists(),
        "listeners": h.listeners(),
    }
    h.runs["first"] = h.play("pg_role_apply.yml", "-e", f"pg_test_info_file={h.state / 'info.json'}")
    assert h.runs["first"].rc == 0, h.runs["first"].out[-5000:]
    h.runs["second"] = h.play("pg_role_apply.yml")
    h.runs["check_converged"] = h.play("pg_role_apply.yml", "--check")
    return h


def test_check_mode_on_a_fresh_host_predicts_changes_and_writes_nothing(applied: PgHost) -> None:
    run = applied.runs["check_fresh"]
    assert run.rc == 0, run.out[-5000:]
    assert run.changed > 0
    assert applied.after_fresh_check == {"dropin_exists": False, "tls_dir_exists": False, "listeners": set()}


def test_second_run_and_check_mode_change_nothing(applied: PgHost) -> None:
    assert applied.runs["first"].changed > 0
    for name in ("second", "check_converged"):
        run = applied.runs[name]
        assert run.rc == 0, run.out[-5000:]
        assert run.changed == 0, run.changed_tasks()
    assert "[WARNING]" not in applied.runs["second"].out, applied.runs["second"].out[-3000:]


def test_mapped_certificate_uses_vector_and_age_cypher_as_the_role(applied: PgHost) -> None:
    for db in ("ai_memory", "ai_memory_phase3"):
        # no LOAD 'age' and no CREATE EXTENSION: cypher() is the session's first AGE call
        (result,) = applied.client((applied.conninfo(db=db), [AGE_PATH, AGE_CREATE, AGE_MATCH, WHO, VECTOR]))
        assert result["ok"], result
        created, matched, who, distance = result["rows"][1:]
        assert created == []
        assert matched == [["a", "m"]]
        assert who == [["ai_memory", False, True, who[0][3]]] and who[0][3] in ("TLSv1.2", "TLSv1.3")
        assert distance == [[2.0]]


def test_the_role_cannot_load_age_itself(applied: PgHost) -> None:
    # why the role preloads AGE per database: PostgreSQL refuses LOAD 'age' to a non-superuser
    (result,) = applied.client((applied.conninfo(), ["LOAD 'age'"]))
    assert not result["ok"] and 'access to library "age" is not allowed' in result["error"]


def test_refused_without_certificate_with_unmapped_cn_without_tls_and_elsewhere(applied: PgHost) -> None:
    h = applied
    results = h.client(
        (h.conninfo(identity=None), ["SELECT 1"]),
        (h.conninfo(identity="stranger"), ["SELECT 1"]),
        (h.conninfo(sslmode="disable", identity=None), ["SELECT 1"]),
        (h.conninfo(db="postgres"), ["SELECT 1"]),
        (h.conninfo(user="postgres"), ["SELECT 1"]),
    )
    assert [r["ok"] for r in results] == [False] * 5, results
    no_cert, stranger, plain, other_db, superuser = (r["error"] for r in results)
    assert "connection requires a valid client certificate" in no_cert
    assert 'certificate authentication failed for user "ai_memory"' in stranger
    assert "pg_hba.conf rejects connection" in plain and "no encryption" in plain
    assert "pg_hba.conf rejects connection" in other_db and 'database "postgres"' in other_db
    assert "pg_hba.conf rejects connection" in superuser and 'user "postgres"' in superuser


def test_listens_on_localhost_and_the_private_address_only(applied: PgHost) -> None:
    assert applied.listeners() == {"127.0.0.1", applied.private_ip}
    with socket.socket() as sock:
        sock.settimeout(5)
        with pytest.raises(ConnectionRefusedError):
            sock.connect((applied.public_ip, PG_PORT))


def test_tls_files_and_key_permissions(applied: PgHost) -> None:
    passwd = (applied.merged / "etc" / "passwd").read_text().splitlines()
    postgres_uid = next(int(line.split(":")[2]) for line in passwd if line.startswith("postgres:"))
    key = (applied.merged / CONF_DIR / "tls" / "server.key").stat()
    assert stat.S_IMODE(key.st_mode) == 0o600 and key.st_uid == postgres_uid
    assert (applied.merged / CONF_DIR / "tls" / "ca.pem").read_bytes() == (applied.pki / "ca.pem").read_bytes()
    hba = (applied.merged / CONF_DIR / "pg_hba.conf").read_text()
    assert ("hostssl   ai_memory,ai_memory_phase3  ai_memory  10.252.0.0/24  cert clientcert=verify-full "
            "map=ai_memory") in hba
    ident = (applied.merged / CONF_DIR / "pg_ident.conf").read_text()
    assert 'ai_memory  "pg"  ai_memory' in ident


def test_info_fact_records_the_running_versions(applied: PgHost) -> None:
    info = json.loads((applied.state / "info.json").read_text())
    assert info["server_version"].startswith("17.") and info["server_version_num"] >= 170000
    assert info["major"] == "17" and info["auth"] == "cert" and info["package_source"] == "distribution"
    assert info["listen_addresses"] == ["localhost", applied.private_ip]
    for db in ("ai_memory", "ai_memory_phase3"):
        assert info["databases"][db] == {"vector": "0.8.0", "age": "1.5.0", "graph": True}


def test_standin_bootstraps_its_schema_over_verify_full(applied: PgHost, tmp_path: Path) -> None:
    binary = ROOT / "build" / "ai-memory"
    if not binary.exists():
        pytest.skip("build/ai-memory (the stand-in) is not built")
    p = applied.pki
    url = (f"postgres://ai_memory@{applied.private_ip}:{PG_PORT}/ai_memory_phase3?sslmode=verify-full"
           f"&sslrootcert={p}/ca.pem&sslcert={p}/hosts/pg/client.pem&sslkey={p}/hosts/pg/client.key")
    proc = subprocess.run(["ip", "netns", "exec", applied.netns, HOST_PYTHON, str(binary), "schema-init", "--json",
                           "--store-url", url], cwd=tmp_path, capture_output=True, text=True,
                          timeout=CLIENT_TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["schema_version"] == SCHEMA_VERSION and report["age_projection_created"] is True
    assert {"vector", "age"} <= set(report["extensions"])


def test_scram_mode_takes_a_password_over_tls_only(applied: PgHost) -> None:
    """Last: switches the host to auth=scram-sha-256 (password over TLS, no client certificate)."""
    h = applied
    password = "pgrole-" + hashlib.sha256(CAMPAIGN.encode()).hexdigest()[:24]
    extra = h.state / "scram.json"
    extra.write_text(json.dumps({"postgres_age_auth": "scram-sha-256", "postgres_age_password": password}))
    extra.chmod(0o600)
    for name in ("scram_first", "scram_second"):
        h.runs[name] = h.play("pg_role_apply.yml", "-e", f"@{extra}")
        assert h.runs[name].rc == 0, h.runs[name].out[-5000:]
    assert h.runs["scram_first"].changed > 0
    assert h.runs["scram_second"].changed == 0, h.runs["scram_second"].changed_tasks()
    assert password not in h.runs["scram_first"].out + h.runs["scram_second"].out
    scram_create = "SELECT * FROM cypher('memory_graph', $$ CREATE (:Agent {id: 's'}) $$) AS (v agtype)"
    scram_match = ("SELECT a::text FROM cypher('memory_graph', $$ MATCH (a:Agent {id: 's'}) RETURN a.id $$) "
                   "AS (a agtype)")
    ok, wrong, plain = h.client(
        (h.conninfo(identity=None, password=password), [AGE_PATH, scram_create, scram_match, WHO]),
        (h.conninfo(identity=None, password="wrong-password"), ["SELECT 1"]),
        (h.conninfo(sslmode="disable", identity=None, password=password), ["SELECT 1"]),
    )
    assert ok["ok"], ok
    assert ok["rows"][2] == [["s"]] and ok["rows"][3][0][:3] == ["ai_memory", False, True]
    assert not wrong["ok"] and 'password authentication failed for user "ai_memory"' in wrong["error"]
    assert not plain["ok"] and "pg_hba.conf rejects connection" in plain["error"]
