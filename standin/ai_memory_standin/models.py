"""Memory objects, validation, tiers and visibility exactly as the contract (§3.3, §3.6) states them."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

TIERS = ("short", "mid", "long")
TIER_RANK = {"short": 0, "mid": 1, "long": 2}
TIER_TTL = {"short": timedelta(hours=6), "mid": timedelta(days=7), "long": None}
SCOPES = ("private", "team", "unit", "org", "collective")
SOURCES = ("user", "claude", "hook", "api", "cli", "import", "consolidation", "system", "chaos")
AGENT_ID_RE = re.compile(r"^[A-Za-z0-9_\-:@./]{1,128}$")
RESERVED_AGENT_IDS = {"daemon", "system", "federation-catchup", "subscription-dispatch", "ai:http-internal",
                      "ai:migrate", "export-internal", "governance-internal"}
MEMORY_FIELDS = ("id", "tier", "namespace", "title", "content", "tags", "priority", "confidence", "source",
                 "access_count", "created_at", "updated_at", "last_accessed_at", "expires_at", "metadata",
                 "reflection_depth", "memory_kind", "entity_id", "persona_version", "citations", "source_uri",
                 "source_span", "confidence_source", "confidence_signals", "confidence_decayed_at", "version")


class ValidationError(ValueError):
    """Client error: becomes 400 {"error": message}."""


def now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_ts(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, AttributeError) as exc:
        raise ValidationError(f"invalid RFC3339 timestamp: {value!r}") from exc


def valid_agent_id(agent_id: str) -> bool:
    return bool(AGENT_ID_RE.match(agent_id)) and ".." not in agent_id and not agent_id.startswith("/")


def effective_expires_at(tier: str, created_at: str, explicit: str | None) -> str | None:
    """Explicit expiry wins; otherwise non-long tiers get created_at + the tier's default TTL (schema v54)."""
    if explicit:
        return explicit
    ttl = TIER_TTL[tier]
    return iso(parse_ts(created_at) + ttl) if ttl else None


def new_memory(body: dict[str, Any], agent_id: str) -> dict[str, Any]:
    """Validate a CreateMemory body and build the stored memory (all 26 fields)."""
    title = body.get("title")
    content = body.get("content")
    if not isinstance(title, str) or not title.strip():
        raise ValidationError("title is required")
    if len(title) > 512:
        raise ValidationError("title exceeds 512 characters")
    if not isinstance(content, str) or not content:
        raise ValidationError("content is required")
    if len(content.encode()) > 65536:
        raise ValidationError("content exceeds 65536 bytes")
    tier = body.get("tier") or "mid"
    if tier not in TIERS:
        raise ValidationError(f"invalid tier: {tier}")
    namespace = body.get("namespace") or "global"
    if not isinstance(namespace, str) or len(namespace) > 512 or namespace.count("/") > 8:
        raise ValidationError("invalid namespace")
    tags = body.get("tags") or []
    if not isinstance(tags, list) or len(tags) > 50 or any(not isinstance(t, str) or len(t) > 128 for t in tags):
        raise ValidationError("invalid tags")
    source = body.get("source") or "api"
    if source not in SOURCES:
        raise ValidationError(f"invalid source: {source}")
    try:
        priority = min(10, max(1, int(body.get("priority", 5))))
        confidence = float(body.get("confidence", 1.0))
    except (TypeError, ValueError) as exc:
        raise ValidationError("invalid priority or confidence") from exc
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ValidationError("metadata must be an object")
    metadata = dict(metadata)
    scope = body.get("scope") or metadata.get("scope")
    if scope is not None:
        if scope not in SCOPES:
            raise ValidationError(f"invalid scope: {scope}")
        metadata["scope"] = scope
    metadata["agent_id"] = agent_id
    created = now()
    created_at = iso(created)
    expires_at = body.get("expires_at")
    if body.get("ttl_secs") is not None:
        expires_at = iso(created + timedelta(seconds=int(body["ttl_secs"])))
    elif expires_at:
        expires_at = iso(parse_ts(expires_at))
    return {
        "id": str(uuid.uuid4()),
        "tier": tier,
        "namespace": namespace,
        "title": title,
        "content": content,
        "tags": tags,
        "priority": priority,
        "confidence": confidence,
        "source": source,
        "access_count": 0,
        "created_at": created_at,
        "updated_at": created_at,
        "last_accessed_at": None,
        "expires_at": effective_expires_at(tier, created_at, expires_at),
        "metadata": metadata,
        "reflection_depth": 0,
        "memory_kind": body.get("kind") or "observation",
        "entity_id": None,
        "persona_version": None,
        "citations": body.get("citations") or [],
        "source_uri": body.get("source_uri"),
        "source_span": body.get("source_span"),
        "confidence_source": "caller",
        "confidence_signals": None,
        "confidence_decayed_at": None,
        "version": 1,
    }


def public_view(mem: dict[str, Any]) -> dict[str, Any]:
    """The memory as the API returns it: 26 keys, last_accessed_at and expires_at omitted when null."""
    out = {k: mem.get(k) for k in MEMORY_FIELDS}
    for key in ("last_accessed_at", "expires_at"):
        if out[key] is None:
            del out[key]
    return out


def is_visible(mem: dict[str, Any], caller: str) -> bool:
    meta = mem.get("metadata") or {}
    scope = meta.get("scope") or "private"
    return scope != "private" or meta.get("agent_id") == caller or meta.get("target_agent_id") == caller


def is_expired(mem: dict[str, Any], at: datetime | None = None) -> bool:
    exp = mem.get("expires_at")
    return bool(exp) and parse_ts(exp) <= (at or now())


def newer(incoming: dict[str, Any], existing: dict[str, Any]) -> bool:
    """insert_if_newer ordering: newer updated_at wins, tie-break on the larger id."""
    a, b = parse_ts(incoming["updated_at"]), parse_ts(existing["updated_at"])
    return a > b or (a == b and incoming["id"] > existing["id"])
