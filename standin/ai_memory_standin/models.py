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
SOURCES = ("user", "nhi", "claude", "hook", "api", "cli", "import", "consolidation", "system", "chaos", "notify")
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


class BadBody(ValidationError):
    """A body the real's JSON extractor refuses before validation: 400 {"error": ..., "fields": [...]}."""

    def __init__(self, message: str = "invalid request body", fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or []


class MissingField(BadBody):
    """A required field absent from the body: 400 {"error": "missing required field: <f>", "fields": [<f>]}."""

    def __init__(self, name: str) -> None:
        super().__init__(f"missing required field: {name}", [name])


DEFAULT_CONFIDENCE = 1.0
# optional fields the real binary leaves out of a memory's JSON when they are null (serde skip_serializing_if)
OMITTED_WHEN_NULL = ("last_accessed_at", "expires_at", "entity_id", "persona_version", "source_uri", "source_span",
                     "confidence_signals", "confidence_decayed_at")
SHORT_EXTEND_S, MID_EXTEND_S = 3600, 86400  # a recall pushes expiry out to at least now + this (short, mid)
PROMOTION_THRESHOLD = 5  # a mid memory recalled this many times becomes long


def _check_text(body: dict[str, Any]) -> tuple[str, str]:
    for name in ("title", "content"):
        if name not in body or body[name] is None:
            raise MissingField(name)
    title, content = body["title"], body["content"]
    if not isinstance(title, str) or not isinstance(content, str):
        raise BadBody()
    if not title.strip():
        raise ValidationError("title cannot be empty")
    if len(title.strip()) > 512:
        raise ValidationError("title exceeds max length of 512 characters")
    if not content.strip():
        raise ValidationError("content cannot be empty")
    if len(content.encode()) > 65536:
        raise ValidationError("content exceeds max size of 65536 bytes")
    return title, content


def _check_numbers(body: dict[str, Any]) -> tuple[int, float, str]:
    """(priority, confidence, confidence_source): the caller's confidence is "caller_provided", an omitted one
    the compiled default 1.0 with "default" (ai-memory #1591)."""
    try:
        priority = int(body.get("priority", 5))
        given = body.get("confidence")
        confidence = DEFAULT_CONFIDENCE if given is None else float(given)
    except (TypeError, ValueError) as exc:
        raise BadBody() from exc
    if not 1 <= priority <= 10:
        raise ValidationError(f"priority must be between 1 and 10 (got {priority})")
    if not 0.0 <= confidence <= 1.0:
        raise ValidationError(f"confidence must be between 0.0 and 1.0 (got {confidence})")
    return priority, confidence, "default" if given is None else "caller_provided"


def _check_labels(body: dict[str, Any]) -> tuple[str, str, list[str], str]:
    tier = body.get("tier") or "mid"
    if tier not in TIERS:
        raise BadBody()
    namespace = body.get("namespace") or "global"
    if not isinstance(namespace, str) or len(namespace) > 512 or namespace.count("/") > 8:
        raise ValidationError("invalid namespace")
    if " " in namespace:
        raise ValidationError("namespace cannot contain spaces (use hyphens or underscores)")
    tags = body.get("tags") or []
    if not isinstance(tags, list) or any(not isinstance(t, str) for t in tags):
        raise BadBody()
    if len(tags) > 50:
        raise ValidationError("too many tags (max 50)")
    if any(not t for t in tags):
        raise ValidationError("tags cannot contain empty strings")
    if any(len(t.encode()) > 128 for t in tags):
        raise ValidationError("tag exceeds max length of 128 bytes")
    source = body.get("source") or "api"
    if source not in SOURCES:
        raise ValidationError(f"invalid source '{source}' — must be one of: {', '.join(SOURCES)}")
    return tier, namespace, tags, source


def _check_metadata(body: dict[str, Any], agent_id: str) -> dict[str, Any]:
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
    return metadata


def new_memory(body: dict[str, Any], agent_id: str) -> dict[str, Any]:
    """Validate a CreateMemory body and build the stored memory (all 26 fields)."""
    title, content = _check_text(body)
    tier, namespace, tags, source = _check_labels(body)
    priority, confidence, confidence_source = _check_numbers(body)
    metadata = _check_metadata(body, agent_id)
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
        "confidence_source": confidence_source,
        "confidence_signals": None,
        "confidence_decayed_at": None,
        "version": 1,
    }


def explicit_expiry(body: dict[str, Any], mem: dict[str, Any]) -> str | None:
    """The expiry a create body asked for (expires_at or ttl_secs), None when the tier default applies."""
    asked = body.get("expires_at") is not None or body.get("ttl_secs") is not None
    return mem.get("expires_at") if asked else None


def public_view(mem: dict[str, Any]) -> dict[str, Any]:
    """The memory as the API returns it: the 26 fields, the optional ones left out when null."""
    out = {k: mem.get(k) for k in MEMORY_FIELDS}
    for key in OMITTED_WHEN_NULL:
        if out[key] is None:
            del out[key]
    return out


def touched(mem: dict[str, Any]) -> dict[str, Any]:
    """The memory after a recall hit it: one more access, last_accessed_at now, a short/mid expiry pushed out to
    at least now + 1 h / 1 day, a mid memory recalled PROMOTION_THRESHOLD times promoted to long (no expiry), the
    priority raised by one every 10th access. updated_at and version move only with the promotion."""
    out = dict(mem)
    at_ns = time.time_ns()
    out["access_count"] = min(int(out.get("access_count") or 0) + 1, 1_000_000)
    out["last_accessed_at"] = render_ns(at_ns)
    extend = {"short": SHORT_EXTEND_S, "mid": MID_EXTEND_S}.get(out["tier"])
    if extend and out.get("expires_at"):
        out["expires_at"] = render_ns(max(ns_of(out["expires_at"]), at_ns + extend * 10**9))
    if out["tier"] == "mid" and out["access_count"] >= PROMOTION_THRESHOLD:
        out.update(tier="long", expires_at=None, updated_at=render_ns(at_ns))
    if out["access_count"] % 10 == 0 and out["priority"] < 10:
        out["priority"] += 1
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
