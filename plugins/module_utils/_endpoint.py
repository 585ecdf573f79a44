# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""The one HTTP(S) client of every check: mTLS, keep-alive, timeouts, and error classes instead of exceptions.

``Endpoint(base_url, api_key, agent_id, client_cert, client_key, ca_cert, timeout).request(method, path, body)``
returns a ``Response``; transport failures never raise. ``status`` is None when no HTTP status line arrived, and
``error_class`` then says why:

==================== ===================================================================================
``tls_refused``      the server refused us at the TLS layer: the handshake failed (alert, or the server hung
                     up during it), or, on a fresh connection, it closed or reset the connection after the
                     handshake before any status line (how TLS 1.3 reports a rejected client certificate: the
                     alert arrives at the first read)
``tls_verify_failed`` *we* refused the server: its certificate does not chain to ``ca_cert`` or its SAN does
                     not hold the address used
``connect_refused``  nothing listens (TCP RST on connect)
``unreachable``      no route to the host or network
``dns``              the host name does not resolve
``timeout``          no answer within ``timeout`` (connect, handshake or response)
``reset``            a connection that had served requests was closed or reset before a status line
``protocol``         the server answered something that is not HTTP
``incomplete``       a status line arrived but the body was cut short (``status`` is set)
``error``            anything else (``detail`` says what)
==================== ===================================================================================

