# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""The one HTTP(S) client of every check: mTLS, keep-alive, timeouts, and error classes instead of exceptions.

Built on ``httpx`` (a module requirement: modules that use it fail with ``missing_required_lib('httpx')`` when
``HAS_HTTPX`` is false): one ``httpx.Client`` per endpoint holding one keep-alive connection, TLS from an
``ssl.SSLContext`` built from the PEM files, every timeout (connect, read, write, pool) = ``timeout``, no retry in
the transport, no proxy or certificate from the environment.

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
``protocol``         the server answered something that is not HTTP (seen once it ends a header block or hangs
                     up; a non-HTTP line left hanging is a ``timeout``, and over plain HTTP a non-HTTP line
                     followed by a hang-up reads as ``reset``: only the TLS socket counts the answer's bytes)
``incomplete``       a status line arrived but the body was cut short (``status`` is set)
``error``            anything else (``detail`` says what)
==================== ===================================================================================

``refused_before_request`` is True when the request can certainly not have been processed: the connection
failed before it was sent, or the server answered it with a TLS alert. A write that fails that way certainly did
not happen (Jepsen ``fail``); any other transport failure leaves it unknown (``info``).

The one retry is explicit and narrow: an idempotent request (``GET``, ``HEAD``, ``OPTIONS``) whose kept-alive
connection turns out to be dropped (``reset``) is sent once more on a new connection. Nothing else is ever resent.

Agent attestation (``_attest.py``): with ``agent_keys`` (agent id -> Ed25519 private key file) and a
``signature_scheme``, every request goes through the keyring at the one place it is sent: a memory created as an
agent with a key (the ``X-Agent-Id`` of the request) is signed as the release specifies, any other request is sent
as is. ``Response.attestation`` says what happened (signed or not, the key id, never the key); ``None`` for a
request that is not an attested write or an endpoint without keys.
"""

from __future__ import annotations

import errno
import json
import socket
import ssl
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ansible_collections.aimemory.swarm.plugins.module_utils import _attest
from ansible_collections.aimemory.swarm.plugins.module_utils._attest import SCHEMES, Keyring

# the modules check these when asked to sign (missing_required_lib('cryptography'))
HAS_CRYPTOGRAPHY = _attest.HAS_CRYPTOGRAPHY
CRYPTOGRAPHY_IMPORT_ERROR = _attest.CRYPTOGRAPHY_IMPORT_ERROR

HTTPX_IMPORT_ERROR: str | None = None
try:
    import h11
    import httpx
except ImportError:  # the module says so with missing_required_lib('httpx')
    HTTPX_IMPORT_ERROR = traceback.format_exc()
    HAS_HTTPX = False
else:
    HAS_HTTPX = True

ENDPOINT_ARGSPEC: dict[str, dict[str, Any]] = {
    "api_key": {"type": "str", "no_log": True},
    "agent_id": {"type": "str", "default": "ai:swarm-certifier"},
    "client_cert": {"type": "path"},
    "client_key": {"type": "path", "no_log": False},
    "ca_cert": {"type": "path"},
    "timeout": {"type": "float", "default": 10.0},
    "agent_keys": {"type": "dict", "no_log": False},  # agent id -> path of its key file (the key is never read here)
    "signature_scheme": {"type": "str", "choices": list(SCHEMES)},
}
ENDPOINT_OPTIONS = tuple(ENDPOINT_ARGSPEC)
IDEMPOTENT = ("GET", "HEAD", "OPTIONS")
MAX_TEXT = 65536
MAX_URLS = 64  # parsed request URLs kept per endpoint (httpx parses a URL string in pure Python, on every request)
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
_CLOSED = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError,
           EOFError)


@dataclass
class Response:
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    error_class: str | None = None
    latency_ms: float = 0.0
    detail: str | None = None
    refused_before_request: bool = False
    attestation: dict[str, Any] | None = None

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


_KEYRINGS: dict[tuple[str, tuple[tuple[str, str], ...]], Keyring] = {}


def keyring(agent_keys: dict[str, str] | None, scheme: str | None) -> Keyring | None:
    """The keyring of these keys (loaded once per process: every worker's endpoints share it), None without keys."""
    if not agent_keys or not scheme:
        return None
    key = (scheme, tuple(sorted((str(a), str(p)) for a, p in agent_keys.items())))
    if key not in _KEYRINGS:
        _KEYRINGS[key] = Keyring(dict(key[1]), scheme)
    return _KEYRINGS[key]


def _is_tls_alert(exc: BaseException) -> bool:
    """An SSLError that carries a TLS alert or handshake failure (not a bare EOF)."""
    if not isinstance(exc, ssl.SSLError) or isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return False
    text = f"{getattr(exc, 'reason', '')} {exc}".upper()
    return "ALERT" in text or "HANDSHAKE" in text or "CERTIFICATE" in text


def _root(exc: BaseException) -> BaseException:
    """The exception underneath: httpx raises its own ``from`` httpcore's, which carries the socket's, ssl's or h11's
    as its argument (httpcore's pool re-raises ``from None``, so the argument, not ``__cause__``, is the link)."""
    seen = {id(exc)}
    while True:
        inner = exc.__cause__
        if inner is None and exc.args and isinstance(exc.args[0], BaseException):
            inner = exc.args[0]
        if inner is None or id(inner) in seen:
            return exc
        exc = inner
        seen.add(id(exc))


def classify(exc: BaseException, *, tls: bool, connected: bool, fresh: bool,
             answered: bool = False) -> tuple[str, bool]:
    """(error class, refused before request) of a transport failure: an httpx exception, or the socket, ssl or
    OS exception underneath one.

    ``connected``: the TCP connection and TLS handshake had completed; ``fresh``: the connection had not yet
    answered any request (a close on a fresh TLS connection is how a refused client certificate looks);
    ``answered``: bytes of an answer had arrived (a hang-up after them is ``protocol``, not a close).
    """
    if HAS_HTTPX and isinstance(exc, httpx.HTTPError):
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            connected = False
        if isinstance(exc, httpx.TimeoutException):  # connect (handshake included), read, write or pool
            return "timeout", not connected or isinstance(exc, httpx.PoolTimeout)
        root = _root(exc)
        if isinstance(exc, httpx.RemoteProtocolError):
            if isinstance(root, h11.RemoteProtocolError):
                return "protocol", False  # an answer h11 cannot parse as HTTP
            # httpcore: "Server disconnected without sending a response." (EOF before a full status line); h11
            # keeps a partial answer to itself, so whether bytes came is the socket's count (``answered``)
            if answered:
                return "protocol", False
            return ("tls_refused" if tls and fresh else "reset"), False
        if root is exc or not isinstance(root, OSError):
            return "error", not connected
        exc = root
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
    if not connected:  # during the TLS handshake
        if tls and isinstance(exc, (ssl.SSLError, *_CLOSED)):
            return "tls_refused", True
        return "error", True
    if tls and fresh and _is_tls_alert(exc):
        return "tls_refused", True
    if isinstance(exc, (*_CLOSED, ssl.SSLError)):
        return ("tls_refused" if tls and fresh else "reset"), False
    if isinstance(exc, OSError):
        return "reset", False
    return "error", False


class _Connection:
    """What the TLS socket under the endpoint's keep-alive connection saw: which socket the last request went out on
    (a request that went out on another socket than the one before it opened a new, fresh, connection) and how many
    bytes of answer came since the request began (a non-HTTP line followed by a hang-up is not a silent hang-up)."""

    __slots__ = ("answered", "sock")

    def __init__(self) -> None:
        self.sock: ssl.SSLSocket | None = None
        self.answered = 0


def _socket_class(conn: _Connection) -> type[ssl.SSLSocket]:
    """The ``SSLContext.sslsocket_class`` of one endpoint: an ``SSLSocket`` that reports to ``conn``."""

    class _ReportingSSLSocket(ssl.SSLSocket):
        def send(self, data: Any, flags: int = 0) -> int:
            if conn.sock is not self:
                conn.sock, conn.answered = self, 0
            return super().send(data, flags)

        def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
            data = super().recv(buflen, flags)
            if conn.sock is self:
                conn.answered += len(data)
            return data

    return _ReportingSSLSocket


class Endpoint:
    """A keep-alive client of one node. Not thread-safe: one Endpoint per worker thread."""

    def __init__(self, base_url: str, api_key: str | None = None, agent_id: str | None = None,
                 client_cert: str | None = None, client_key: str | None = None, ca_cert: str | None = None,
                 timeout: float = 10.0, agent_keys: dict[str, str] | None = None,
                 signature_scheme: str | None = None) -> None:
        if not HAS_HTTPX:
            raise ImportError(f"the endpoint client needs the Python library httpx: {HTTPX_IMPORT_ERROR}")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.origin = f"{parts.scheme}://{parts.netloc}"  # requests go to origin + path, as before
        self.api_key, self.agent_id, self.timeout = api_key, agent_id, float(timeout)
        self.ctx: ssl.SSLContext | None = None
        if self.tls:
            ctx = ssl.create_default_context(cafile=ca_cert) if ca_cert else ssl.create_default_context()
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if client_cert:
                ctx.load_cert_chain(client_cert, client_key)
            self.ctx = ctx
        self._conn = _Connection()
        if self.ctx is not None:
            self.ctx.sslsocket_class = _socket_class(self._conn)
        self._client: httpx.Client | None = None
        self._urls: dict[str, httpx.URL] = {}
        self.signer = keyring(agent_keys, signature_scheme)

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; a later request opens a new one."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._conn.sock = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            transport = httpx.HTTPTransport(
                verify=self.ctx if self.ctx is not None else False, http1=True, http2=False, retries=0,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=None))
            # The headers of every request, set once (the client merges them into each request). Accept-Encoding
            # identity: bodies as sent; no User-Agent or Connection: the same request as the stdlib client sent.
            fixed = {"Accept": "application/json", "Accept-Encoding": "identity"}
            if self.api_key:
                fixed["X-API-Key"] = self.api_key
            if self.agent_id:
                fixed["X-Agent-Id"] = self.agent_id
            client = httpx.Client(transport=transport, timeout=httpx.Timeout(self.timeout), headers=fixed,
                                  follow_redirects=False, trust_env=False)
            for default in ("User-Agent", "Connection"):
                client.headers.pop(default, None)
            self._client = client
        return self._client

    def _url(self, path: str) -> httpx.URL:
        url = self._urls.get(path)
        if url is None:
            url = httpx.URL(self.origin + path)
            if len(self._urls) < MAX_URLS:
                self._urls[path] = url
        return url

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Response:
        method = method.upper()
        hdrs: dict[str, str] = {}
        data = None
        attestation = None
        if self.signer is not None and body is not None and not isinstance(body, bytes):
            agent = (headers or {}).get("X-Agent-Id") or self.agent_id
            body, extra, attestation = self.signer.sign(method, path, body, agent)
            hdrs.update(extra)
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        start = time.monotonic()
        attempts = 2 if method in IDEMPOTENT else 1
        for attempt in range(attempts):
            kept = self._conn.sock  # the connection's socket before this request (TLS; None for plain HTTP)
            self._conn.answered = 0
            try:
                client = self._http()
                req = client.build_request(method, self._url(path), content=data, headers=hdrs or None)
                resp = client.send(req, stream=True)
            except Exception as exc:  # every transport failure becomes an error class
                fresh = self._conn.sock is not kept
                cls, refused = classify(exc, tls=self.tls, connected=True, fresh=fresh,
                                        answered=self._conn.answered > 0)
                if cls == "reset" and attempt + 1 < attempts:
                    continue  # a reused connection the server dropped: an idempotent request goes again
                return Response(None, error_class=cls, latency_ms=_ms(start), detail=_detail(exc),
                                refused_before_request=refused, attestation=attestation)
            headers_out: dict[str, str] = {}
            for key, value in resp.headers.multi_items():  # names lower-cased
                headers_out[key] = f"{headers_out[key]}, {value}" if key in headers_out else value
            try:
                raw = resp.read()
            except Exception as exc:  # a body cut short
                cls = classify(exc, tls=self.tls, connected=True, fresh=False)[0]
                return Response(resp.status_code, headers_out, None, "incomplete" if cls != "timeout" else cls,
                                _ms(start), _detail(exc), attestation=attestation)
            finally:
                resp.close()
            return Response(resp.status_code, headers_out, _parse(raw), None, _ms(start), attestation=attestation)
        return Response(None, error_class="error", latency_ms=_ms(start), detail="no attempt made",
                        attestation=attestation)


def _detail(exc: BaseException) -> str:
    """What failed: the httpx exception and, when it wraps one, the socket/ssl/h11 exception underneath."""
    text = f"{type(exc).__name__}: {exc}"
    root = _root(exc)
    if root is not exc and str(root) not in text:
        text += f" ({type(root).__name__}: {root})"
    return text


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw[:MAX_TEXT].decode("utf-8", errors="replace")


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 3)
