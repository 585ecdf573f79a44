# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""A retrying proxy on loopback between the community.digitalocean modules and the DigitalOcean API.

Those modules send every request once: a 429 (DigitalOcean rate-limits per token) or a passing 5xx fails the
task, or worse, is read as "not found" (the tag module then skips its work). The plays point the modules'
``baseurl`` at ``http://127.0.0.1:<port>/<secret>`` instead; each request is forwarded to the upstream API
(TLS verified) as it came, Authorization header included, and retried as ``retry`` says (429 for every method,
5xx for idempotent ones, honouring ``Retry-After`` and ``ratelimit-reset``) until a deadline per request. The
module gets the upstream's final answer unchanged. The secret path keeps other local users from using it; it
never stores or logs a header or a body, only counts.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ansible.module_utils.urls import open_url
from ansible_collections.aimemory.swarm.plugins.module_utils._do.api import (
    DoApiError,
    Opener,
    send_once,
    send_with_retries,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._do.retry import Deadline

FORWARDED_REQUEST_HEADERS = ("Authorization", "Content-Type", "Accept", "User-Agent")
DROPPED_RESPONSE_HEADERS = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                                      "trailer", "trailers", "transfer-encoding", "upgrade", "content-length",
                                      "content-encoding", "date", "server"})


@dataclass
class Stats:
    """What the proxy did: requests forwarded, retries, final statuses, requests given up at the deadline."""

    requests: int = 0
    retries: int = 0
    retried_statuses: dict[str, int] = field(default_factory=dict)
    final_statuses: dict[str, int] = field(default_factory=dict)
    given_up: int = 0
    unreachable: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def retried(self, status: int, _wait: float) -> None:
        with self.lock:
            self.retries += 1
            self.retried_statuses[str(status)] = self.retried_statuses.get(str(status), 0) + 1

    def answered(self, status: int, given_up: bool) -> None:
        with self.lock:
            self.requests += 1
            self.final_statuses[str(status)] = self.final_statuses.get(str(status), 0) + 1
            self.given_up += int(given_up)

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": self.requests, "retries": self.retries,
                    "retried_statuses": dict(self.retried_statuses), "final_statuses": dict(self.final_statuses),
                    "given_up": self.given_up, "unreachable": self.unreachable}


def error_body(error_id: str, message: str) -> bytes:
    return json.dumps({"id": error_id, "message": message}).encode()


class RetryingProxy:
    """A threaded HTTP server on 127.0.0.1 (a free port) forwarding ``/<secret>/<path>`` to ``upstream/<path>``."""

    def __init__(self, upstream: str, timeout: float = 30.0, retry_seconds: float = 60.0,
                 validate_certs: bool = True, opener: Opener = open_url,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.upstream = upstream.rstrip("/")
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.validate_certs = validate_certs
        self.secret = secrets.token_urlsafe(18)
        self.stats = Stats()
        self._open = opener
        self._sleep = sleep
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{self.secret}"

    def start(self) -> RetryingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)

    def forward(self, method: str, rest: str, body: bytes | None,
                headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        """The upstream's final answer to ``method upstream+rest`` (retried), or a 502 naming why none came."""
        url = self.upstream + rest
        deadline = Deadline(self.retry_seconds)
        try:
            answer = send_with_retries(
                lambda: send_once(self._open, url, method, body, headers, self.timeout, self.validate_certs,
                                  self.upstream),
                method, deadline, self._sleep, self.stats.retried)
        except DoApiError as exc:
            with self.stats.lock:
                self.stats.unreachable += 1
            self.stats.answered(502, False)
            return 502, [("Content-Type", "application/json")], error_body("proxy_unreachable", str(exc))
        self.stats.answered(answer.status, bool(answer.refused_wait))
        kept = [(k, v) for k, v in (answer.headers.items() if answer.headers is not None else [])
                if k.lower() not in DROPPED_RESPONSE_HEADERS]
        return answer.status, kept, answer.payload

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # never log requests (headers, paths)
                return

            def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                if payload and self.command != "HEAD":
                    self.wfile.write(payload)
                self.close_connection = True

            def _serve(self) -> None:
                prefix = f"/{proxy.secret}"
                if not (self.path == prefix or self.path.startswith(prefix + "/") or
                        self.path.startswith(prefix + "?")):
                    self._reply(404, [("Content-Type", "application/json")],
                                error_body("not_found", "unknown path"))
                    return
                if self.headers.get("Transfer-Encoding"):
                    self._reply(411, [("Content-Type", "application/json")],
                                error_body("length_required", "send a Content-Length"))
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k in FORWARDED_REQUEST_HEADERS if (v := self.headers.get(k)) is not None}
                self._reply(*proxy.forward(self.command, self.path[len(prefix):], body, headers))

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        return Handler
