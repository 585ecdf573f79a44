# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Complete reads: page through a namespace until a short page, never trusting one page (ship-gate defect 10)."""

from __future__ import annotations

from urllib.parse import quote

from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import Endpoint
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.writes import digest

PAGE = 1000
MAX_PAGES = 1000


def read_namespace(client: Endpoint, namespace: str) -> tuple[dict[str, list[str]] | None, str | None, int]:
    """{title: [id, digest]} of every memory in the namespace, or (None, error) if any page failed."""
    found: dict[str, list[str]] = {}
    offset = 0
    pages = 0
    for _page in range(MAX_PAGES):
        resp = client.request("GET", f"/api/v1/memories?namespace={quote(namespace)}&limit={PAGE}&offset={offset}")
        pages += 1
        if resp["status"] != 200 or not isinstance(resp["body"], dict):
            return None, f"{resp['status'] or resp['error']}", pages
        rows = resp["body"].get("memories") or []
        for mem in rows:
            found[mem["title"]] = [mem["id"], digest(mem["title"], mem.get("content", ""))]
        if len(rows) < PAGE:
            return found, None, pages
        offset += len(rows)
    return None, "too many pages", pages
