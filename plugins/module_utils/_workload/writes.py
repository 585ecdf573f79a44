# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Write workload (Jepsen client + generator for a set): distinct memories sent to one or more leaders.

Every write has a title unique in its namespace (``<prefix>-<n>``; numbering continues after the writes of the
same prefix already in the history, so re-running a step never collides), a known content, the stable
``X-Agent-Id`` and an explicit scope. Each write is an ``invoke`` op appended before the request and a completion
appended after it: ``ok`` on 201 (certainly written), ``fail`` when it certainly was not (a 4xx, or the connection
failed before the request was sent), ``info`` when unknown (503 quorum_not_met whose local write is kept, other
5xx, 202 pending, timeouts, resets).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import Endpoint, Response
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History, tail

PATH = "/api/v1/memories"
SCOPES = ("private", "team", "unit", "org", "collective")
RESPONSE_HEADERS = ("retry-after", "content-type")
WATCH_INTERVAL_S = 0.02


def digest(title: str, content: str) -> str:
    """Short content fingerprint recorded for each write and each memory read."""
    return hashlib.sha256(f"{title}\0{content}".encode()).hexdigest()[:16]


def outcome(resp: Response) -> str:
    """Jepsen op type of a write's completion."""
    if resp.status == 201:
        return "ok"
    if resp.status is None:
        return "fail" if resp.refused_before_request else "info"
    if 400 <= resp.status < 500:
        return "fail"
    return "info"


def response_record(resp: Response) -> dict[str, Any]:
    """The completion fields of an HTTP op: never the request headers (they carry the API key)."""
    body = resp.body if isinstance(resp.body, dict) else ({"text": resp.body} if resp.body is not None else {})
    rec: dict[str, Any] = {"status": resp.status, "latency_ms": resp.latency_ms, "error_class": resp.error_class,
                           "response": body,
                           "headers": {k: v for k, v in resp.headers.items() if k in RESPONSE_HEADERS}}
    if resp.error_class:
        rec["detail"] = resp.detail
        rec["refused_before_request"] = resp.refused_before_request
    return rec


def next_numbers(ops: list[dict[str, Any]], namespace: str, prefix: str) -> tuple[int, int]:
    """(first title number, first process id) that do not collide with the history's earlier writes."""
    pattern = re.compile(re.escape(prefix) + r"-(\d+)$")
    number, process = 0, 0
    for op in ops:
        if isinstance(op.get("process"), int) and not isinstance(op.get("process"), bool):
            process = max(process, op["process"] + 1)
        if op.get("f") != "write" or op.get("type") != "invoke":
            continue
        value = op.get("value") or {}
        match = pattern.match(str(value.get("title", "")))
        if match and value.get("namespace") == namespace:
            number = max(number, int(match.group(1)) + 1)
    return number, process


