"""Quorum federation (contract §3.7-§3.10): W-of-N fan-out over mTLS, retry queue (DLQ), catch-up loop."""

from __future__ import annotations

import http.client
import json
import queue
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from ai_memory_standin.faults import receive
from ai_memory_standin.models import ns_of, stamp

RETRY_DELAY_S = 0.25
CONNECT_TIMEOUT_S = 2.0
CATCHUP_PAGE = 500
DLQ_BATCH = 64
FANOUT_WORKERS_PER_PEER = 16


def log(msg: str) -> None:
    print(f"{stamp()} INFO ai_memory::federation: {msg}", file=sys.stderr, flush=True)


class Peer:
    """One peer base URL with a small pool of keep-alive connections."""

    def __init__(self, index: int, url: str, ctx: ssl.SSLContext | None, timeout_s: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"invalid peer URL: {url}")
        self.index = index
        self.id = f"peer-{index}"
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = parts.scheme == "https"
        self.ctx = ctx
        self.timeout_s = timeout_s
        self._idle: queue.LifoQueue[http.client.HTTPConnection] = queue.LifoQueue()

    def _connect(self) -> http.client.HTTPConnection:
        if self.tls:
            return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=self.timeout_s)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        """One request; a pooled connection the peer has closed (e.g. it restarted) is replaced transparently,
        as reqwest's pool does, so only real failures reach the caller."""
        for attempt in range(2):
            try:
                conn, reused = self._idle.get_nowait(), True
            except queue.Empty:
                conn, reused = self._connect(), False
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                stale = reused and not isinstance(exc, (TimeoutError, socket.timeout))
                if stale and attempt == 0:
                    self.close()  # the other idle connections are as stale as this one
                    continue
                raise
            if resp.will_close:
                conn.close()
            else:
                self._idle.put(conn)
            return resp.status, data
        raise OSError("unreachable")

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


@dataclass
class _Round:
    needed: int
    peers: int
    got: int = 1  # the local commit counts as one of W
    done: int = 0
    decided: bool = False
    cond: threading.Condition = field(default_factory=threading.Condition)


