"""Real multi-process stand-in clusters on loopback: each node is `ai-memory serve` in its own process."""

from __future__ import annotations

import http.client
import json
import os
import signal as sig_mod
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.standin.pki import CA, Identity

API_KEY = "test-api-key-0123456789"
HOST_PYTHON = "/usr/bin/python3"
AGENT = "ai:tester"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class Node:
    name: str
    port: int
    home: Path
    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    client_ctx: ssl.SSLContext | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, env=self.env, cwd=self.home, stdout=subprocess.DEVNULL,
                                     stderr=self.log.open("ab"), start_new_session=True)

    def wait_healthy(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if self.request("GET", "/api/v1/health").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} not healthy after {timeout}s")

    def request(self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
                ctx: ssl.SSLContext | None = None, agent: str | None = AGENT, api_key: str | None = API_KEY,
                timeout: float = 10.0) -> Response:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx or self.client_ctx, timeout=timeout)
        hdrs = {"Content-Type": "application/json"}
        if agent:
            hdrs["X-Agent-Id"] = agent
        if api_key:
            hdrs["X-API-Key"] = api_key
        hdrs.update(headers or {})
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body).encode(), headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed)

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self, sig: int = sig_mod.SIGKILL, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(sig_mod.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode


@dataclass
class Cluster:
    binary: Path
    root: Path
    size: int = 3
    writes: int = 2
    faults: str = ""
    timeout_ms: int = 2000
    catchup_secs: int = 1
    store_urls: dict[int, str] = field(default_factory=dict)  # node index -> --store-url (postgres-backed node)
    env: dict[str, str] = field(default_factory=dict)  # extra environment of every node
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ca = CA(self.root / "pki")
        self.rogue_ca = CA(self.root / "rogue", "rogue CA")
        self.ports = [free_port() for _ in range(self.size)]
        self.client = self.ca.issue("client", ["127.0.0.1"], client=True)
        self.outsider = self.ca.issue("outsider", ["127.0.0.1"], client=True)
        self.rogue = self.rogue_ca.issue("rogue", ["127.0.0.1"], client=True)
        peers_client: list[Identity] = []
        for i in range(self.size):
            name = f"node-{chr(97 + i)}"
            server = self.ca.issue(f"{name}-server", ["127.0.0.1"], client=False)
            client = self.ca.issue(f"{name}-client", ["127.0.0.1"], client=True)
            peers_client.append(client)
            home = self.root / name
            (home / ".config" / "ai-memory").mkdir(parents=True)
            (home / ".config" / "ai-memory" / "config.toml").write_text(
                f'api_key = "{API_KEY}"\ntier = "keyword"\n[admin]\nagent_ids = ["{AGENT}"]\n')
            peers = ",".join(f"https://127.0.0.1:{p}" for j, p in enumerate(self.ports) if j != i)
            # a postgres-backed node has no --db (exclusive with --store-url; its scratch ./ai-memory.db is in
            # home, the cwd) and runs on Debian's python3, which has python3-psycopg
            url = self.store_urls.get(i)
            head = [HOST_PYTHON, str(self.binary)] if url else [str(self.binary), "--db", str(home / "ai-memory.db")]
            args = [*head, "serve", *(["--store-url", url] if url else []), "--host", "127.0.0.1",
                    "--port", str(self.ports[i]), "--tls-cert", str(server.cert), "--tls-key", str(server.key),
                    "--mtls-allowlist", str(self.root / "allowlist.txt"), "--quorum-ca-cert", str(self.ca.path),
                    "--shutdown-grace-secs", "5", "--catchup-interval-secs", str(self.catchup_secs)]
            if self.writes:
                args += ["--quorum-writes", str(self.writes), "--quorum-peers", peers,
                         "--quorum-timeout-ms", str(self.timeout_ms),
                         "--quorum-client-cert", str(client.cert), "--quorum-client-key", str(client.key)]
            env = {"PATH": os.environ["PATH"], "HOME": str(home), "AI_MEMORY_FED_SYNC_TRUST_PEER": "1",
                   "AI_MEMORY_FED_REQUIRE_SIG": "0", "AI_MEMORY_STANDIN_FAULTS": self.faults, **self.env}
            self.nodes.append(Node(name, self.ports[i], home, args, env, self.root / f"{name}.log"))
        lines = [f"{c.fingerprint}  # {n.name}" for c, n in zip(peers_client, self.nodes, strict=True)]
        lines.append(f"sha256:{self.client.fingerprint}  # test client")
        (self.root / "allowlist.txt").write_text("# test allowlist\n" + "\n".join(lines) + "\n")
        for node in self.nodes:
            node.client_ctx = self.context(self.client)

    def context(self, ident: Identity | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca.path))
        if ident is not None:
            ctx.load_cert_chain(str(ident.cert), str(ident.key))
        return ctx

    def start(self) -> Cluster:
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_healthy()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def wait_for(predicate: Any, timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
