"""The retry policy (module_utils/_do/retry.py), the client's use of it, and the retrying proxy the
community.digitalocean modules talk to (module_utils/_do/proxy.py, module do_api_proxy), against the mock."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._do import retry
from ansible_collections.aimemory.swarm.plugins.module_utils._do.api import DoApiError, DoClient
from ansible_collections.aimemory.swarm.plugins.module_utils._do.proxy import RetryingProxy
from ansible_collections.aimemory.swarm.plugins.modules import do_api_proxy

from tests.do.mock_api import DoMock

TOKEN = "dop_v1_" + secrets.token_hex(32)


@pytest.fixture
def mock() -> Iterator[DoMock]:
    server = DoMock(TOKEN)
    yield server
    server.close()


@pytest.fixture
def proxy(mock: DoMock) -> Iterator[RetryingProxy]:
    running = RetryingProxy(mock.url, timeout=5, retry_seconds=5).start()
    yield running
    running.stop()


def fetch(url: str, method: str = "GET", body: Any = None, token: str = TOKEN) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = Request(url, data=data, method=method,
                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


# --- the policy ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method,status,expected", [
    ("GET", 429, True), ("POST", 429, True), ("DELETE", 429, True),
    ("GET", 500, True), ("GET", 503, True), ("PUT", 502, True), ("DELETE", 504, True),
    ("POST", 500, False), ("POST", 503, False),  # may have been applied: never retried blindly
    ("GET", 501, False), ("GET", 404, False), ("DELETE", 409, False), ("GET", 200, False)])
def test_what_is_retried(method: str, status: int, expected: bool) -> None:
    assert retry.retryable(method, status) is expected


def test_the_wait_is_what_the_api_asks() -> None:
    now = 1_000_000.0
    assert retry.advised_wait(429, {"Retry-After": "7"}, now) == 7.0
    assert retry.advised_wait(503, {"retry-after": "2"}, now) == 2.0  # any case
    assert retry.advised_wait(429, {"Retry-After": formatdate(now + 30, usegmt=True)}, now) == pytest.approx(30, abs=1)
    assert retry.advised_wait(429, [("ratelimit-reset", str(int(now) + 12))], now) == 12.0
    assert retry.advised_wait(503, {"ratelimit-reset": str(int(now) + 12)}, now) is None  # reset speaks of 429 only
    assert retry.advised_wait(429, {"Retry-After": "7", "ratelimit-reset": str(int(now) + 99)}, now) == 7.0
    assert retry.advised_wait(429, {}, now) is None
    waits = [retry.backoff(n, lambda: 0.5) for n in range(1, 8)]
    assert waits == [1, 2, 4, 8, 16, 16, 16]
    assert 0.8 <= retry.backoff(1) <= 1.2


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# --- the client --------------------------------------------------------------------------------------------
def test_client_retries_5xx_reads_but_not_posts(mock: DoMock) -> None:
    mock.inject(503, times=2, method="GET", headers={"Retry-After": "0"})
    assert DoClient(mock.url, TOKEN).get("account")["account"]["status"] == "active"
    assert [r.status for r in mock.requests("GET", "/v2/account")] == [503, 503, 200]
    mock.inject(500, method="POST")
    assert DoClient(mock.url, TOKEN).request("POST", "tags", {"name": "t"})[0] == 500
    assert len(mock.requests("POST", "/v2/tags")) == 1 and "t" not in mock.tags


def test_client_honours_retry_after_and_gives_up_before_a_wait_past_its_deadline(mock: DoMock) -> None:
    clock = FakeClock()
    mock.inject(429, times=2, headers={"Retry-After": "3"})
    client = DoClient(mock.url, TOKEN, retry_seconds=10, clock=clock, sleep=clock.sleep)
    assert client.get("account") is not None and clock.slept == [3.0, 3.0]
    mock.inject(429, headers={"Retry-After": "30"})
    started = time.monotonic()
    with pytest.raises(DoApiError, match=r"HTTP 429 too_many_requests.*gave up after 1 attempts in 10 s; the API "
                                         r"asks to retry after 30 s"):
        DoClient(mock.url, TOKEN, retry_seconds=10).get("account")
    assert time.monotonic() - started < 2  # not a second spent waiting for nothing
    mock.inject(503, times=100, method="GET")
    with pytest.raises(DoApiError, match=r"server errors from the DigitalOcean API \(HTTP 503 server_error"):
        DoClient(mock.url, TOKEN, retry_seconds=2).get("account")


# --- the proxy -----------------------------------------------------------------------------------------------
def test_proxy_forwards_unchanged_and_retries(mock: DoMock, proxy: RetryingProxy) -> None:
    assert proxy.url.startswith("http://127.0.0.1:")
    status, body = fetch(proxy.url + "/tags", "POST", {"name": "via-proxy"})
    assert (status, body["tag"]["name"]) == (201, "via-proxy")
    assert fetch(proxy.url + "/tags", "POST", {"name": "via-proxy"})[0] == 422  # final answers pass unchanged
    assert fetch(proxy.url + "/account", token="wrong")[0] == 401
    mock.inject(429, times=2, headers={"Retry-After": "0"})
    mock.inject(503, method="DELETE")
    assert fetch(proxy.url + "/tags/via-proxy", "DELETE") == (204, None)
    assert [r.status for r in mock.requests("DELETE")] == [429, 429, 503, 204]
    mock.inject(503, method="POST")
    assert fetch(proxy.url + "/tags", "POST", {"name": "once"})[0] == 503  # a POST 5xx is not retried
    assert len(mock.requests("POST", "/v2/tags")) == 3
    status, body = fetch(proxy.url + "/droplets?tag_name=x&per_page=5")
    assert status == 200 and body["droplets"] == []
    assert mock.requests("GET", "/v2/droplets")[-1].query == {"tag_name": "x", "per_page": "5"}
    stats = proxy.stats.as_dict()
    assert stats["retries"] == 3 and stats["retried_statuses"] == {"429": 2, "503": 1}
    assert stats["requests"] == 6 and stats["final_statuses"]["503"] == 1
    # the token passes through as the header it came in, and never elsewhere
    assert all(r.authorized for r in mock.log if r.path != "/v2/account")


def test_proxy_refuses_other_paths_and_names_an_unreachable_api(mock: DoMock, proxy: RetryingProxy) -> None:
    base = proxy.url.rsplit("/", 1)[0]
    before = len(mock.log)
    assert fetch(base + "/account")[0] == 404
    assert fetch(base + "/not-the-secret/account")[0] == 404
    assert len(mock.log) == before  # nothing forwarded without the secret path
    closed = RetryingProxy("http://127.0.0.1:1/v2", timeout=2, retry_seconds=1).start()
    try:
        status, body = fetch(closed.url + "/account")
    finally:
        closed.stop()
    assert status == 502 and body["id"] == "proxy_unreachable"
    assert "cannot reach the DigitalOcean API at http://127.0.0.1:1/v2" in body["message"]


def test_proxy_gives_up_at_its_deadline_and_passes_the_429_on(mock: DoMock) -> None:
    mock.mode = "ratelimit"
    limited = RetryingProxy(mock.url, timeout=5, retry_seconds=2).start()
    started = time.monotonic()
    try:
        status, body = fetch(limited.url + "/account")
    finally:
        limited.stop()
    assert (status, body["id"]) == (429, "too_many_requests")
    assert 1 <= time.monotonic() - started < 4
    assert limited.stats.as_dict()["given_up"] == 1


# --- the module's lifetime rails ---------------------------------------------------------------------------------
def test_proxy_module_stops_when_its_address_file_goes_or_its_owner_exits(tmp_path: Path) -> None:
    url_file = tmp_path / "url"
    do_api_proxy.write_private(str(url_file), "http://127.0.0.1:9/x\n")
    assert url_file.stat().st_mode & 0o777 == 0o600
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start = do_api_proxy.process_start(owner.pid)
        assert start
        threading.Timer(0.3, url_file.unlink).start()
        began = time.monotonic()
        assert do_api_proxy.wait_for_stop(str(url_file), "http://127.0.0.1:9/x\n", owner.pid, start,
                                          lifetime=30) == "url_file_removed"
        assert time.monotonic() - began < 5
        do_api_proxy.write_private(str(url_file), "http://127.0.0.1:9/x\n")
        threading.Timer(0.3, owner.kill).start()
        assert do_api_proxy.wait_for_stop(str(url_file), "http://127.0.0.1:9/x\n", owner.pid, start,
                                          lifetime=30) == "owner_gone"
    finally:
        owner.kill()
        owner.wait(timeout=10)
    assert do_api_proxy.wait_for_stop(str(url_file), "http://127.0.0.1:9/x\n", os.getpid(),
                                      do_api_proxy.process_start(os.getpid()) or "", lifetime=0.3) == "lifetime"
    assert do_api_proxy.process_start(owner.pid) is None