class Federation:
    def __init__(self, *, store: Any, peers: list[str], writes: int, timeout_ms: int, catchup_secs: int,
                 ctx: ssl.SSLContext | None, api_key: str | None, hostname: str, faults: frozenset[str],
                 sync_trust_peer: bool) -> None:
        normalised = [p.rstrip("/").lower() for p in peers]
        if len(set(normalised)) != len(normalised):
            raise ValueError("duplicate --quorum-peers URLs")
        self.store = store
        self.timeout_s = timeout_ms / 1000.0
        self.peers = [Peer(i, url.rstrip("/"), ctx, self.timeout_s) for i, url in enumerate(peers)]
        self.n = 1 + len(self.peers)
        self.w = min(max(writes, 1), self.n)
        self.catchup_secs = catchup_secs
        self.api_key = api_key
        self.sender = f"host:{hostname}"
        self.faults = faults
        self.sync_trust_peer = sync_trust_peer
        # one pool per peer (the real daemon spawns one task per peer per write): a slow or paused peer only
        # delays its own pushes, never the acknowledgements of the others
        self.pools = {peer.id: ThreadPoolExecutor(max_workers=FANOUT_WORKERS_PER_PEER,
                                                  thread_name_prefix=f"fanout-{peer.id}") for peer in self.peers}
        self.stop_event = threading.Event()
        self.metrics = {"partial_quorum": 0, "fanout_dropped": 0, "retry_ok": 0, "retry_fail": 0}
        self._metrics_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # --- outbound ----------------------------------------------------------------------------------
    def _headers(self, mem_id: str | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "x-peer-id": self.sender, "x-agent-id": self.sender}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        if mem_id:
            headers["Idempotency-Key"] = mem_id
        return headers

    def push(self, peer: Peer, payload: bytes, mem_id: str | None) -> str | None:
        """POST /api/v1/sync/push with one retry after 250 ms. Returns None on ack, else the error."""
        error = "unknown"
        for attempt in range(2):
            try:
                status, _body = peer.request("POST", "/api/v1/sync/push", payload, self._headers(mem_id))
                if 200 <= status < 300:
                    return None
                error = f"http {status}"
            except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            if attempt == 0 and not self.stop_event.wait(RETRY_DELAY_S):
                continue
        if "phantom_ack" in self.faults:
            return None  # FAULT: a failed push is counted as an acknowledgement
        return error

    def replicate(self, body: dict[str, Any], mem_id: str | None, retry: bool = True) -> tuple[int, str]:
        """Fan a change out to every peer; return (got, reason) once W is reached or the deadline passes.
        ``retry``: a push that failed goes to the DLQ for the catch-up loop to replay (memories); links are
        pushed once and never queued, as the real daemon does (and catch-up carries no links)."""
        drop = "drop_fanout" in self.faults
        if drop:
            body = {**body, "standin_hidden": True}  # FAULT: copies that do land are hidden from catch-up too
        payload = json.dumps({"sender_agent_id": self.sender, "dry_run": False, **body}).encode()
        rnd = _Round(needed=self.w, peers=len(self.peers))
        deadline = time.monotonic() + self.timeout_s

        def task(peer: Peer, gate: threading.Event | None) -> None:
            if gate is not None:
                gate.wait(self.timeout_s)
            with rnd.cond:
                if drop and rnd.got >= rnd.needed:
                    # FAULT: post-quorum fan-out silently abandoned, never queued for retry.
                    rnd.done += 1
                    with self._metrics_lock:
                        self.metrics["fanout_dropped"] += 1
                    rnd.cond.notify_all()
                    return
            error = self.push(peer, payload, mem_id)
            with rnd.cond:
                rnd.done += 1
                if error is None:
                    rnd.got += 1
                rnd.cond.notify_all()
            if error is not None and retry and "no_catchup" not in self.faults:
                self.store.dlq_add(mem_id or "-", peer.id, payload.decode(), error, stamp())

        if drop:
            # sequential dispatch, so the peers after the first W-1 acks never receive the write
            gates = [threading.Event() for _peer in self.peers]
            for i, peer in enumerate(self.peers):
                self.pools[peer.id].submit(self._chain, task, peer, gates[i],
                                           gates[i + 1] if i + 1 < len(gates) else None)
            gates[0].set()
        else:
            for peer in self.peers:
                self.pools[peer.id].submit(task, peer, None)

        with rnd.cond:
            while True:
                quorum = rnd.got >= rnd.needed and (rnd.done >= 1 or not self.peers)
                if quorum or rnd.done >= rnd.peers:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                rnd.cond.wait(left)
            got, done = rnd.got, rnd.done
        if got >= self.w:
            if got < self.n:
                with self._metrics_lock:
                    self.metrics["partial_quorum"] += 1
            if drop and mem_id:
                self.store.hide_from_catchup(mem_id)
            return got, "ok"
        reason = "timeout" if (got > 1 or done >= len(self.peers)) else "unreachable"
        return got, reason

    @staticmethod
    def _chain(task: Callable[[Peer, threading.Event | None], None], peer: Peer, gate: threading.Event,
               nxt: threading.Event | None) -> None:
        try:
            task(peer, gate)
        finally:
            if nxt is not None:
                nxt.set()

    # --- background loops --------------------------------------------------------------------------
    def start(self) -> None:
        if self.catchup_secs <= 0 or "no_catchup" in self.faults:
            return
        log(f"catchup loop enabled: polling {len(self.peers)} peer(s) every {self.catchup_secs}s")
        self._thread = threading.Thread(target=self._loop, name="catchup", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        wait = min(5.0, float(self.catchup_secs))
        while not self.stop_event.wait(wait):
            wait = float(self.catchup_secs)
            self.replay_dlq()
            for peer in self.peers:
                if self.stop_event.is_set():
                    return
                try:
                    self.catch_up(peer)
                except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as exc:
                    log(f"catchup: pull: {peer.id} failed: {exc}")

    def catch_up(self, peer: Peer) -> int:
        applied = 0
        for _page in range(100):  # bounded: at most 100 pages per peer per tick
            params = {"peer": self.sender, "limit": str(CATCHUP_PAGE)}
            watermark = self.store.watermark(peer.id)
            if watermark:
                params["since"] = watermark
            status, data = peer.request("GET", "/api/v1/sync/since?" + urlencode(params), None,
                                        {"x-peer-id": self.sender, "x-agent-id": self.sender,
                                         **({"x-api-key": self.api_key} if self.api_key else {})})
            if status != 200:
                raise ValueError(f"http {status}")
            doc = json.loads(data)
            rows = doc.get("memories") or []
            for mem in rows:
                if receive(self.store, mem, self.faults) == "applied":
                    applied += 1
            if rows:
                latest = doc.get("latest_updated_at") or rows[-1]["updated_at"]
                # never past this node's own clock: a row stamped in the future (a clock-skewed peer) would move
                # the watermark ahead, and rows written later but stamped earlier would never be pulled
                latest = min(latest, stamp(), key=ns_of)
                if latest == watermark:
                    break
                self.store.set_watermark(peer.id, latest)
            if len(rows) < CATCHUP_PAGE:
                break
        if applied:
            log(f"catchup: applied {applied} memories from peer {peer.id}")
        return applied

    def replay_dlq(self) -> None:
        by_id = {p.id: p for p in self.peers}
        for row_id, peer_id, payload in self.store.dlq_pending(DLQ_BATCH):
            peer = by_id.get(peer_id)
            if peer is None or self.stop_event.is_set():
                continue
            error = self.push(peer, payload.encode(), None)
            with self._metrics_lock:
                self.metrics["retry_ok" if error is None else "retry_fail"] += 1
            if error is None:
                self.store.dlq_done(row_id, stamp())
            else:
                self.store.dlq_bump(row_id, error)

    def stop(self, wait_s: float = 5.0) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(wait_s)
        for pool in self.pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        for peer in self.peers:
            peer.close()


def hostname() -> str:
    return socket.gethostname()
