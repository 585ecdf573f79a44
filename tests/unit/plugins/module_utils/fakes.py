"""Test doubles: an Ed25519 PKI, a tiny stdlib HTTPS server with an mTLS fingerprint allowlist on 127.0.0.1, and
a fake 3-node ai-memory cluster (quorum writes, 503 shortfall, stop/start, partition/heal with delayed catch-up,
page caps, fault switches) built on it. Everything listens on loopback only."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import socket
import ssl
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

API_KEY = "test-secret-api-key-4f1c9a"
AGENT = "ai:tester"


# ---------------------------------------------------------------- PKI


@dataclass
class Ident:
    cert: str
    key: str
    fingerprint: str


class CA:
    """A throwaway Ed25519 CA issuing leaves with an IP SAN (Ed25519 signs with ``algorithm=None``)."""

    def __init__(self, directory: Path, cn: str = "test CA") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.key = ed25519.Ed25519PrivateKey.generate()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        now = dt.datetime.now(dt.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                    critical=True)
                     .sign(self.key, None))
        self.path = str(directory / f"{cn.replace(' ', '-')}.pem")
        Path(self.path).write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, client: bool, ips: tuple[str, ...] = ("127.0.0.1",)) -> Ident:
        key = ed25519.Ed25519PrivateKey.generate()
        now = dt.datetime.now(dt.UTC)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address(i)) for i in ips] + [x509.DNSName(name)]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .sign(self.key, None))
        cert_path, key_path = self.dir / f"{name}.pem", self.dir / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)
        der = cert.public_bytes(serialization.Encoding.DER)
        return Ident(str(cert_path), str(key_path), hashlib.sha256(der).hexdigest())


class PKI:
    """Our CA with a server leaf, an allowlisted client, an unlisted client of our CA, and a rogue CA's client."""

    def __init__(self, directory: Path) -> None:
        self.ca = CA(directory / "ca")
        self.rogue_ca = CA(directory / "rogue", "rogue CA")
        self.server = self.ca.issue("server", client=False)
        self.client = self.ca.issue("client", client=True)
        self.outsider = self.ca.issue("outsider", client=True)
        self.rogue = self.rogue_ca.issue("rogue", client=True)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.server.cert, self.server.key)
        ctx.load_verify_locations(self.ca.path)
        ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx

    def client_args(self) -> dict[str, Any]:
        return {"api_key": API_KEY, "agent_id": AGENT, "ca_cert": self.ca.path, "client_cert": self.client.cert,
                "client_key": self.client.key}


# ---------------------------------------------------------------- tiny HTTPS server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TinyServer

    def log_message(self, *args: Any) -> None:
        pass

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode(errors="replace")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        body = self._body() if method in ("POST", "PUT") else None
        self.server.requests.append((method, self.path, dict(self.headers.items()), body))
        special = url.path.rstrip("/")
        if special == "/slow":
            time.sleep(float(parse_qs(url.query).get("s", ["2"])[0]))
        elif special == "/close":
            self.close_connection = True
            return  # no status line at all
        elif special == "/reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        elif special == "/garbage":
            self.wfile.write(b"SSH-2.0-not-http\r\n\r\n")
            self.close_connection = True
            return
        elif special == "/short":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\"")
            self.wfile.flush()
            self.close_connection = True
            return
        status, headers, payload = self.server.app(self.server.name, method, url.path, parse_qs(url.query),
                                                   {k.lower(): v for k, v in self.headers.items()}, body)
        data = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")


def echo_app(name: str, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
             body: Any) -> tuple[int, dict[str, str], Any]:
    if path == "/api/v1/health":
        return 200, {}, {"status": "ok", "service": "ai-memory", "node": name}
    if path == "/api/v1/memories" and method == "POST":
        return 201, {}, {"id": str(uuid.uuid4()), "title": (body or {}).get("title"), "quorum_acks": 1}
    if path == "/echo":
        return 200, {"X-Echo": "yes"}, {"headers": headers, "body": body, "query": query}
    if path == "/text":
        return 200, {}, b"plain words"
    return 404, {}, {"error": "not found"}


