"""Graceful stop (SIGINT): in-flight requests finish, idle keep-alive connections never hold the stop."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(port: int, deadline_s: float = 20.0) -> None:
    stop_at = time.monotonic() + deadline_s
    while time.monotonic() < stop_at:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/health")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"no health on port {port} within {deadline_s} s")


def test_sigint_does_not_wait_for_idle_keepalive_connections(binary: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AI_MEMORY_STANDIN_FAULTS": ""}
    grace = 120
    proc = subprocess.Popen([str(binary), "--db", str(tmp_path / "a.db"), "serve", "--port", str(port),
                             "--shutdown-grace-secs", str(grace)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(port)
        idle = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # kept open, like a peer's pool
        idle.request("POST", "/api/v1/memories", body=json.dumps({"title": "t", "content": "c"}),
                     headers={"Content-Type": "application/json", "X-Agent-Id": "ai:test"})
        assert idle.getresponse().read() and True
        proc.send_signal(signal.SIGINT)
        # the grace period is a bound for in-flight requests only: an idle connection must not use it up
        _, stderr = proc.communicate(timeout=grace / 4)
        assert proc.returncode == 0, stderr
        assert "shutdown complete" in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