class WriteWorkload:
    """``count`` writes into ``namespace`` over ``leaders`` ([(name, url)], round-robin) by ``concurrency`` workers.

    With ``agents``, worker ``i`` writes as ``agents[i % len(agents)]`` (its own ``X-Agent-Id``): several agents
    writing concurrently, as ship-gate phase 2 does; otherwise every worker uses the endpoint's agent id.
    """

    def __init__(self, history: History, leaders: list[tuple[str, str]], endpoint_args: dict[str, Any],
                 namespace: str, prefix: str, scope: str = "collective", step: str | None = None,
                 tier: str = "mid", first_number: int = 0, first_process: int = 0,
                 agents: list[str] | None = None) -> None:
        if not leaders:
            raise ValueError("at least one leader is needed")
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}")
        self.agents = [str(a) for a in agents or []]
        self.history, self.leaders, self.endpoint_args = history, list(leaders), dict(endpoint_args)
        self.namespace, self.prefix, self.scope, self.step, self.tier = namespace, prefix, scope, step, tier
        self.first_number, self.first_process = first_number, first_process
        self._lock = threading.Lock()
        self.counts = {"ok": 0, "fail": 0, "info": 0}
        self.statuses: dict[str, int] = {}
        self.acked_ids: list[str] = []
        self.attempted = 0

    def plan(self, n: int) -> tuple[str, str, dict[str, Any]]:
        """(leader name, title, request body) of write number ``n``."""
        node = self.leaders[n % len(self.leaders)][0]
        title = f"{self.prefix}-{n:05d}"
        content = f"{self.prefix} write {n} via {node} in {self.namespace}"
        body = {"title": title, "content": content, "namespace": self.namespace, "tier": self.tier,
                "source": "api", "priority": 5, "scope": self.scope}
        return node, title, body

    def agent_of(self, process: int) -> str | None:
        if self.agents:
            return self.agents[(process - self.first_process) % len(self.agents)]
        return self.endpoint_args.get("agent_id")

    def _write(self, client: Endpoint, process: int, node: str, title: str, body: dict[str, Any]) -> bool:
        """One write, recorded; True when the node refused the connection (it is not listening)."""
        agent = self.agent_of(process)
        value = {"title": title, "namespace": self.namespace, "digest": digest(title, body["content"]),
                 "scope": self.scope, "agent_id": agent}
        request = {"method": "POST", "path": PATH, "title": title, "namespace": self.namespace,
                   "scope": self.scope, "agent_id": agent, "tier": self.tier, "content": body["content"]}
        base = {"process": process, "f": "write", "node": node, "value": value}
        if self.step:
            base["step"] = self.step
        self.history.append({**base, "type": "invoke", "request": request})
        resp = client.request("POST", PATH, body)
        kind = outcome(resp)
        self.history.append({**base, "type": kind, **response_record(resp)})
        with self._lock:
            self.counts[kind] += 1
            key = str(resp.status) if resp.status is not None else str(resp.error_class)
            self.statuses[key] = self.statuses.get(key, 0) + 1
            if kind == "ok" and isinstance(resp.body, dict) and isinstance(resp.body.get("id"), str):
                self.acked_ids.append(resp.body["id"])
        return resp.error_class == "connect_refused"

    def _watch(self, until_event: str, stop: threading.Event, seen: threading.Event) -> None:
        """Set ``seen`` (and so stop the writers) once a nemesis op ``until_event`` is appended to the history."""
        offset = os.path.getsize(self.history.path) if os.path.exists(self.history.path) else 0
        while not stop.is_set():
            ops, offset = tail(self.history.path, offset)
            if any(op.get("process") == "nemesis" and op.get("f") == until_event for op in ops):
                seen.set()
                return
            stop.wait(WATCH_INTERVAL_S)

    def run(self, count: int, concurrency: int = 1, deadline_s: float | None = None, until_event: str | None = None,
            stagger_s: float = 0.0, refused_pause_s: float = 0.0) -> dict[str, Any]:
        """Run the writes; no new write starts after ``deadline_s`` seconds (each request has its own timeout).

        ``until_event``: write until a nemesis op of that name is appended to the history (``count`` is then a cap),
        so the writes are certainly in flight when the fault lands; ``stagger_s``: pause of each worker between
        two of its writes; ``refused_pause_s``: pause of a worker after a refused connection (a killed node), so a
        dead leader is not hammered while the fault is being recorded.
        """
        start = time.monotonic()
        stop_at = start + deadline_s if deadline_s else None
        numbers = iter(range(self.first_number, self.first_number + count))
        errors: list[str] = []
        finished, event_seen = threading.Event(), threading.Event()
        watcher = None
        if until_event:
            watcher = threading.Thread(target=self._watch, args=(until_event, finished, event_seen), daemon=True)
            watcher.start()

        def worker(process: int) -> None:
            clients: dict[str, Endpoint] = {}
            first, refused = True, False
            try:
                while True:
                    pause = stagger_s + (refused_pause_s if refused else 0.0)
                    if not first and pause > 0 and finished.wait(pause):
                        return
                    first = False
                    with self._lock:
                        n = next(numbers, None)
                        if n is None or (stop_at is not None and time.monotonic() >= stop_at) or event_seen.is_set():
                            return
                        self.attempted += 1
                    node, title, body = self.plan(n)
                    if node not in clients:
                        url = dict(self.leaders)[node]
                        clients[node] = Endpoint(url, **{**self.endpoint_args, "agent_id": self.agent_of(process)})
                    refused = self._write(clients[node], process, node, title, body)
            except Exception as exc:  # a worker that dies must not hide: the module reports it
                with self._lock:
                    errors.append(f"worker {process}: {type(exc).__name__}: {exc}")
            finally:
                for client in clients.values():
                    client.close()

        workers = max(1, min(int(concurrency), max(1, count)))
        if self.agents and workers < len(self.agents):
            raise ValueError(f"{len(self.agents)} agents need at least as many workers, got {workers}")
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for i in range(workers):
                    pool.submit(worker, self.first_process + i)
        finally:
            finished.set()
            if watcher is not None:
                watcher.join(5)
        last = self.first_number + self.attempted - 1
        titles = [f"{self.prefix}-{n:05d}" for n in (self.first_number, last)] if self.attempted else []
        return {"attempted": self.attempted, "ok": self.counts["ok"], "fail": self.counts["fail"],
                "info": self.counts["info"], "acked": self.counts["ok"], "acked_ids": sorted(self.acked_ids),
                "statuses": dict(sorted(self.statuses.items())), "seconds": round(time.monotonic() - start, 3),
                "namespace": self.namespace, "scope": self.scope,
                "titles": titles,
                "deadline_reached": bool(stop_at is not None and self.attempted < count and not event_seen.is_set()),
                "until_event_seen": event_seen.is_set() if until_event else None,
                "errors": errors}