``refused_before_request`` is True when the request can certainly not have been processed: the connection
failed before it was sent, or the server answered it with a TLS alert. A write that fails that way certainly did
not happen (Jepsen ``fail``); any other transport failure leaves it unknown (``info``).
"""

from __future__ import annotations

import errno
import http.client
import json
import select
import socket
import ssl
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

ENDPOINT_ARGSPEC: dict[str, dict[str, Any]] = {
    "api_key": {"type": "str", "no_log": True},
    "agent_id": {"type": "str", "default": "ai:swarm-certifier"},
    "client_cert": {"type": "path"},
    "client_key": {"type": "path", "no_log": False},
    "ca_cert": {"type": "path"},
    "timeout": {"type": "float", "default": 10.0},
}
ENDPOINT_OPTIONS = tuple(ENDPOINT_ARGSPEC)
IDEMPOTENT = ("GET", "HEAD", "OPTIONS")
MAX_TEXT = 65536
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


@dataclass
class Response:
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    error_class: str | None = None
    latency_ms: float = 0.0
    detail: str | None = None
    refused_before_request: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __getitem__(self, key: str) -> Any:
        """Read-only mapping access (``resp["status"]``) for callers written against the earlier dict result;
        ``error`` is the earlier name of ``error_class``."""
        if key == "error":
            return self.error_class
        if key in self.__dataclass_fields__:
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


def endpoint_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """The Endpoint keyword arguments from a module's params (the shared doc fragment's options)."""
    return {k: params.get(k) for k in ENDPOINT_OPTIONS if params.get(k) is not None}


def _is_tls_alert(exc: BaseException) -> bool:
    """An SSLError that carries a TLS alert or handshake failure (not a bare EOF)."""
    if not isinstance(exc, ssl.SSLError) or isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return False
    text = f"{getattr(exc, 'reason', '')} {exc}".upper()
    return "ALERT" in text or "HANDSHAKE" in text or "CERTIFICATE" in text


def classify(exc: BaseException, *, tls: bool, connected: bool, fresh: bool) -> tuple[str, bool]:
    """(error class, refused before request) of a transport failure.

    ``connected``: the TCP connection and TLS handshake had completed; ``fresh``: the connection had not yet
    answered any request (a close on a fresh TLS connection is how a refused client certificate looks).
    """
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "tls_verify_failed", True
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout", not connected
    if isinstance(exc, socket.gaierror):
        return "dns", True
    if isinstance(exc, ConnectionRefusedError):
        return "connect_refused", True
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE:
        return "unreachable", True
    closed = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.RemoteDisconnected,
              ssl.SSLEOFError, ssl.SSLZeroReturnError, EOFError)
    if not connected:  # during the TLS handshake
        if tls and isinstance(exc, (ssl.SSLError, *closed)):
            return "tls_refused", True
        return "error", True
    if isinstance(exc, http.client.IncompleteRead):
        return "incomplete", False
    if tls and fresh and isinstance(exc, ssl.SSLError) and _is_tls_alert(exc):
        return "tls_refused", True
    if isinstance(exc, (*closed, ssl.SSLError)) or (isinstance(exc, http.client.BadStatusLine)
                                                    and not str(exc).strip("'\" ")):
        return ("tls_refused" if tls and fresh else "reset"), False
    if isinstance(exc, http.client.HTTPException):
        return "protocol", False
    if isinstance(exc, OSError):
        return "reset", False
    return "error", False


class Endpoint:
    """A keep-alive client of one node. Not thread-safe: one Endpoint per worker thread."""

    def __init__(self, base_url: str, api_key: str | None = None, agent_id: str | None = None,
                 client_cert: str | None = None, client_key: str | None = None, ca_cert: str | None = None,
                 timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.api_key, self.agent_id, self.timeout = api_key, agent_id, float(timeout)
        self.ctx: ssl.SSLContext | None = None
        if self.tls:
            ctx = ssl.create_default_context(cafile=ca_cert) if ca_cert else ssl.create_default_context()
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if client_cert:
                ctx.load_cert_chain(client_cert, client_key)
            self.ctx = ctx
        self._conn: http.client.HTTPConnection | None = None
        self._served = 0  # responses read on the current connection

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._served = 0

    def _usable(self) -> bool:
        """Whether the pooled connection is idle and open (an idle HTTP/1.1 connection must have nothing to read;
        readable means the server closed it)."""
        sock = self._conn.sock if self._conn is not None else None
        if sock is None:
            return False
        try:
            if isinstance(sock, ssl.SSLSocket) and sock.pending():
                return False
            readable = select.select([sock], [], [], 0)[0]
        except (OSError, ValueError):
            return False
        return not readable

    def _open(self) -> http.client.HTTPConnection:
        if self.tls:
            return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Response:
        method = method.upper()
        hdrs = {"Accept": "application/json"}
        if self.api_key:
            hdrs["X-API-Key"] = self.api_key
        if self.agent_id:
            hdrs["X-Agent-Id"] = self.agent_id
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        start = time.monotonic()
        attempts = 2 if method in IDEMPOTENT else 1
        for attempt in range(attempts):
            if self._conn is not None and not self._usable():
                self.close()
            fresh = self._conn is None
            connected = not fresh
            try:
                conn = self._conn
                if conn is None:
                    conn = self._conn = self._open()
                    conn.connect()
                    connected = True
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
            except Exception as exc:  # every transport failure becomes an error class
                self.close()
                cls, refused = classify(exc, tls=self.tls, connected=connected, fresh=fresh)
                if cls == "reset" and attempt + 1 < attempts:
                    continue  # a reused connection the server dropped: an idempotent request goes again
                return Response(None, error_class=cls, latency_ms=_ms(start), detail=f"{type(exc).__name__}: {exc}",
                                refused_before_request=refused)
            headers_out: dict[str, str] = {}
            for name, value in resp.getheaders():
                key = name.lower()
                headers_out[key] = f"{headers_out[key]}, {value}" if key in headers_out else value
            try:
                raw = resp.read()
            except Exception as exc:  # a body cut short
                self.close()
                cls = classify(exc, tls=self.tls, connected=True, fresh=False)[0]
                return Response(resp.status, headers_out, None, "incomplete" if cls != "timeout" else cls,
                                _ms(start), f"{type(exc).__name__}: {exc}")
            self._served += 1
            if resp.will_close:
                self.close()
            return Response(resp.status, headers_out, _parse(raw), None, _ms(start))
        return Response(None, error_class="error", latency_ms=_ms(start), detail="no attempt made")


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw[:MAX_TEXT].decode("utf-8", errors="replace")


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 3)
