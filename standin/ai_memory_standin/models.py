"""Memory objects, validation, tiers and visibility exactly as the contract (§3.3, §3.6) states them."""

from __future__ import annotations

import re
import time
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


TIME_FIELDS = ("created_at", "updated_at", "last_accessed_at", "expires_at", "confidence_decayed_at")
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


def now() -> datetime:
    return datetime.now(UTC)


def render_ns(epoch_ns: int) -> str:
    """RFC 3339 as ai-memory writes it (chrono ``to_rfc3339``: "+00:00", as many fractional digits as the value
    needs of 0, 3, 6 or 9), from nanoseconds since the epoch."""
    seconds, nanos = divmod(epoch_ns, 10**9)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos == 0:
        frac = ""
    elif nanos % 10**6 == 0:
        frac = f".{nanos // 10**6:03d}"
    elif nanos % 10**3 == 0:
        frac = f".{nanos // 10**3:06d}"
    else:
        frac = f".{nanos:09d}"
    return f"{text}{frac}+00:00"


def ns_of(value: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time (any number of fractional digits up to 9, any offset)."""
    match = _RFC3339.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValidationError(f"invalid RFC3339 timestamp: {value!r}")
    day, clock, frac, zone = match.groups()
    try:
        whole = datetime.fromisoformat(f"{day}T{clock}{'+00:00' if zone == 'Z' else zone}")
    except ValueError as exc:
        raise ValidationError(f"invalid RFC3339 timestamp: {value!r}") from exc
    return int(whole.timestamp()) * 10**9 + int(((frac or "") + "000000000")[:9])


def stamp() -> str:
    """Now, with nanoseconds, as ai-memory stamps a row on SQLite."""
    return render_ns(time.time_ns())


def iso(ts: datetime) -> str:
    ts = ts.astimezone(UTC)
    return render_ns(int(ts.replace(microsecond=0).timestamp()) * 10**9 + ts.microsecond * 1000)


def at_microseconds(mem: dict[str, Any]) -> dict[str, Any]:
    """The row as PostgreSQL's TIMESTAMPTZ keeps it: every time truncated to microseconds (and re-rendered)."""
    out = dict(mem)
    for key in TIME_FIELDS:
        if isinstance(out.get(key), str):
            out[key] = render_ns(ns_of(out[key]) // 1000 * 1000)
    return out


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
    return render_ns(ns_of(created_at) + int(ttl.total_seconds()) * 10**9) if ttl else None


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
    created_ns = time.time_ns()
    created_at = render_ns(created_ns)
    expires_at = body.get("expires_at")
    if body.get("ttl_secs") is not None:
        expires_at = render_ns(created_ns + int(body["ttl_secs"]) * 10**9)
    elif expires_at:
        expires_at = render_ns(ns_of(expires_at))
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
    a, b = ns_of(incoming["updated_at"]), ns_of(existing["updated_at"])
    return a > b or (a == b and incoming["id"] > existing["id"])
