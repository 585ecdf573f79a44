# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""One HTTP(S) client for every check: mTLS, keep-alive, timeouts, and error classes instead of exceptions."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

ENDPOINT_ARGSPEC: dict[str, dict[str, Any]] = {
    "api_key": {"type": "str", "no_log": True},
    "agent_id": {"type": "str", "default": "ai:swarm-certifier"},
    "ca_cert": {"type": "path"},
    "client_cert": {"type": "path"},
    "client_key": {"type": "path"},
    "timeout": {"type": "float", "default": 10.0},
}


def classify(exc: BaseException, tls: bool) -> str:
    """Map a transport failure to a class. A TLS peer that closes before any status line refused us."""
    if isinstance(exc, ssl.SSLError):
        return "tls_refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connect_refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected,
                        http.client.BadStatusLine, EOFError)):
        return "tls_refused" if tls else "reset"
    if isinstance(exc, OSError) and exc.errno in (113, 101):  # host or network unreachable
        return "unreachable"
    return "error"


class Endpoint:
    def __init__(self, url: str, *, api_key: str | None = None, agent_id: str | None = None,
                 ca_cert: str | None = None, client_cert: str | None = None, client_key: str | None = None,
                 timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self.url = url.rstrip("/")
        self.host = parts.hostname or ""
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.api_key, self.agent_id, self.timeout = api_key, agent_id, timeout
        self.ctx: ssl.SSLContext | None = None
        if self.tls:
            self.ctx = ssl.create_default_context(cafile=ca_cert) if ca_cert else ssl.create_default_context()
            if client_cert and client_key:
                self.ctx.load_cert_chain(client_cert, client_key)
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self.tls:
            return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                fresh: bool = False) -> dict[str, Any]:
        """Returns {status, headers, body, error, latency_ms}; status is None when no HTTP answer came."""
        hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            hdrs["X-API-Key"] = self.api_key
        if self.agent_id:
            hdrs["X-Agent-Id"] = self.agent_id
        hdrs.update(headers or {})
        data = None if body is None else json.dumps(body).encode()
        if fresh:
            self.close()
        start = time.monotonic()
        for attempt in range(2):
            reused = self._conn is not None
            conn = self._conn or self._connect()
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                raw = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._conn = None
                if reused and attempt == 0 and not isinstance(exc, (socket.timeout, TimeoutError)):
                    continue  # a stale keep-alive connection: retry once on a new one
                return {"status": None, "headers": {}, "body": None, "error": classify(exc, self.tls),
                        "detail": f"{type(exc).__name__}: {exc}", "latency_ms": _ms(start)}
            self._conn = None if resp.will_close else conn
            try:
                parsed: Any = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode(errors="replace")[:2000]
            return {"status": resp.status, "headers": {k.lower(): v for k, v in resp.getheaders()},
                    "body": parsed, "error": None, "latency_ms": _ms(start)}
        raise AssertionError("unreachable")


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 3)
