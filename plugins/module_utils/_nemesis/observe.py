# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Observing that a fault took effect, from the network: a TCP connection attempt and what became of it.

A fault recorded in a history must carry an observation that it took effect (``observed``, judged by
``_checker/ops.py``): a stopped node *refuses* a connection (its host answers with a reset: nothing listens), a
partition *blocks* one (no answer at all, or the local firewall refuses to send), a reachable peer *answers*
(connects, or refuses: either way a packet came back). Every attempt has a timeout and every wait a deadline.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

OUTCOMES = ("connected", "refused", "blocked", "error")
_BLOCKED_ERRNOS = {errno.EPERM, errno.EACCES, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT}


def tcp_outcome(host: str, port: int, timeout: float) -> dict[str, Any]:
    """One TCP connection attempt: ``{to, outcome, elapsed_ms, detail}``. ``connected`` (closed at once),
    ``refused`` (a reset came back: the host is there, nothing listens), ``blocked`` (no answer within the timeout,
    or the kernel would not send: a firewall, no route), ``error`` (anything else)."""
    start = time.monotonic()
    detail = None
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            outcome = "connected"
    except ConnectionRefusedError:
        outcome = "refused"
    except (socket.timeout, TimeoutError):  # noqa: UP041 (distinct before Python 3.10, which hosts may run)
        outcome, detail = "blocked", f"no answer within {timeout:g} s"
    except OSError as exc:
        outcome = "blocked" if exc.errno in _BLOCKED_ERRNOS else "error"
        detail = f"{type(exc).__name__}: {exc}"
    return {"to": f"{host}:{int(port)}", "outcome": outcome, "elapsed_ms": round((time.monotonic() - start) * 1000, 1),
            "detail": detail}


def each(targets: list[dict[str, Any]], probe: Callable[[dict[str, Any]], dict[str, Any]]) -> list[dict[str, Any]]:
    """``probe`` on every target at once (one thread each: a blocked target costs its timeout once, not N times)."""
    results: list[dict[str, Any]] = [{} for target in targets]

    def run(i: int) -> None:
        results[i] = probe(targets[i])

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(targets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def target_of(item: dict[str, Any], default_port: int) -> dict[str, Any]:
    """``{name, host, port}`` from ``{name, url}`` or ``{name, host[, port]}``."""
    if item.get("url"):
        parts = urlsplit(str(item["url"]))
        if not parts.hostname:
            raise ValueError(f"not a URL with a host: {item['url']!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return {"name": str(item.get("name") or parts.hostname), "host": parts.hostname, "port": port}
    if not item.get("host"):
        raise ValueError(f"a target needs a url or a host: {item!r}")
    return {"name": str(item.get("name") or item["host"]), "host": str(item["host"]),
            "port": int(item.get("port") or default_port)}


def wait_for(targets: list[dict[str, Any]], expect: str, deadline_s: float, timeout: float = 2.0,
             interval: float = 0.2) -> dict[str, Any]:
    """Probe ``targets`` until every one shows ``expect`` (``refused``, ``blocked`` or ``connected``) or the
    deadline passes. The observation: ``{<expect>: bool, nodes: [names that showed it], probes: [last attempt per
    target, with its name and the attempts made], method}``."""
    if expect not in OUTCOMES[:3]:
        raise ValueError(f"expect must be one of {list(OUTCOMES[:3])}, got {expect!r}")
    stop_at = time.monotonic() + deadline_s
    last: dict[str, dict[str, Any]] = {}
    attempts = {t["name"]: 0 for t in targets}
    pending = list(targets)
    while True:
        found = each(pending, lambda t: tcp_outcome(t["host"], t["port"], timeout))
        for i, t in enumerate(pending):
            attempts[t["name"]] += 1
            last[t["name"]] = {"node": t["name"], **found[i]}
        pending = [t for t in pending if last[t["name"]]["outcome"] != expect]
        if not pending or time.monotonic() >= stop_at:
            break
        time.sleep(min(interval, max(0.0, stop_at - time.monotonic())))
    probes = [{**last[t["name"]], "attempts": attempts[t["name"]]} for t in targets]
    shown = [p["node"] for p in probes if p["outcome"] == expect]
    return {expect: bool(targets) and len(shown) == len(targets), "nodes": shown, "probes": probes,
            "method": f"tcp connect, {timeout:g} s per attempt, until {deadline_s:g} s"}
