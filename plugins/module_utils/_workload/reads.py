# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Complete reads of a node (ship-gate defect 10: a count capped at the server's page size is not a count).

``read_namespace`` pages ``GET /api/v1/memories?namespace=&limit=1000&offset=`` and never trusts one page: it
keeps going until a page adds nothing (empty, or only ids already seen), so a server that silently caps the page
below ``limit`` (the default of 20, or the maximum of 1000) is still read completely. ``get_memory`` reads one id.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import Endpoint, Response
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.records import (
    clock_digest,
    intent_digest,
    replicated_digest,
)

LIMIT = 1000
MAX_PAGES = 10000
LIST_PATH = "/api/v1/memories"


@dataclass
class NamespaceRead:
    """A read of a whole namespace. ``memories`` is None when any page failed (a partial read is no read)."""

    memories: dict[str, dict[str, Any]] | None
    pages: int = 0
    page_sizes: list[int] = field(default_factory=list)
    status: int | None = None
    error_class: str | None = None
    detail: str | None = None
    latency_ms: float = 0.0
    duplicates: int = 0
    foreign: int = 0

    @property
    def ok(self) -> bool:
        return self.memories is not None

    def found(self) -> dict[str, list[Any]]:
        """``{id: [title, intent digest, replicated digest, clock digest]}``: what the history records of this
        read."""
        return {mid: fingerprint(mem) for mid, mem in sorted((self.memories or {}).items())}


def fingerprint(memory: dict[str, Any]) -> list[Any]:
    """[title, digest of the client-chosen fields, digest of the replicated record but its vector clock, digest of
    the vector clock or None] (records.py)."""
    return [str(memory.get("title", "")), intent_digest(memory), replicated_digest(memory), clock_digest(memory)]


def read_namespace(client: Endpoint, namespace: str, limit: int = LIMIT, max_pages: int = MAX_PAGES,
                   deadline: float | None = None) -> NamespaceRead:
    """Every memory of ``namespace`` the node shows this client, by id. ``deadline`` is a ``time.monotonic()``."""
    result = NamespaceRead(memories={})
    memories: dict[str, dict[str, Any]] = {}
    offset = 0
    start = time.monotonic()
    while True:
        if result.pages >= max_pages or (deadline is not None and time.monotonic() >= deadline and result.pages):
            result.memories, result.error_class = None, "incomplete"
            result.detail = f"stopped after {result.pages} pages (page or time budget) before an empty page"
            break
        path = f"{LIST_PATH}?namespace={quote(namespace, safe='')}&limit={limit}&offset={offset}"
        resp = client.request("GET", path)
        result.pages += 1
        rows = _rows(resp)
        if rows is None:
            result.memories, result.status, result.error_class = None, resp.status, resp.error_class
            result.detail = resp.detail or f"HTTP {resp.status}: {str(resp.body)[:200]}"
            break
        result.status = resp.status
        result.page_sizes.append(len(rows))
        new = 0
        for mem in rows:
            mid = mem.get("id")
            if not isinstance(mid, str):
                continue
            if mem.get("namespace") not in (None, namespace):
                result.foreign += 1
                continue
            if mid in memories:
                result.duplicates += 1
                continue
            memories[mid] = mem
            new += 1
        if rows and not new and len(rows) >= result.page_sizes[0]:
            result.memories, result.error_class = None, "incomplete"
            result.detail = f"page {result.pages} (offset {offset}) repeats earlier rows: the offset is not honoured"
            break
        if not rows or not new:
            result.memories = memories
            break
        offset += len(rows)
    result.latency_ms = round((time.monotonic() - start) * 1000, 3)
    return result


def _rows(resp: Response) -> list[dict[str, Any]] | None:
    if resp.status != 200 or not isinstance(resp.body, dict) or not isinstance(resp.body.get("memories"), list):
        return None
    return [m for m in resp.body["memories"] if isinstance(m, dict)]


def get_memory(client: Endpoint, memory_id: str) -> tuple[Response, dict[str, Any] | None]:
    """``GET /api/v1/memories/{id}``: (response, the memory on 200 else None). 404 is an answer: not there."""
    resp = client.request("GET", f"{LIST_PATH}/{quote(memory_id, safe='')}")
    memory = None
    if resp.status == 200 and isinstance(resp.body, dict):
        inner = resp.body.get("memory", resp.body)
        memory = inner if isinstance(inner, dict) else None
    return resp, memory
