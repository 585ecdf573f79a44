# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Wait for SSH on several hosts at once, with one monotonic deadline for all of them.

Each host has its own thread that repeats, until the host is ready or the deadline passes: a TCP connect to the
SSH port and a read of the SSH banner (each bounded by ``connect_timeout`` and by what is left of the deadline),
then, when a command is given, ``ssh`` with the pinned host keys running it (bounded by what is left). Every
failure is classified, so the caller can say per host why it did not answer: ``refused`` (a reset: nothing
listens, or a firewall rejects), ``timed_out`` (no answer at all: packets dropped), ``unreachable``,
``no_banner``, ``host_key_mismatch``, ``auth_refused``, ``command_failed``, ``not_ready`` (the command was still
running at the deadline), ``ssh_error``, or ``pending`` (never tried).
"""

from __future__ import annotations

import errno
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._process import run

REASONS = {
    "refused": "connection refused (nothing listens on the port, or a firewall rejects it)",
    "timed_out": "no answer (packets are dropped, e.g. by a firewall that does not admit this controller)",
    "unreachable": "no route to the address",
    "no_banner": "TCP connected, but no SSH banner came",
    "host_key_mismatch": "the host key does not match the pinned one",
    "auth_refused": "the SSH key was refused",
    "command_failed": "logged in, but the readiness command failed",
    "not_ready": "logged in, but the readiness command had not finished at the deadline",
    "ssh_error": "ssh failed",
    "pending": "not tried before the deadline",
}
HOST_KEY_MARKERS = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED",
                    "host key is known for", "Host key for")
UNREACHABLE_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
BANNER_MAX = 255


@dataclass
class SshSpec:
    port: int = 22
    user: str = "root"
    private_key: str | None = None
    known_hosts: str | None = None
    command: str | None = None
    connect_timeout: float = 10.0
    poll_interval: float = 5.0


@dataclass
class HostState:
    name: str
    address: str
    port: int = 22
    ready: bool = False
    reason: str = "pending"
    detail: str = ""
    attempts: int = 0
    seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "port": self.port, "ready": self.ready,
                "reason": None if self.ready else self.reason, "detail": self.detail, "attempts": self.attempts,
                "seconds": None if self.seconds is None else round(self.seconds, 3)}


@dataclass
class Deadline:
    at: float
    clock: Callable[[], float] = field(default=time.monotonic)

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock())


def probe(address: str, port: int, timeout: float) -> tuple[str | None, str]:
    """(None, banner) when an SSH server answered, else (reason, detail)."""
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except ConnectionRefusedError:
        return "refused", f"TCP port {port} answered with a reset"
    except TimeoutError:
        return "timed_out", f"no answer to a TCP connect to port {port} within {timeout:.1f} s"
    except OSError as exc:
        if exc.errno in UNREACHABLE_ERRNOS:
            return "unreachable", exc.strerror or str(exc)
        return "ssh_error", f"TCP connect to port {port}: {exc}"
    try:
        sock.settimeout(timeout)
        banner = b""
        while b"\n" not in banner and len(banner) < BANNER_MAX:
            chunk = sock.recv(BANNER_MAX)
            if not chunk:
                break
            banner += chunk
    except TimeoutError:
        return "no_banner", f"port {port} accepted the connection but sent no SSH banner within {timeout:.1f} s"
    except OSError as exc:
        return "no_banner", f"port {port} accepted the connection, then: {exc}"
    finally:
        sock.close()
    if not banner.startswith(b"SSH-"):
        shown = banner[:40].decode(errors="replace").strip() or "nothing"
        return "no_banner", f"port {port} answered {shown!r}, not an SSH banner"
    return None, banner.split(b"\n", 1)[0].decode(errors="replace").strip()


def classify_ssh(rc: int, stderr: str) -> tuple[str, str]:
    """The reason an ``ssh`` run failed, from its exit status (255 = ssh itself) and its stderr."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.strip().startswith("@")]
    tail = "; ".join(lines[-3:])[-300:]
    if rc != 255:
        return "command_failed", f"the readiness command exited {rc}" + (f": {tail}" if tail else "")
    if any(marker in stderr for marker in HOST_KEY_MARKERS):
        return "host_key_mismatch", tail or "host key verification failed"
    if "Permission denied" in stderr:
        return "auth_refused", tail
    if "Connection refused" in stderr:
        return "refused", tail
    if "timed out" in stderr:
        return "timed_out", tail
    if "No route to host" in stderr or "Network is unreachable" in stderr:
        return "unreachable", tail
    return "ssh_error", tail or "ssh exited 255"


