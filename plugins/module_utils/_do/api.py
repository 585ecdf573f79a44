# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""A small DigitalOcean API v2 client for the read-only planning and inventory modules, and the retrying proxy.

Every request has a timeout; HTTP 429 and 5xx are retried as ``retry`` says (429 always, 5xx for idempotent
methods), honouring ``Retry-After`` and ``ratelimit-reset``, until a deadline; every failure becomes a
:class:`DoApiError` whose message names the status, DigitalOcean's error id and message, and never the token.
The community.digitalocean modules do the creating (through ``proxy``, which retries the same way); this client
lists, reads, prices and deletes VPCs (do_vpc_delete).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode

from ansible.module_utils.urls import open_url
from ansible_collections.aimemory.swarm.plugins.module_utils._do.retry import Deadline, next_wait, retryable

DEFAULT_BASEURL = "https://api.digitalocean.com/v2"
PER_PAGE = 200
MAX_PAGES = 100

Opener = Callable[..., Any]


class DoApiError(Exception):
    """A DigitalOcean API call failed; ``status`` is None when no HTTP answer arrived."""

    def __init__(self, message: str, status: int | None = None, error_id: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id


@dataclass
class Answer:
    """The last answer to a request, after retries: status, headers, body, attempts made, and the wait the API
    asked for that did not fit before the deadline (0 when the request was not given up)."""

    status: int
    headers: Any
    payload: bytes
    attempts: int = 1
    refused_wait: float = 0.0
    advised: bool = False


def send_once(opener: Opener, url: str, method: str, body: bytes | None, headers: dict[str, str], timeout: float,
              validate_certs: bool, api: str) -> tuple[int, Any, bytes]:
    """One HTTP exchange: (status, headers, body) for any HTTP answer; DoApiError when none arrived."""
    try:
        resp = opener(url, data=body, headers=headers, method=method, timeout=timeout,
                      validate_certs=validate_certs, follow_redirects="none")
        try:
            return resp.getcode(), resp.headers, resp.read()
        finally:
            resp.close()
    except HTTPError as exc:
        try:
            payload = exc.read()
        except OSError:
            payload = b""
        return exc.code, exc.headers, payload
    except TimeoutError as exc:
        raise DoApiError(f"the DigitalOcean API at {api} did not answer within {timeout:g} s "
                         f"({method} {url.split('?', 1)[0][len(api):] or '/'}): {exc}") from exc
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DoApiError(f"cannot reach the DigitalOcean API at {api}: {reason}") from exc


def send_with_retries(send: Callable[[], tuple[int, Any, bytes]], method: str, deadline: Deadline,
                      sleep: Callable[[float], None] = time.sleep,
                      on_retry: Callable[[int, float], None] | None = None) -> Answer:
    """``send()`` until its answer is final, or the next wait would end after the deadline."""
    attempts = 0
    while True:
        attempts += 1
        status, headers, payload = send()
        if not retryable(method, status):
            return Answer(status, headers, payload, attempts)
        wait, advised = next_wait(status, headers, attempts)
        if not deadline.allows(wait):
            return Answer(status, headers, payload, attempts, refused_wait=max(wait, 1e-9), advised=advised)
        if on_retry is not None:
            on_retry(status, wait)
        sleep(wait)


class DoClient:
    """Requests to ``baseurl`` with a bearer token, a per-request timeout and a retry deadline."""

    def __init__(self, baseurl: str, token: str, timeout: float = 30.0, retry_seconds: float = 60.0,
                 validate_certs: bool = True, opener: Opener = open_url,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if not token:
            raise DoApiError("no DigitalOcean API token was given")
        self.baseurl = baseurl.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.retry_seconds = retry_seconds
        self.validate_certs = validate_certs
        self._open = opener
        self._clock = clock
        self._sleep = sleep
        self.requests = 0

    def _url(self, path: str, query: dict[str, Any] | None) -> str:
        url = f"{self.baseurl}/{path.lstrip('/')}"
        return f"{url}?{urlencode(query)}" if query else url

    def _send_once(self, method: str, url: str, body: bytes | None) -> tuple[int, Any, bytes]:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        self.requests += 1
        return send_once(self._open, url, method, body, headers, self.timeout, self.validate_certs, self.baseurl)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                query: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """One call; 429 and 5xx retried (``retry``) until ``retry_seconds`` have passed. Returns (status, json)."""
        url = self._url(path, query)
        data = json.dumps(body).encode() if body is not None else None
        deadline = Deadline(self.retry_seconds, self._clock)
        answer = send_with_retries(lambda: self._send_once(method, url, data), method, deadline, self._sleep)
        try:
            parsed = json.loads(answer.payload.decode() or "{}") if answer.payload else {}
        except ValueError:
            parsed = {}
        if not isinstance(parsed, dict):
            parsed = {}
        if answer.refused_wait:
            status = answer.status
            what = "rate limited by" if status == 429 else "server errors from"
            hint = f"; the API asks to retry after {answer.refused_wait:.0f} s" if answer.advised else ""
            raise DoApiError(f"{what} the DigitalOcean API (HTTP {status} {parsed.get('id', '')}: "
                             f"{parsed.get('message', 'no message')}) on {method} /{path.lstrip('/')}: "
                             f"gave up after {answer.attempts} attempts in {self.retry_seconds:g} s{hint}",
                             status, str(parsed.get("id", "")))
        return answer.status, parsed

    @staticmethod
    def error(method: str, path: str, status: int, parsed: dict[str, Any]) -> DoApiError:
        if status == 401:
            return DoApiError(f"the DigitalOcean API refused the token (HTTP 401 {parsed.get('id', 'unauthorized')}: "
                              f"{parsed.get('message', 'no message')})", status, str(parsed.get("id", "")))
        return DoApiError(f"{method} /{path.lstrip('/')} failed: HTTP {status} {parsed.get('id', '')}: "
                          f"{parsed.get('message', 'no message')}", status, str(parsed.get("id", "")))

    def get(self, path: str, query: dict[str, Any] | None = None, missing_ok: bool = False) -> dict[str, Any] | None:
        status, parsed = self.request("GET", path, query=query)
        if status == 404 and missing_ok:
            return None
        if status != 200:
            raise self.error("GET", path, status, parsed)
        return parsed

    def list(self, path: str, key: str, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a paginated collection (page by page until ``links.pages.next`` is absent)."""
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            parsed = self.get(path, {**(query or {}), "page": page, "per_page": PER_PAGE}) or {}
            batch = parsed.get(key)
            if not isinstance(batch, list):
                raise DoApiError(f"GET /{path.lstrip('/')}: the answer holds no '{key}' list")
            items.extend(batch)
            if not ((parsed.get("links") or {}).get("pages") or {}).get("next"):
                return items
        raise DoApiError(f"GET /{path.lstrip('/')}: more than {MAX_PAGES} pages of {PER_PAGE}")
