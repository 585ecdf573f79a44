"""Hand-written histories in the exact shape the modules record (ns times, error_class, id-keyed reads)."""

from __future__ import annotations

from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._workload.writes import digest

T0 = 1_795_000_000 * 10**9
STEP_NS = 100_000_000  # 100 ms between consecutive ops
SHORT = {"error": "quorum_not_met", "got": 1, "needed": 2, "reason": "timeout"}


def seen(f: str, value: Any = None, node: str | None = None) -> dict[str, Any] | None:
    """What the nemesis modules observe when a fault took effect (port_probe, network_partition, node_process)."""
    nodes = value if isinstance(value, list) else (value or {}).get("nodes") if isinstance(value, dict) else None
    nodes = list(nodes or ([node] if node else []))
    if f == "stop":
        return {"refused": True, "nodes": nodes, "method": "tcp connect",
                "probes": [{"node": n, "to": f"{n}:9077", "outcome": "refused", "attempts": 1} for n in nodes]}
    if f == "partition":
        probe = {"to": "10.250.0.10:9077", "outcome": "blocked", "baseline": "connected"}
        return {"blocked": True, "probe": probe, "probes": [probe], "note": None, "method": "tcp connect"}
    if f == "kill":
        return {"gone": True, "pid": 4242, "state": None, "method": "/proc/4242/stat after SIGKILL"}
    if f == "pause":
        return {"paused": True, "pid": 4243, "state": "T", "method": "/proc/4243/stat after SIGSTOP"}
    return None


def mem_id(title: str) -> str:
    return f"id-{title}"


class H:
    """Builder: each call appends ops like the modules do; ``ops`` is the history."""

    def __init__(self, namespace: str = "ns") -> None:
        self.ops: list[dict[str, Any]] = []
        self.namespace = namespace
        self._process = 0

    def _add(self, **op: Any) -> dict[str, Any]:
        index = len(self.ops)
        rec = {"index": index, "time": T0 + index * STEP_NS, "process": op.pop("process", None),
               "type": op.pop("type"), "f": op.pop("f"), "node": op.pop("node", None),
               "value": op.pop("value", None), **op}
        self.ops.append(rec)
        return rec

    def content(self, title: str) -> str:
        return f"content of {title}"

    def write(self, title: str, node: str = "node-a", status: int | None = 201, acks: int | None = 2,
              step: str | None = None, body: dict[str, Any] | None = None, retry_after: str | None = None,
              error_class: str | None = None, refused_before_request: bool = False, scope: str = "collective",
              agent: str = "ai:tester", complete: bool = True) -> str:
        """A write's invoke and completion (``complete=False`` leaves it pending)."""
        process = self._process
        self._process += 1
        value = {"title": title, "namespace": self.namespace, "digest": digest(title, self.content(title)),
                 "scope": scope, "agent_id": agent}
        extra = {"step": step} if step else {}
        self._add(process=process, type="invoke", f="write", node=node, value=value,
                  request={"method": "POST", "path": "/api/v1/memories", "title": title, "scope": scope,
                           "agent_id": agent, "namespace": self.namespace}, **extra)
        if not complete:
            return mem_id(title)
        if body is None:
            body = {"id": mem_id(title), "quorum_acks": acks, "title": title} if status == 201 else {}
        if status == 201:
            kind = "ok"
        elif status is None:
            kind = "fail" if refused_before_request else "info"
        else:
            kind = "fail" if 400 <= status < 500 else "info"
        headers = {"retry-after": retry_after} if retry_after is not None else {}
        self._add(process=process, type=kind, f="write", node=node, value=value, status=status,
                  latency_ms=5.0, error_class=error_class, response=body, headers=headers, **extra)
        return mem_id(title)

    def read(self, node: str, titles: list[str], step: str | None = None, tamper: dict[str, str] | None = None,
             extra: list[str] | None = None, ids: dict[str, str] | None = None) -> dict[str, Any]:
        """A complete list read of the namespace on ``node`` showing ``titles`` (+ ``extra`` never written)."""
        found: dict[str, list[str]] = {}
        for t in titles:
            found[(ids or {}).get(t, mem_id(t))] = [t, digest(t, (tamper or {}).get(t, self.content(t)))]
        for t in extra or []:
            found[mem_id(t)] = [t, digest(t, "stranger")]
        value = {"key": "id", "namespace": self.namespace, "count": len(found), "pages": 2, "found": found}
        more = {"step": step} if step else {}
        return self._add(process="reader", type="ok", f="read", node=node, value=value, status=200, **more)

    def read_same(self, node: str, since: int) -> dict[str, Any]:
        value = {"key": "id", "namespace": self.namespace, "unchanged_since": since}
        return self._add(process="reader", type="ok", f="read", node=node, value=value, status=200)

    def read_fail(self, node: str, error_class: str = "timeout") -> dict[str, Any]:
        return self._add(process="reader", type="fail", f="read", node=node,
                         value={"key": "id", "namespace": self.namespace}, status=None, error_class=error_class)

    def get(self, node: str, title: str | None, memory_id: str, tamper: str | None = None) -> dict[str, Any]:
        found = None if title is None else [title, digest(title, tamper or self.content(title))]
        return self._add(process="reader", type="ok", f="get", node=node, value={"id": memory_id, "found": found},
                         status=200 if found else 404)

    def event(self, f: str, value: Any = None, node: str | None = None, at: int | None = None,
              observed: Any = "auto") -> dict[str, Any]:
        """A nemesis op. A fault (stop, kill, partition, pause) carries by default the positive observation the
        nemesis modules record (``observed=None``: none, a dict: that one)."""
        more: dict[str, Any] = {"at": at} if at is not None else {}
        if observed == "auto":
            observed = seen(f, value, node)
        if observed is not None:
            more["observed"] = observed
        return self._add(process="nemesis", type="info", f=f, node=node, value=value, **more)

    def probe(self, node: str | None, identity: str, expect: str, method: str, path: str, status: int | None,
              error_class: str | None = None) -> None:
        value = {"identity": identity, "expect": expect, "method": method, "path": path}
        where = {"node": node} if node is not None else {}
        self._add(process="prober", type="invoke", f="probe", value=value, **where)
        kind = "ok" if status is not None else ("fail" if error_class == "tls_refused" else "info")
        self._add(process="prober", type=kind, f="probe", value=value, status=status, error_class=error_class,
                  **where)
