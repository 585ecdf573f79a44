# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""A node's wall clock as its HTTP ``Date`` header shows it, against the client's: how a clock skew is measured.

The offset is ``Date - t`` where ``t`` is the client's wall time halfway through the request; ``Date`` has a
resolution of one second, so an offset within ``RESOLUTION_S`` of zero means "no measurable skew".
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import Endpoint

HEALTH = "/api/v1/health"
RESOLUTION_S = 1.5


def measure(client: Endpoint) -> dict[str, Any]:
    """One clock reading: the fields of an ``f: clock`` op (``value.offset_s`` is None when nothing was read)."""
    before = time.time()
    resp = client.request("GET", HEALTH)
    after = time.time()
    date = resp.headers.get("date") if resp.status is not None else None
    offset = None
    if date:
        try:
            offset = round(parsedate_to_datetime(date).timestamp() - (before + after) / 2, 3)
        except (TypeError, ValueError):
            offset = None
    return {"type": "ok" if offset is not None else "fail", "status": resp.status, "latency_ms": resp.latency_ms,
            "error_class": resp.error_class, "value": {"offset_s": offset, "date": date}}