class TinyServer(ThreadingHTTPServer):
    """HTTPS on 127.0.0.1 with client certificates required; a leaf not on ``allowlist`` (SHA-256 of its DER)
    is disconnected right after the handshake, before any HTTP is read (as the stand-in does). ``tls=False``
    serves plain HTTP."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, pki: PKI | None, app: Any = echo_app, allowlist: set[str] | None = None, name: str = "node",
                 port: int = 0, idle_timeout: float = 5.0, tls: bool = True) -> None:
        self.pki, self.app, self.allowlist, self.name, self.tls = pki, app, allowlist, name, tls
        self.ctx = pki.server_context() if tls and pki else None
        self.connections = 0
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        handler = type("Handler", (_Handler,), {"timeout": idle_timeout})
        super().__init__(("127.0.0.1", port), handler)
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        self.connections += 1
        if self.ctx is not None:
            try:
                request.settimeout(5)
                request = self.ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                request.close()
                return
            if self.allowlist is not None:
                der = request.getpeercert(binary_form=True)
                if der is None or hashlib.sha256(der).hexdigest() not in self.allowlist:
                    request.close()  # refused before any HTTP is read
                    return
        super().process_request_thread(request, client_address)

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5)


# ---------------------------------------------------------------- fake cluster


def _stamp() -> str:
    """Now, with nanoseconds, as ai-memory stamps updated_at (strings of one length compare in time order)."""
    ns = time.time_ns()
    whole = dt.datetime.fromtimestamp(ns // 10**9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{ns % 10**9:09d}+00:00"


class FakeCluster:
    """N fake ai-memory nodes with W-of-N quorum writes. Fault switches (``faults``): ``drop_fanout`` (the last node
    never gets anything), ``phantom_ack`` (one ack too many), ``ack_without_quorum`` (201 on a shortfall),
    ``no_retry_after``, ``extra_body_key``, ``no_catchup`` (owed writes never arrive), ``accept_any`` (no
    allowlist). ``page_cap`` caps list pages below the requested limit (the ship-gate's default of 20)."""

    def __init__(self, pki: PKI, names: tuple[str, ...] = ("node-a", "node-b", "node-c"), w: int = 2,
                 faults: set[str] | None = None, page_cap: int = 1000, catchup_delay: float = 0.3) -> None:
        self.pki, self.names, self.w = pki, list(names), w
        self.faults = set(faults or ())
        self.page_cap, self.catchup_delay = page_cap, catchup_delay
        self.lock = threading.RLock()
        self.stores: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in names}
        self.owed: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        self.down: set[str] = set()
        self.isolated: set[str] = set()
        self.timers: list[threading.Timer] = []
        self.allowlist = None if "accept_any" in self.faults else {pki.client.fingerprint}
        self.servers = {n: self._serve(n) for n in names}

    def _serve(self, name: str, port: int = 0) -> TinyServer:
        return TinyServer(self.pki, self.handle, self.allowlist, name=name, port=port)

    def url(self, name: str) -> str:
        return self.servers[name].url

    def endpoints(self, names: list[str] | None = None) -> list[dict[str, str]]:
        return [{"name": n, "url": self.url(n)} for n in (names or self.names)]

    def close(self) -> None:
        for timer in self.timers:
            timer.cancel()
        for name, server in self.servers.items():
            if name not in self.down:
                server.stop()

    # nemeses
    def stop(self, *names: str) -> None:
        for name in names:
            with self.lock:
                self.down.add(name)
            self.servers[name].stop()

    def start(self, *names: str) -> None:
        for name in names:
            self.servers[name] = self._serve(name, self.servers[name].port)
            with self.lock:
                self.down.discard(name)
            self._catch_up(name)

    def partition(self, name: str) -> None:
        with self.lock:
            self.isolated.add(name)

    def heal(self) -> None:
        with self.lock:
            isolated, self.isolated = set(self.isolated), set()
        for name in isolated:
            self._catch_up(name)

    def _catch_up(self, name: str) -> None:
        if "no_catchup" in self.faults:
            return

        def deliver() -> None:
            with self.lock:
                if name in self.down or name in self.isolated:
                    return
                for mem in self.owed[name]:
                    self.stores[name].setdefault(mem["id"], dict(mem))
                self.owed[name] = []

        timer = threading.Timer(self.catchup_delay, deliver)
        timer.daemon = True
        self.timers.append(timer)
        timer.start()

    def _reachable(self, a: str, b: str) -> bool:
        return b not in self.down and not ({a, b} & self.isolated)

    # the HTTP API
    def handle(self, name: str, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: Any) -> tuple[int, dict[str, str], Any]:
        if path == "/api/v1/health":
            return 200, {}, {"status": "ok", "service": "ai-memory", "version": "0.7.0"}
        if headers.get("x-api-key") != API_KEY:
            return 401, {}, {"error": "missing or invalid API key"}
        with self.lock:
            store = self.stores[name]
            if path == "/api/v1/memories" and method == "POST":
                return self._create(name, body, headers.get("x-agent-id") or AGENT)
            if path == "/api/v1/memories" and method == "GET":
                ns = query.get("namespace", [None])[0]
                limit = min(int(query.get("limit", ["20"])[0]), self.page_cap)
                offset = int(query.get("offset", ["0"])[0])
                rows = [m for m in store.values() if ns is None or m["namespace"] == ns]
                page = rows[offset:offset + limit]
                return 200, {}, {"memories": page, "count": len(page)}
            if path.startswith("/api/v1/memories/") and method == "GET":
                mem = store.get(path.rsplit("/", 1)[1])
                return (200, {}, {"memory": mem, "links": []}) if mem else (404, {}, {"error": "not found"})
            if path == "/api/v1/memories/bulk" and method == "POST":
                return self._bulk(name, body, headers.get("x-agent-id") or AGENT)
            if path.startswith("/api/v1/memories/") and method == "PUT":
                return self._update(name, path.rsplit("/", 1)[1], body)
            if path.startswith("/api/v1/memories/") and method == "DELETE":
                return self._delete(name, path.rsplit("/", 1)[1])
        return 404, {}, {"error": "not found"}

    def _fan_out(self, name: str, apply: Any) -> int:
        """Apply a mutation on every reachable peer (``apply(peer_store)``); the number of nodes that hold it."""
        got = 1
        for peer in self.names:
            if peer != name and self._reachable(name, peer) and not ("drop_fanout" in self.faults
                                                                      and peer == self.names[-1]):
                apply(self.stores[peer])
                got += 1
        return got

    def _update(self, name: str, mem_id: str, body: Any) -> tuple[int, dict[str, str], Any]:
        mem = self.stores[name].get(mem_id)
        if mem is None:
            return 404, {}, {"error": "not found"}
        new = {**mem, **{k: v for k, v in (body or {}).items() if k in ("content", "tags", "priority", "metadata")},
               "updated_at": _stamp(), "version": int(mem.get("version", 1)) + 1}
        new["metadata"] = {**(body or {}).get("metadata", mem["metadata"]), "agent_id": mem["metadata"]["agent_id"]}
        self.stores[name][mem_id] = new

        def apply(store: dict[str, dict[str, Any]]) -> None:  # insert_if_newer: the later updated_at wins
            newer = new["updated_at"] > store.get(mem_id, {}).get("updated_at", "")
            if "update_not_applied" not in self.faults and newer:
                store[mem_id] = dict(new)

        self._fan_out(name, apply)
        return 200, {}, new

    def _delete(self, name: str, mem_id: str) -> tuple[int, dict[str, str], Any]:
        if self.stores[name].pop(mem_id, None) is None:
            return 404, {}, {"error": "not found"}
        if "delete_not_applied" not in self.faults:
            self._fan_out(name, lambda store: store.pop(mem_id, None))
        return 200, {}, {"deleted": True}

    def _bulk(self, name: str, body: Any, agent: str) -> tuple[int, dict[str, str], Any]:
        created, errors = 0, []
        for item in body if isinstance(body, list) else []:
            status, _headers, _answer = self._create(name, item, agent)
            created += status == 201
            if status != 201:
                errors.append(f"{item.get('title')}: {status}")
        return (500, {}, {"error": "fan-out failed"}) if "bulk_500" in self.faults else \
            (200, {}, {"created": created, "errors": errors})

    def _create(self, name: str, body: Any, agent: str = AGENT) -> tuple[int, dict[str, str], Any]:
        if not isinstance(body, dict) or not body.get("title") or not body.get("content"):
            return 400, {}, {"error": "title and content are required"}
        ns = body.get("namespace", "global")
        store = self.stores[name]
        if any(m["title"] == body["title"] and m["namespace"] == ns for m in store.values()):
            return 409, {}, {"code": "CONFLICT", "error": "memory with title already exists"}
        meta = {**(body.get("metadata") or {}), "scope": body.get("scope", "private"), "agent_id": agent}
        mem = {"id": str(uuid.uuid4()), "title": body["title"], "content": body["content"], "namespace": ns,
               "tier": body.get("tier", "mid"), "tags": body.get("tags") or [], "priority": body.get("priority", 5),
               "source": body.get("source", "api"), "metadata": meta, "version": 1, "updated_at": _stamp()}
        store[mem["id"]] = mem
        got = 1
        for peer in self.names:
            if peer == name:
                continue
            if "drop_fanout" in self.faults and peer == self.names[-1]:
                continue
            if self._reachable(name, peer):
                self.stores[peer][mem["id"]] = dict(mem)
                got += 1
            else:
                self.owed[peer].append(mem)
        if "phantom_ack" in self.faults:
            got += 1
        if got >= self.w or "ack_without_quorum" in self.faults:
            return 201, {}, {"id": mem["id"], "tier": mem["tier"], "namespace": ns, "title": mem["title"],
                             "agent_id": agent, "quorum_acks": got}
        shortfall = {"error": "quorum_not_met", "got": got, "needed": self.w,
                     "reason": "unreachable" if got == 1 else "timeout"}
        if "extra_body_key" in self.faults:
            shortfall["detail"] = "peers down"
        headers = {} if "no_retry_after" in self.faults else {"Retry-After": "2"}
        return 503, headers, shortfall
