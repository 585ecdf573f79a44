# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""The API's route table, in one place: what S3 walks with every identity (``mtls_probe``) and what its checker
(``mtls_allowlist``) requires to have been walked.

Source: ai-memory 0.7.0 (crates.io), ``src/lib.rs`` ``build_router_with_timeout`` (every ``.route(...)``: 89 method
and path pairs on one axum router, all behind the same TLS listener) with the paths of ``src/handlers/routes.rs``.
Read, not copied: the facts (method, path) carry over. Added to the product's table: MCP over HTTP (0.7.0 serves
MCP on stdio only; probed in case a build serves it over HTTP) and a few paths no router serves.

A stranger must get no HTTP answer on any of them (the allowlist is enforced in the TLS handshake, before any
route); the allowlisted control must get one (any status: the route reached the HTTP layer), except where
``control_status`` names the one it must get. The requests are harmless when served: path parameters name an id
no memory has (``NOWHERE_ID``), bodies are empty objects or confined to the probe's own namespace, and the
destructive admin routes are sent in a shape their extractor refuses (``older_than_days=never``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

ROUTE_TABLE = "ai-memory-0.7.0"
SOURCE = ("ai-memory 0.7.0 src/lib.rs build_router_with_timeout, paths from src/handlers/routes.rs; "
          "plus MCP over HTTP and unknown paths")
NOWHERE_ID = "00000000-0000-4000-8000-00000000e553"
# A stream (server-sent events) never ends: the control's answer is its status line, read within this timeout.
STREAM_TIMEOUT_S = 3.0

# (method, route, group, request path (None: the route; {id}: NOWHERE_ID, {ns}: the probe's namespace),
#  body (None: none; the text "memory": a small memory in the probe's namespace; {ns} replaced in strings),
#  control_status (None: any HTTP status), stream)
_PARAM = re.compile(r"\{(\w+)\}")
_E: dict[str, Any] = {}
_TABLE: tuple[tuple[str, str, str, str | None, Any, int | None, bool], ...] = (
    ("GET", "/api/v1/health", "health", None, None, 200, False),
    ("GET", "/metrics", "health", None, None, None, False),
    ("GET", "/api/v1/metrics", "health", None, None, None, False),
    ("GET", "/api/v1/memories", "memories", "/api/v1/memories?namespace={ns}&limit=1", None, None, False),
    ("POST", "/api/v1/memories", "memories", None, "memory", 201, False),
    ("POST", "/api/v1/memories/bulk", "memories", None, [], None, False),
    ("GET", "/api/v1/memories/{id}", "memories", None, None, None, False),
    ("PUT", "/api/v1/memories/{id}", "memories", None, {"title": "s3-probe"}, None, False),
    ("DELETE", "/api/v1/memories/{id}", "memories", None, None, None, False),
    ("POST", "/api/v1/memories/{id}/promote", "memories", None, _E, None, False),
    ("POST", "/api/v1/capture_turn", "memories", None, _E, None, False),
    ("GET", "/api/v1/search", "search", "/api/v1/search?q=s3-probe&namespace={ns}", None, None, False),
    ("GET", "/api/v1/recall", "search", "/api/v1/recall?context=s3-probe&namespace={ns}", None, None, False),
    ("POST", "/api/v1/recall", "search", None, {"context": "s3-probe", "namespace": "{ns}"}, None, False),
    ("POST", "/api/v1/forget", "admin", None, {"namespace": "{ns}", "pattern": "s3-probe-none"}, None, False),
    ("POST", "/api/v1/consolidate", "memories", None, _E, None, False),
    ("GET", "/api/v1/contradictions", "search", "/api/v1/contradictions?namespace={ns}", None, None, False),
    ("POST", "/api/v1/auto_tag", "memories", None, _E, None, False),
    ("POST", "/api/v1/expand_query", "search", None, _E, None, False),
    ("GET", "/api/v1/tools/list", "mcp", None, None, None, False),
    ("POST", "/api/v1/memory_load_family", "memories", None, _E, None, False),
    ("POST", "/api/v1/links", "links", None, _E, None, False),
    ("DELETE", "/api/v1/links", "links", None, _E, None, False),
    ("GET", "/api/v1/links/{id}", "links", None, None, None, False),
    ("GET", "/api/v1/namespaces", "namespaces", None, None, None, False),
    ("POST", "/api/v1/namespaces", "namespaces", None, _E, None, False),
    # (0.7.0 sets a standard on the probe's namespace from an empty body: cleared right after)
    ("POST", "/api/v1/namespaces/{ns}/standard", "namespaces", None, _E, None, False),
    ("GET", "/api/v1/namespaces/{ns}/standard", "namespaces", None, None, None, False),
    ("DELETE", "/api/v1/namespaces/{ns}/standard", "namespaces", None, None, None, False),
    ("DELETE", "/api/v1/namespaces", "namespaces", "/api/v1/namespaces?namespace={ns}", None, None, False),
    ("GET", "/api/v1/taxonomy", "namespaces", None, None, None, False),
    ("POST", "/api/v1/check_duplicate", "memories", None, _E, None, False),
    ("POST", "/api/v1/entities", "graph", None, _E, None, False),
    ("GET", "/api/v1/entities/by_alias", "graph", "/api/v1/entities/by_alias?alias=s3-probe", None, None, False),
    ("GET", "/api/v1/kg/timeline", "graph", "/api/v1/kg/timeline?source_id={id}", None, None, False),
    ("POST", "/api/v1/kg/invalidate", "graph", None, _E, None, False),
    ("POST", "/api/v1/kg/query", "graph", None, _E, None, False),
    ("POST", "/api/v1/kg/find_paths", "graph", None, _E, None, False),
    ("POST", "/api/v1/find_paths", "graph", None, _E, None, False),
    ("POST", "/api/v1/links/verify", "links", None, _E, None, False),
    ("POST", "/api/v1/quota/status", "admin", None, _E, None, False),
    ("GET", "/api/v1/stats", "admin", None, None, None, False),
    ("POST", "/api/v1/gc", "admin", None, None, None, False),
    ("GET", "/api/v1/export", "admin", None, None, None, False),
    ("POST", "/api/v1/import", "admin", None, _E, None, False),
    ("GET", "/api/v1/archive", "archive", None, None, None, False),
    ("POST", "/api/v1/archive", "archive", None, {"ids": []}, None, False),
    ("DELETE", "/api/v1/archive", "archive", "/api/v1/archive?older_than_days=never", None, None, False),
    ("POST", "/api/v1/archive/{id}/restore", "archive", None, None, None, False),
    ("GET", "/api/v1/archive/stats", "archive", None, None, None, False),
    ("GET", "/api/v1/agents", "admin", None, None, None, False),
    ("POST", "/api/v1/agents", "admin", None, _E, None, False),
    ("PUT", "/api/v1/agents/{id}/pubkey", "admin", None, _E, None, False),
    ("GET", "/api/v1/pending", "admin", None, None, None, False),
    ("POST", "/api/v1/pending/{id}/approve", "admin", None, None, None, False),
    ("POST", "/api/v1/pending/{id}/reject", "admin", None, None, None, False),
    ("POST", "/api/v1/approvals/{pending_id}", "admin", None, _E, None, False),
    ("GET", "/api/v1/approvals/stream", "admin", None, None, None, True),
    ("POST", "/api/v1/sync/push", "sync", None, _E, None, False),
    ("GET", "/api/v1/sync/since", "sync", "/api/v1/sync/since?limit=1", None, None, False),
    ("GET", "/api/v1/capabilities", "health", None, None, None, False),
    ("POST", "/api/v1/notify", "subscriptions", None, _E, None, False),
    ("GET", "/api/v1/inbox", "subscriptions", None, None, None, False),
    ("POST", "/api/v1/subscriptions", "subscriptions", None, _E, None, False),
    ("DELETE", "/api/v1/subscriptions", "subscriptions", None, _E, None, False),
    ("GET", "/api/v1/subscriptions", "subscriptions", None, None, None, False),
    ("POST", "/api/v1/session/start", "memories", None, _E, None, False),
    ("POST", "/api/v1/skill/register", "skills", None, _E, None, False),
    ("GET", "/api/v1/skill/list", "skills", None, None, None, False),
    ("GET", "/api/v1/skill/{id}", "skills", None, None, None, False),
    ("GET", "/api/v1/skill/{id}/resource", "skills", None, None, None, False),
    ("POST", "/api/v1/skill/{id}/export", "skills", None, _E, None, False),
    ("POST", "/api/v1/skill/{id}/promote", "skills", None, _E, None, False),
    ("POST", "/api/v1/skill/{id}/compose", "skills", None, _E, None, False),
    ("POST", "/api/v1/share", "memories", None, _E, None, False),
    ("POST", "/api/v1/memory_smart_load", "mcp_parity", None, _E, None, False),
    ("POST", "/api/v1/memory_reflect", "mcp_parity", None, _E, None, False),
    ("POST", "/api/v1/memory_recall_observations", "mcp_parity", None, _E, None, False),
    ("POST", "/api/v1/memory_reflection_origin", "mcp_parity", None, _E, None, False),
    ("POST", "/api/v1/memory_dependents_of_invalidated", "mcp_parity", None, _E, None, False),
    ("POST", "/api/v1/memory_export_reflection", "mcp_parity", None, _E, None, False),
    ("POST", "/api/v1/memory_atomise", "mcp_parity", None, _E, None, False),
    ("POST", "/api/v1/memory_calibrate_confidence", "mcp_parity", None, {"days": 0}, None, False),
    ("POST", "/api/v1/memory_verify", "mcp_parity", None, _E, None, False),
    ("POST", "/api/v1/memory_replay", "mcp_parity", None, _E, None, False),
    ("POST", "/api/v1/memory_subscription_replay", "mcp_parity", None, _E, None, False),
    ("POST", "/api/v1/memory_subscription_dlq_list", "mcp_parity", None, _E, None, False),
    ("POST", "/api/v1/memory_rule_list", "mcp_parity", None, _E, None, False),
    ("POST", "/api/v1/memory_check_agent_action", "mcp_parity", None, _E, None, False),
    # not in 0.7.0's router: MCP over HTTP (served on stdio only), and paths no router serves
    ("POST", "/mcp", "mcp", None, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, None, False),
    ("GET", "/", "unknown", None, None, None, False),
    ("GET", "/api/v1/s3-no-such-route", "unknown", None, None, None, False),
    ("POST", "/api/v2/memories", "unknown", None, _E, None, False),
    ("GET", "/.well-known/ai-memory", "unknown", None, None, None, False),
)


def _fill(value: Any, namespace: str, in_path: bool = False) -> Any:
    """Path parameters: ``{ns}`` the probe's namespace, any other ``{name}`` an id no memory has."""
    if isinstance(value, str):
        ns = quote(namespace, safe="") if in_path else namespace
        return _PARAM.sub(lambda m: ns if m.group(1) == "ns" else NOWHERE_ID, value)
    if isinstance(value, list):
        return [_fill(v, namespace) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, namespace) for k, v in value.items()}
    return value


