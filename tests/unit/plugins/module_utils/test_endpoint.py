"""The endpoint client against a tiny stdlib HTTPS server with an mTLS allowlist on 127.0.0.1: answers, keep-alive,
and the error class of every way a request can fail without an HTTP status."""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils import _endpoint
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import Endpoint, Response, classify

from tests.unit.plugins.module_utils.fakes import AGENT, API_KEY, PKI, TinyServer

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def server(pki: PKI) -> Iterator[TinyServer]:
    srv = TinyServer(pki, allowlist={pki.client.fingerprint}, idle_timeout=0.3)
    yield srv
    srv.stop()


def client(pki: PKI, url: str, ident: str | None = "client", **kw: object) -> Endpoint:
    who = getattr(pki, ident) if ident else None
    args = {"api_key": API_KEY, "agent_id": AGENT, "ca_cert": pki.ca.path, "timeout": 3.0}
    if who is not None:
        args.update(client_cert=who.cert, client_key=who.key)
    args.update(kw)
    return Endpoint(url, **args)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_allowlisted_identity_is_served_with_headers_and_json(pki: PKI, server: TinyServer) -> None:
    with client(pki, server.url) as c:
        resp = c.request("POST", "/echo?x=1", {"title": "t"}, headers={"X-Extra": "1"})
        assert isinstance(resp, Response) and resp.ok and resp.status == 200
        assert resp.error_class is None and resp.latency_ms > 0 and resp.headers["x-echo"] == "yes"
        sent = resp.body["headers"]
        assert sent["x-api-key"] == API_KEY and sent["x-agent-id"] == AGENT and sent["x-extra"] == "1"
        assert sent["content-type"] == "application/json" and resp.body["body"] == {"title": "t"}
        # the request the stdlib client sent: bodies unencoded, no client name, keep-alive as HTTP/1.1's default
        assert sent["accept-encoding"] == "identity" and sent["accept"] == "application/json"
        assert not {"user-agent", "connection"} & set(sent)
        assert c.request("GET", "/api/v1/health").body["status"] == "ok"
        assert c.request("GET", "/text").body == "plain words"
        assert c.request("GET", "/nope").status == 404
    assert server.connections == 1  # keep-alive: one connection served all four requests
    assert set(resp.as_dict()) == {"status", "headers", "body", "error_class", "latency_ms", "detail",
                                   "refused_before_request", "attestation"}
    assert resp.attestation is None  # an endpoint without agent keys signs nothing


@pytest.mark.parametrize("ident", ["outsider", "rogue", None])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_strangers_are_tls_refused_without_status(pki: PKI, server: TinyServer, ident: str | None,
                                                  method: str) -> None:
    """An unlisted leaf of our CA (closed after the handshake), a rogue CA's leaf and no certificate (handshake
    alerts, which TLS 1.3 delivers at the first read) are all refused with no HTTP status."""
    path = "/api/v1/health" if method == "GET" else "/api/v1/memories"
    with client(pki, server.url, ident) as c:
        resp = c.request(method, path, {"title": "x"} if method == "POST" else None)
    assert resp.status is None and resp.error_class == "tls_refused", resp
    assert resp.detail  # an alert (refused_before_request) or an EOF, depending on who wins the race
    assert not server.requests


def test_server_certificate_is_verified_against_the_ca_and_the_ip_san(pki: PKI, server: TinyServer) -> None:
    with client(pki, server.url, ca_cert=pki.rogue_ca.path) as c:
        resp = c.request("GET", "/api/v1/health")
    assert (resp.status, resp.error_class, resp.refused_before_request) == (None, "tls_verify_failed", True)
    with client(pki, f"https://localhost:{server.port}") as c:  # the SAN holds 127.0.0.1, not localhost
        assert c.request("GET", "/api/v1/health").error_class == "tls_verify_failed"


def test_nothing_listening_is_connect_refused() -> None:
    with Endpoint(f"http://127.0.0.1:{free_port()}", timeout=2) as c:
        resp = c.request("POST", "/api/v1/memories", {"title": "t"})
    assert (resp.status, resp.error_class, resp.refused_before_request) == (None, "connect_refused", True)


def test_a_slow_answer_is_a_timeout(pki: PKI, server: TinyServer) -> None:
    with client(pki, server.url, timeout=0.3) as c:
        start = time.monotonic()
        resp = c.request("GET", "/slow?s=1.5")
    assert (resp.status, resp.error_class, resp.refused_before_request) == (None, "timeout", False)
    assert time.monotonic() - start < 1.2


def test_close_before_status_fresh_is_tls_refused_reused_is_reset(pki: PKI, server: TinyServer) -> None:
    with client(pki, server.url) as c:
        assert c.request("POST", "/close", {}).error_class == "tls_refused"
        assert c.request("GET", "/api/v1/health").status == 200
        resp = c.request("POST", "/close", {})  # a connection that served a request: not a refusal
        assert (resp.status, resp.error_class, resp.refused_before_request) == (None, "reset", False)
        assert c.request("GET", "/api/v1/health").status == 200
        assert c.request("POST", "/reset", {}).error_class in ("reset", "tls_refused")


