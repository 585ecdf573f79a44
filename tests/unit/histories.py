"""Hand-written histories for checker tests: the shapes the modules record."""

from __future__ import annotations

from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._workload.writes import digest


class Builder:
    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []
        self.t = 1000.0

    def _add(self, **op: Any) -> dict[str, Any]:
        self.t += 0.1
        rec = {"index": len(self.ops), "time": self.t, **op}
        self.ops.append(rec)
        return rec

    def write(self, title: str, node: str = "node-a", status: int | None = 201, acks: int | None = 2,
              step: str = "main", body: dict[str, Any] | None = None, retry_after: str | None = None,
              content: str | None = None) -> str:
        content = content or f"content {title}"
        value = {"title": title, "namespace": "ns", "digest": digest(title, content), "scope": "collective"}
        self._add(process=0, type="invoke", f="write", node=node, value=value, step=step)
        mem_id = f"id-{title}"
        if body is None:
            body = {"id": mem_id, "quorum_acks": acks} if status == 201 else {}
        kind = "ok" if status == 201 else ("fail" if status and 400 <= status < 500 else "info")
        self._add(process=0, type=kind, f="write", node=node, value=value, step=step, status=status,
                  response=body, retry_after=retry_after, error=None if status else "timeout")
        return mem_id

    def read(self, node: str, titles: list[str], step: str = "main", tamper: dict[str, str] | None = None,
             extra: list[str] | None = None) -> None:
        found = {t: [f"id-{t}", digest(t, (tamper or {}).get(t, f"content {t}"))] for t in titles}
        for t in extra or []:
            found[t] = [f"id-{t}", digest(t, "x")]
        self._add(process="reader", type="ok", f="read", node=node, step=step, value={"found": found, "pages": 1})

    def event(self, f: str) -> None:
        self._add(process="nemesis", type="info", f=f, node=None, value=None)

    def probe(self, identity: str, expect: str, path: str, status: int | None, error: str | None) -> None:
        value = {"identity": identity, "expect": expect, "method": "GET", "path": path}
        self._add(process="prober", type="invoke", f="probe", value=value)
        self._add(process="prober", type="ok" if status and status < 400 else "fail", f="probe", value=value,
                  status=status, error=error)
