"""Every error class of the endpoint client, each against a real server on 127.0.0.1 built to fail one way.

The servers speak raw sockets (and TLS through ``ssl`` where the case needs it) so that each failure is
deterministic: the refusing TLS 1.3 server keeps the TCP connection open after its alert, so what the client reads
is the alert and never a reset racing it; the server that resets does so only after it has read the request on a
connection that already served one. These tests pin the meaning of each class, whatever the transport underneath.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import Endpoint, Response

from tests.unit.plugins.module_utils.fakes import AGENT, API_KEY, PKI

Handler = Callable[[socket.socket, "Loopback"], None]
DEADLINE_S = 10.0  # no server thread waits longer than this for its client

OK_BODY = b'{"status":"ok"}'
OK = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(OK_BODY)) + OK_BODY
CREATED_BODY = b'{"id":"m1"}'
CREATED = (b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
           % len(CREATED_BODY)) + CREATED_BODY


class Loopback:
    """A TCP server on 127.0.0.1 that runs ``handler`` on each accepted connection in its own thread; ``tls`` is the
    server context the handler may use. Counts connections and the HTTP requests the handlers read."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler, self.tls = handler, tls
        self.connections = 0
        self.requests: list[bytes] = []
        self.errors: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self._listener.accept()[0]
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.settimeout(DEADLINE_S)
            thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.handler(conn, self)
        except Exception as exc:  # a handler that breaks is reported by stop(), not swallowed
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._accepter.join(DEADLINE_S)
        self._listener.close()
        for thread in self._threads:
            thread.join(DEADLINE_S)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def serve() -> Iterator[Callable[..., Loopback]]:
    started: list[Loopback] = []

    def start(handler: Handler, tls: ssl.SSLContext | None = None) -> Loopback:
        srv = Loopback(handler, tls)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()
    assert not [e for srv in started for e in srv.errors]


def tls13_server(pki: PKI) -> ssl.SSLContext:
    """Our server leaf, client certificates of our CA required, TLS 1.3 only (the client's refusal arrives late)."""
    ctx = pki.server_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def endpoint(pki: PKI, url: str, ident: str | None = "client", timeout: float = 3.0) -> Endpoint:
    args: dict[str, object] = {"api_key": API_KEY, "agent_id": AGENT, "ca_cert": pki.ca.path, "timeout": timeout}
    who = getattr(pki, ident) if ident else None
    if who is not None:
        args.update(client_cert=who.cert, client_key=who.key)
    return Endpoint(url, **args)  # type: ignore[arg-type]


# ------------------------------------------------------------------ server building blocks


def drain(sock: socket.socket) -> None:
    """Read and drop whatever the client sends until it hangs up (or the deadline), so closing sends no RST."""
    deadline = time.monotonic() + DEADLINE_S
    with contextlib.suppress(OSError):
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            if not sock.recv(65536):
                return


def handshake(conn: socket.socket, srv: Loopback) -> ssl.SSLSocket | None:
    """The server side of the TLS handshake; on failure (the server sent its alert) the TCP connection stays open
    through a duplicate descriptor until the client hangs up, so the client reads the alert, not a reset."""
    assert srv.tls is not None
    keep = conn.dup()
    try:
        tls = srv.tls.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError):
        drain(keep)
        keep.close()
        return None
    keep.close()
    return tls


