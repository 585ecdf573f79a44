# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Write workload: distinct memories (unique titles) sent to one or more leaders, every op in the history."""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import Endpoint
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History


def digest(title: str, content: str) -> str:
    return hashlib.sha256(f"{title}\0{content}".encode()).hexdigest()[:16]


def outcome(status: int | None) -> str:
    """ok = certainly written (201); fail = certainly not (4xx, refused before the request); info = unknown."""
    if status == 201:
        return "ok"
    if status is not None and 400 <= status < 500:
        return "fail"
    return "info"


def run_writes(leaders: list[tuple[str, dict[str, Any]]], count: int, concurrency: int, namespace: str,
               prefix: str, scope: str | None, history: History, step: str, endpoint_args: dict[str, Any],
               process_base: int = 0) -> dict[str, Any]:
    """Write `count` memories, leader chosen round-robin; worker i is process `process_base + i`."""
    lock = threading.Lock()
    statuses: dict[str, int] = {}
    acked: list[str] = []
    counter = iter(range(count))

    def worker(process: int) -> None:
        clients = {name: Endpoint(url, **endpoint_args) for name, url in
                   ((n, conf["url"]) for n, conf in leaders)}
        try:
            while True:
                with lock:
                    n = next(counter, None)
                if n is None:
                    return
                node = leaders[n % len(leaders)][0]
                title = f"{prefix}-{n:05d}"
                content = f"{prefix} write {n} via {node}"
                body: dict[str, Any] = {"title": title, "content": content, "namespace": namespace, "tier": "mid",
                                        "source": "api", "priority": 5}
                if scope:
                    body["scope"] = scope
                value = {"title": title, "namespace": namespace, "digest": digest(title, content),
                         "scope": scope or "private", "agent_id": endpoint_args.get("agent_id")}
                history.append({"process": process, "type": "invoke", "f": "write", "node": node, "value": value,
                                "step": step})
                resp = clients[node].request("POST", "/api/v1/memories", body)
                kind = outcome(resp["status"])
                rbody = resp["body"] if isinstance(resp["body"], dict) else {"raw": resp["body"]}
                history.append({"process": process, "type": kind, "f": "write", "node": node, "value": value,
                                "step": step, "status": resp["status"], "error": resp["error"],
                                "latency_ms": resp["latency_ms"], "response": rbody,
                                "retry_after": resp["headers"].get("retry-after")})
                with lock:
                    key = str(resp["status"]) if resp["status"] is not None else str(resp["error"])
                    statuses[key] = statuses.get(key, 0) + 1
                    if kind == "ok":
                        acked.append(str(rbody.get("id")))
        finally:
            for client in clients.values():
                client.close()

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for i in range(max(1, concurrency)):
            pool.submit(worker, process_base + i)
    return {"attempted": count, "acked": len(acked), "acked_ids": sorted(acked), "statuses": statuses,
            "seconds": round(time.monotonic() - start, 3)}