def ssh_argv(spec: SshSpec, address: str, connect_timeout: float, port: int | None = None) -> list[str]:
    argv = ["ssh", "-p", str(port or spec.port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes", "-o", f"ConnectTimeout={max(1, math.ceil(connect_timeout))}"]
    if spec.private_key:
        argv += ["-i", spec.private_key]
    if spec.known_hosts:
        argv += ["-o", f"UserKnownHostsFile={spec.known_hosts}"]
    return [*argv, f"{spec.user}@{address}", spec.command or "true"]


def run_ssh(argv: list[str], timeout: float) -> tuple[str | None, str]:
    """(None, '') when the command succeeded, else (reason, detail)."""
    done = run(argv, timeout=max(timeout, 0.05))
    if done.timed_out:
        return "not_ready", f"the readiness command was still running when the deadline came ({timeout:.1f} s left)"
    if done.rc == 127 and done.stderr.startswith("cannot start"):
        return "ssh_error", f"cannot run ssh: {done.stderr}"
    return (None, "") if done.rc == 0 else classify_ssh(int(done.rc or 1), done.stderr or "")


def wait_host(state: HostState, spec: SshSpec, deadline: Deadline, stop: threading.Event,
              runner: Callable[[list[str], float], tuple[str | None, str]] = run_ssh) -> None:
    started = deadline.clock()
    while not stop.is_set():
        left = deadline.remaining()
        if left <= 0.05:
            return
        state.attempts += 1
        reason, detail = probe(state.address, state.port, min(spec.connect_timeout, left))
        if reason is None and spec.command is not None:
            left = deadline.remaining()
            argv = ssh_argv(spec, state.address, min(spec.connect_timeout, left), state.port)
            reason, detail = runner(argv, left) if left > 0.05 else ("pending", "the deadline came before ssh ran")
        if reason is None:
            state.ready, state.reason, state.detail = True, "", ""
            state.seconds = deadline.clock() - started
            return
        state.reason, state.detail = reason, detail
        stop.wait(min(spec.poll_interval, deadline.remaining()))


def wait_all(hosts: list[dict[str, str]], spec: SshSpec, timeout: float,
             runner: Callable[[list[str], float], tuple[str | None, str]] = run_ssh) -> list[HostState]:
    """Every host waited on at once; returns when all are ready or the deadline has passed."""
    deadline = Deadline(time.monotonic() + timeout)
    states = [HostState(str(h["name"]), str(h["address"]), int(h.get("port") or spec.port)) for h in hosts]
    stop = threading.Event()
    threads = [threading.Thread(target=wait_host, args=(s, spec, deadline, stop, runner), daemon=True)
               for s in states]
    for thread in threads:
        thread.start()
    grace = deadline.at + 5  # each thread ends by the deadline (every connect and ssh is bounded by what is left)
    for thread in threads:
        thread.join(timeout=max(0.0, grace - time.monotonic()))
    stop.set()
    return states


def failure_message(states: list[HostState], timeout: float, hints: dict[str, str] | None = None) -> str:
    waiting = [s for s in states if not s.ready]
    parts = []
    for state in waiting:
        why = state.detail or REASONS[state.reason]
        text = f"{state.name} {state.address}: {state.reason.replace('_', ' ')} ({why})"
        hint = (hints or {}).get(state.reason)
        parts.append(text + (f" - {hint}" if hint else ""))
    return (f"{len(waiting)} of {len(states)} hosts did not answer SSH within {timeout:g} s: " + "; ".join(parts))