def route_key(method: str, route: str) -> str:
    """How the checker names a route: ``"METHOD /route/{template}"``."""
    return f"{str(method).upper()} {route}"


def routes(table: str = ROUTE_TABLE) -> list[dict[str, Any]]:
    """The table's routes: ``{method, route, group, control_status, stream}``."""
    if table != ROUTE_TABLE:
        raise ValueError(f"unknown route table {table!r}; known: {[ROUTE_TABLE]}")
    return [{"method": m, "route": r, "group": g, "control_status": c, "stream": s}
            for m, r, g, _p, _b, c, s in _TABLE]


def route_keys(table: str = ROUTE_TABLE) -> list[str]:
    return [route_key(r["method"], r["route"]) for r in routes(table)]


def control_statuses(table: str = ROUTE_TABLE) -> dict[str, int]:
    """The routes where the control must get one status (health 200, a create 201); the others any status."""
    return {route_key(r["method"], r["route"]): r["control_status"] for r in routes(table)
            if r["control_status"] is not None}


def requests(namespace: str, table: str = ROUTE_TABLE) -> list[dict[str, Any]]:
    """Each route as the request the probe sends: ``{method, route, path, body, group, control_status, stream,
    memory}`` (``memory``: the body is a small memory the probe titles itself)."""
    if table != ROUTE_TABLE:
        raise ValueError(f"unknown route table {table!r}; known: {[ROUTE_TABLE]}")
    out = []
    for method, route, group, path, body, control, stream in _TABLE:
        memory = body == "memory"
        out.append({"method": method, "route": route, "group": group,
                    "path": _fill(path or route, namespace, in_path=True),
                    "body": None if memory else _fill(body, namespace), "memory": memory,
                    "control_status": control, "stream": stream})
    return out
