"""Drive the real ai-memory and the stand-in with the same requests and reduce each answer to its shape.

A shape keeps what the checks and the roles depend on and drops what legitimately varies between two runs (ids,
times, counts): status codes, header names the contract names, JSON key sets and value types, the spelling of
times (RFC 3339 with "+00:00" and 0/3/6/9 fractional digits), CLI exit codes and whether stdout is one JSON
document. Every daemon and command runs on loopback, in its own scratch HOME, with a deadline.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.(\d+))?(Z|[+-]\d{2}:\d{2})$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEADERS = ("content-type", "retry-after")
AGENT = "ai:differential"


def time_spelling(text: str) -> str:
    match = RFC3339.match(text)
    assert match
    digits = len(match.group(2) or "")
    zone = "Z" if match.group(3) == "Z" else "+hh:mm"
    return f"time({'0/3/6/9' if digits in (0, 3, 6, 9) else digits} digits, {zone})"


def shape(value: Any) -> Any:
    """The type skeleton of a JSON value: dicts keep their keys, lists the union of their items' shapes."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        shapes = []
        for item in value:
            s = shape(item)
            if s not in shapes:
                shapes.append(s)
        return shapes[:1] if len(shapes) <= 1 else ["mixed", *shapes]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    if isinstance(value, str):
        if RFC3339.match(value):
            return time_spelling(value)
        if UUID.match(value):
            return "uuid"
        return "str"
    return type(value).__name__


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths where two shapes differ ("<path>: <a> != <b>", "<path>: only in real/stand-in")."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else key
            if key not in b:
                out.append(f"{sub}: only in real")
            elif key not in a:
                out.append(f"{sub}: only in stand-in")
            else:
                out += differences(a[key], b[key], sub)
        return out
    if isinstance(a, list) and isinstance(b, list) and a and b and a[0] != "mixed" and b[0] != "mixed":
        return differences(a[0], b[0], f"{path}[]")
    if isinstance(a, list) and isinstance(b, list) and (not a or not b):
        return []  # an empty list has no item shape to compare
    return [] if a == b else [f"{path}: {json.dumps(a)} != {json.dumps(b)}"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any

    def shape(self) -> dict[str, Any]:
        return {"status": self.status, "headers": sorted(h for h in self.headers if h in HEADERS),
                "body": shape(self.body)}


@dataclass
class Binary:
    """One binary (real or stand-in) with a scratch HOME; daemons it starts are stopped by ``stop``."""

    path: Path
    home: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home), "AI_MEMORY_NO_CONFIG": "1",
               "NO_COLOR": "1", "RUST_LOG": "ai_memory=warn"}
        env.update(extra)
        return env

    def cli(self, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.path), *args], cwd=self.home, env=self.env(), input=stdin,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def serve(self, db: str | None, *extra: str, env: dict[str, str] | None = None) -> Daemon:
        """A daemon on a SQLite file of the scratch HOME, or (db None) on the store ``extra`` names (--store-url)."""
        port = free_port()
        log = open(self.home / f"serve-{port}.log", "wb")
        store = ["--db", str(self.home / db)] if db is not None else []
        proc = subprocess.Popen([str(self.path), *store, "serve", "--host", "127.0.0.1", "--port", str(port),
                                 *extra], cwd=self.home, env=self.env(**(env or {})),
                                stdout=log, stderr=log, start_new_session=True)
        log.close()
        self.procs.append(proc)
        daemon = Daemon(port, proc, self.home / f"serve-{port}.log")
        daemon.wait_healthy()
        return daemon

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)


@dataclass
class Daemon:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def wait_healthy(self, deadline_s: float = 30) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if self.request("GET", "/api/v1/health").status in (200, 503):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"daemon did not answer within {deadline_s} s: {self.log.read_text()[-2000:]}")

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            data = json.dumps(body).encode() if body is not None else None
            hdrs = {"X-Agent-Id": AGENT, **({"Content-Type": "application/json"} if data is not None else {}),
                    **(headers or {})}
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                parsed: Any = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode("utf-8", "replace")[:200]
            return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed)
        finally:
            conn.close()
