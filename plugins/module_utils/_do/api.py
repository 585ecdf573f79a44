# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""A small DigitalOcean API v2 client for the read-only planning and inventory modules.

Every request has a timeout; HTTP 429 (and 5xx on reads) is retried, honouring ``Retry-After``, until a
deadline; every failure becomes a :class:`DoApiError` whose message names the status, DigitalOcean's error id
and message, and never the token. The community.digitalocean modules do the creating and deleting; this client
only lists, reads and prices.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode

from ansible.module_utils.urls import open_url

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


def _retry_after(headers: Any, default: float) -> float:
    """Seconds to wait before retrying: Retry-After, else ratelimit-reset (epoch), else the default."""
    if headers is None:
        return default
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    reset = headers.get("ratelimit-reset")
    if reset:
        try:
            return max(0.0, min(float(reset) - time.time(), 60.0))
        except ValueError:
            pass
    return default


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
        try:
            resp = self._open(url, data=body, headers=headers, method=method, timeout=self.timeout,
                              validate_certs=self.validate_certs, follow_redirects="none")
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
            raise DoApiError(f"the DigitalOcean API at {self.baseurl} did not answer within {self.timeout:g} s "
                             f"({method} {url.split('?', 1)[0][len(self.baseurl):] or '/'}): {exc}") from exc
        except (URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DoApiError(f"cannot reach the DigitalOcean API at {self.baseurl}: {reason}") from exc

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                query: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """One call; 429 (and 5xx for GET) retried until ``retry_seconds`` have passed. Returns (status, json)."""
        url = self._url(path, query)
        data = json.dumps(body).encode() if body is not None else None
        deadline = self._clock() + self.retry_seconds
        attempts, delay = 0, 1.0
        while True:
            attempts += 1
            status, headers, payload = self._send_once(method, url, data)
            try:
                parsed = json.loads(payload.decode() or "{}") if payload else {}
            except ValueError:
                parsed = {}
            if not isinstance(parsed, dict):
                parsed = {}
            retryable = status == 429 or (status >= 500 and method == "GET")
            if not retryable:
                return status, parsed
            wait = _retry_after(headers, delay) if status == 429 else delay
            if self._clock() + wait > deadline:
                what = "rate limited by" if status == 429 else "server errors from"
                hint = f"; the API asks to retry after {wait:.0f} s" if status == 429 else ""
                raise DoApiError(f"{what} the DigitalOcean API (HTTP {status} {parsed.get('id', '')}: "
                                 f"{parsed.get('message', 'no message')}) on {method} /{path.lstrip('/')}: "
                                 f"gave up after {attempts} attempts in {self.retry_seconds:g} s{hint}",
                                 status, str(parsed.get("id", "")))
            self._sleep(wait)
            delay = min(delay * 2, 10.0)

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