def test_an_idempotent_request_is_retried_once_on_a_dropped_connection(pki: PKI, server: TinyServer) -> None:
    with client(pki, server.url) as c:
        assert c.request("GET", "/api/v1/health").status == 200
        server.requests.clear()
        resp = c.request("GET", "/close")
    # reused connection closed (reset) -> one retry on a fresh connection, closed again -> tls_refused
    assert resp.error_class == "tls_refused" and len(server.requests) == 2


def test_an_idle_connection_the_server_closed_is_replaced_before_sending(pki: PKI, server: TinyServer) -> None:
    with client(pki, server.url) as c:
        assert c.request("POST", "/api/v1/memories", {"title": "a"}).status == 201
        time.sleep(0.6)  # the server's idle timeout (0.3 s) closes the kept-alive connection
        resp = c.request("POST", "/api/v1/memories", {"title": "b"})
    assert resp.status == 201 and server.connections == 2


def test_not_http_and_cut_bodies(pki: PKI, server: TinyServer) -> None:
    with client(pki, server.url) as c:
        assert c.request("GET", "/garbage").error_class == "protocol"
    with client(pki, server.url) as c:
        resp = c.request("GET", "/short")
    assert (resp.status, resp.error_class) == (200, "incomplete")


def test_plain_http(pki: PKI) -> None:
    srv = TinyServer(None, tls=False)
    try:
        with Endpoint(srv.url, timeout=2) as c:
            assert c.request("GET", "/api/v1/health").status == 200
            assert c.request("POST", "/close", {}).error_class == "reset"
    finally:
        srv.stop()


def test_bad_configuration_raises_before_any_request(pki: PKI, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Endpoint("ftp://127.0.0.1/")
    with pytest.raises(OSError):
        Endpoint("https://127.0.0.1:1", client_cert=str(tmp_path / "missing.pem"), ca_cert=pki.ca.path)


def test_classify_covers_network_errors() -> None:
    unreachable = OSError(errno.EHOSTUNREACH, "No route to host")
    assert classify(unreachable, tls=True, connected=False, fresh=True) == ("unreachable", True)
    assert classify(socket.gaierror(-2, "Name"), tls=True, connected=False, fresh=True) == ("dns", True)
    assert classify(TimeoutError(), tls=True, connected=False, fresh=True) == ("timeout", True)
    assert classify(ConnectionResetError(), tls=True, connected=False, fresh=True) == ("tls_refused", True)
    closed = http.client.RemoteDisconnected()
    assert classify(closed, tls=True, connected=True, fresh=True) == ("tls_refused", False)
    assert classify(http.client.RemoteDisconnected(), tls=False, connected=True, fresh=True) == ("reset", False)
    alert = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required")
    assert classify(alert, tls=True, connected=True, fresh=True) == ("tls_refused", True)
    assert classify(ValueError("odd"), tls=True, connected=True, fresh=False) == ("error", False)


def test_response_reads_like_the_earlier_dict_result() -> None:
    resp = Response(None, error_class="timeout", latency_ms=3.0)
    assert resp["status"] is None and resp["error"] == "timeout" and resp["error_class"] == "timeout"
    assert resp.get("body") is None and resp.get("nope", 1) == 1
    with pytest.raises(KeyError):
        resp["nope"]


def test_proxy_variables_are_ignored(pki: PKI, server: TinyServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks talk to the node itself: a proxy (or CA bundle) from the environment is never used."""
    dead = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, dead)
    monkeypatch.setenv("SSL_CERT_FILE", pki.rogue_ca.path)
    with client(pki, server.url) as c:
        assert c.request("GET", "/api/v1/health").status == 200


def test_without_httpx_the_module_util_imports_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """ansible-test's import sanity test (and a host without python3-httpx) imports it without httpx: the import
    succeeds, ``HAS_HTTPX`` is false with the traceback kept for missing_required_lib, and no Endpoint is built."""
    code = ("import sys; sys.modules['httpx'] = None\n"
            "from ansible_collections.aimemory.swarm.plugins.module_utils import _endpoint as e\n"
            "assert e.HAS_HTTPX is False and 'httpx' in e.HTTPX_IMPORT_ERROR, e.HTTPX_IMPORT_ERROR\n"
            "try:\n    e.Endpoint('https://127.0.0.1:9077')\nexcept ImportError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                         env={"PYTHONPATH": f"{ROOT}:{ROOT / '.collections'}", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "needs the Python library httpx" in out.stdout
    monkeypatch.setattr(_endpoint, "HAS_HTTPX", False)
    with pytest.raises(ImportError):
        Endpoint("https://127.0.0.1:9077")