def read_request(sock: socket.socket, srv: Loopback) -> bool:
    """Read one HTTP request (headers and a Content-Length body); False when the client hung up first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        body += chunk
    srv.requests.append(head.split(b"\r\n")[0])
    return True


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def over_tls(body: Callable[[socket.socket, Loopback], None]) -> Handler:
    """A handler that runs ``body`` on the TLS connection once the handshake succeeded."""

    def handler(conn: socket.socket, srv: Loopback) -> None:
        tls = handshake(conn, srv)
        if tls is not None:
            try:
                body(tls, srv)
            finally:
                with contextlib.suppress(OSError):
                    tls.close()

    return handler


def served_then(fail: Callable[[socket.socket], None]) -> Callable[[socket.socket, Loopback], None]:
    """Answer the first request with 201 (keep-alive), read the second one, then ``fail`` the connection."""

    def body(sock: socket.socket, srv: Loopback) -> None:
        if not read_request(sock, srv):
            return
        sock.sendall(CREATED)
        if read_request(sock, srv):
            fail(sock)

    return body


def after_request(answer: bytes) -> Callable[[socket.socket, Loopback], None]:
    """Read the request, send ``answer`` and hang up."""

    def body(sock: socket.socket, srv: Loopback) -> None:
        if read_request(sock, srv):
            sock.sendall(answer)

    return body


def no_status(resp: Response, error_class: str, refused: bool) -> None:
    assert (resp.status, resp.error_class, resp.refused_before_request) == (None, error_class, refused), resp
    assert resp.body is None and resp.detail


# ------------------------------------------------------------------ the classes


@pytest.mark.parametrize("ident", ["rogue", None], ids=["rogue-ca-leaf", "no-certificate"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_tls13_client_certificate_alert_at_first_read_is_tls_refused_before_request(
        pki: PKI, serve: Callable[..., Loopback], ident: str | None, method: str) -> None:
    """TLS 1.3: the client's handshake is over before the server judges its certificate, so the server's alert
    (unknown CA, certificate required) is what the first read of the response returns. The request certainly never
    reached the application: ``tls_refused`` and ``refused_before_request``, for a write as for a read."""
    srv = serve(over_tls(after_request(OK)), tls13_server(pki))
    with endpoint(pki, srv.url, ident) as c:
        resp = c.request(method, "/api/v1/memories", {"title": "t"} if method == "POST" else None)
    no_status(resp, "tls_refused", True)
    assert "alert" in str(resp.detail).lower(), resp.detail
    assert srv.requests == [] and srv.connections == 1  # one attempt: a refusal is not retried


def test_a_closed_fresh_tls_connection_is_tls_refused_but_maybe_processed(
        pki: PKI, serve: Callable[..., Loopback]) -> None:
    """An allowlist refusal (handshake accepted, then hung up before any HTTP is read) is ``tls_refused`` on a fresh
    connection; without an alert it is not certain the request was unread, so not ``refused_before_request``."""

    def body(sock: socket.socket, srv: Loopback) -> None:
        sock.shutdown(socket.SHUT_WR)  # FIN after the handshake; keep reading so closing sends no RST
        drain(sock)

    srv = serve(over_tls(body), pki.server_context())
    with endpoint(pki, srv.url) as c:
        resp = c.request("POST", "/api/v1/memories", {"title": "t"})
    no_status(resp, "tls_refused", False)


def test_an_untrusted_server_certificate_is_tls_verify_failed(pki: PKI, serve: Callable[..., Loopback]) -> None:
    rogue_server = pki.rogue_ca.issue("rogue-server", client=False)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(rogue_server.cert, rogue_server.key)
    srv = serve(over_tls(after_request(OK)), ctx)
    with endpoint(pki, srv.url) as c:
        resp = c.request("POST", "/api/v1/memories", {"title": "t"})
    no_status(resp, "tls_verify_failed", True)
    assert srv.requests == []


def test_a_closed_port_is_connect_refused(pki: PKI) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: the kernel answers a SYN with RST
        with endpoint(pki, f"https://127.0.0.1:{port}") as c:
            resp = c.request("POST", "/api/v1/memories", {"title": "t"})
    no_status(resp, "connect_refused", True)


def test_a_server_that_hangs_after_the_request_is_a_timeout(pki: PKI, serve: Callable[..., Loopback]) -> None:
    def body(sock: socket.socket, srv: Loopback) -> None:
        if read_request(sock, srv):
            drain(sock)  # never answers; returns when the client gives up

    srv = serve(over_tls(body), pki.server_context())
    with endpoint(pki, srv.url, timeout=0.4) as c:
        start = time.monotonic()
        resp = c.request("POST", "/api/v1/memories", {"title": "t"})
        elapsed = time.monotonic() - start
    no_status(resp, "timeout", False)  # the request was sent: it may have been processed
    assert 0.35 <= elapsed < 2.0, elapsed
    assert len(srv.requests) == 1


def test_a_server_that_hangs_in_the_handshake_is_a_timeout_before_request(
        pki: PKI, serve: Callable[..., Loopback]) -> None:
    def silent(conn: socket.socket, srv: Loopback) -> None:
        drain(conn)  # accepts TCP, never speaks TLS

    srv = serve(silent, pki.server_context())
    with endpoint(pki, srv.url, timeout=0.4) as c:
        start = time.monotonic()
        resp = c.request("POST", "/api/v1/memories", {"title": "t"})
        elapsed = time.monotonic() - start
    no_status(resp, "timeout", True)
    assert elapsed < 2.0, elapsed


def test_a_reset_of_a_served_keep_alive_connection_is_reset(pki: PKI, serve: Callable[..., Loopback]) -> None:
    """The server answered a first write on the connection, then resets it on reading the second: not a refusal
    (the connection had served), unknown outcome (the request was read), and a write is not sent again."""
    srv = serve(over_tls(served_then(reset)), pki.server_context())
    with endpoint(pki, srv.url) as c:
        first = c.request("POST", "/api/v1/memories", {"title": "a"})
        assert (first.status, first.body) == (201, {"id": "m1"})
        resp = c.request("POST", "/api/v1/memories", {"title": "b"})
    no_status(resp, "reset", False)
    assert srv.connections == 1 and len(srv.requests) == 2


def test_a_close_of_a_served_keep_alive_connection_is_reset(pki: PKI, serve: Callable[..., Loopback]) -> None:
    def close(sock: socket.socket) -> None:
        sock.shutdown(socket.SHUT_RDWR)

    srv = serve(over_tls(served_then(close)), pki.server_context())
    with endpoint(pki, srv.url) as c:
        assert c.request("POST", "/api/v1/memories", {"title": "a"}).status == 201
        resp = c.request("POST", "/api/v1/memories", {"title": "b"})
    no_status(resp, "reset", False)
    assert srv.connections == 1


def test_a_reset_plain_http_connection_is_reset(serve: Callable[..., Loopback]) -> None:
    def body(conn: socket.socket, srv: Loopback) -> None:
        if read_request(conn, srv):
            reset(conn)

    srv = serve(body)
    with Endpoint(srv.url, timeout=3) as c:
        resp = c.request("POST", "/api/v1/memories", {"title": "t"})
    no_status(resp, "reset", False)


@pytest.mark.parametrize("garbage", [b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", b"\x00\x01\x02 not http at all\r\n\r\n",
                                     b"HTTP/1.1 abc Broken\r\n\r\n"], ids=["ssh-banner", "binary", "bad-status"])
def test_a_server_that_answers_garbage_is_protocol(pki: PKI, serve: Callable[..., Loopback], garbage: bytes) -> None:
    srv = serve(over_tls(after_request(garbage)), pki.server_context())
    with endpoint(pki, srv.url) as c:
        resp = c.request("POST", "/api/v1/memories", {"title": "t"})
    no_status(resp, "protocol", False)


def test_a_cut_body_is_incomplete_with_its_status(pki: PKI, serve: Callable[..., Loopback]) -> None:
    """The status and headers arrived, then the server hung up 94 bytes short of its Content-Length. (A reset
    instead of the close is not tested: the RST may discard the unread answer, which is then a plain reset.)"""
    answer = after_request(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                           b'{"id":')
    srv = serve(over_tls(answer), pki.server_context())
    with endpoint(pki, srv.url) as c:
        resp = c.request("POST", "/api/v1/memories", {"title": "t"})
    assert (resp.status, resp.error_class, resp.refused_before_request) == (201, "incomplete", False), resp
    assert resp.body is None and resp.detail
    assert resp.headers["content-length"] == "100"


def test_a_body_that_stops_coming_is_a_timeout_with_its_status(pki: PKI, serve: Callable[..., Loopback]) -> None:
    def body(sock: socket.socket, srv: Loopback) -> None:
        if read_request(sock, srv):
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
            drain(sock)

    srv = serve(over_tls(body), pki.server_context())
    with endpoint(pki, srv.url, timeout=0.4) as c:
        resp = c.request("GET", "/api/v1/memories")
    assert (resp.status, resp.error_class, resp.refused_before_request) == (200, "timeout", False), resp


def test_after_each_failure_the_next_request_opens_a_working_connection(
        pki: PKI, serve: Callable[..., Loopback]) -> None:
    """A failed connection is never reused: the request after a cut body goes out on a new connection."""
    calls = iter(range(100))

    def body(sock: socket.socket, srv: Loopback) -> None:
        while read_request(sock, srv):
            if next(calls) == 0:
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{")
                return
            sock.sendall(OK)

    srv = serve(over_tls(body), pki.server_context())
    with endpoint(pki, srv.url) as c:
        assert c.request("GET", "/a").error_class == "incomplete"
        again = c.request("GET", "/b")
        assert (again.status, again.body, again.error_class) == (200, {"status": "ok"}, None)
        assert c.request("GET", "/c").status == 200
    assert srv.connections == 2
