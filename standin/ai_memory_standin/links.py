"""Memory links as ai-memory 0.7.0 has them: the POST /api/v1/links body and its refusals, the stored row, the
link as GET /api/v1/memories/{id} shows it, and the signature the daemon puts on the links it writes itself."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from ai_memory_standin.models import ValidationError, render_ns

# the relations the SQL CHECK admits; an HTTP refusal lists the first five (derives_from is accepted all the same)
RELATIONS = ("related_to", "supersedes", "contradicts", "derived_from", "reflects_on", "derives_from")
ADVERTISED_RELATIONS = RELATIONS[:5]
BODY_FIELDS = ("source_id", "from", "target_id", "to", "relation", "rel_type")
RELATION_SHAPE = re.compile(r"^[a-z0-9_]+$")
ID_CHARS = re.compile(r"^[A-Za-z0-9_:.@-]+$")
MAX_ID_LEN = 128
DAEMON_SIGNER = "daemon"  # the agent id of the keypair a daemon signs its own links with
# the view GET /memories/{id} gives of a link, in the real's order; null ones are left out
VIEW_FIELDS = ("source_id", "target_id", "relation", "created_at", "observed_by", "valid_from", "valid_until",
               "attest_level")


class LinkRefused(ValueError):
    """A link body the daemon answers 400 to, with the real's body."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("error"))
        self.body = body


def validate_id(value: str) -> None:
    if not value.strip():
        raise ValidationError("id cannot be empty")
    if len(value.encode()) > MAX_ID_LEN:
        raise ValidationError(f"id exceeds max length of {MAX_ID_LEN} bytes")
    if ".." in value:
        raise ValidationError("id may not contain '..' (path-traversal guard)")
    if "/" in value or "\\" in value:
        raise ValidationError("id may not contain '/' or '\\' (path-traversal guard)")
    if not ID_CHARS.match(value):
        raise ValidationError("id contains invalid characters")


def parse_body(raw: Any) -> tuple[str, str, str]:
    """(source_id, target_id, relation) of a POST /api/v1/links body, or LinkRefused / ValidationError."""
    if isinstance(raw, dict):
        unknown = sorted(k for k in raw if k not in BODY_FIELDS)
        if unknown:
            raise LinkRefused({"error": "unknown_field", "fields": unknown})
    else:
        raw = {}
    if any(v is not None and not isinstance(v, str) for v in raw.values()):
        raise LinkRefused({"error": "invalid type: expected a string"})
    source = _first(raw, "source_id", "from") or ""
    target = _first(raw, "target_id", "to") or ""
    relation = _first(raw, "relation", "rel_type")
    relation = "related_to" if relation is None else relation
    validate_triple(source, target, relation)
    if relation not in RELATIONS:
        raise LinkRefused({"error": "invalid_relation", "got": relation, "allowed": list(ADVERTISED_RELATIONS)})
    return source, target, relation


def _first(raw: dict[str, Any], name: str, alias: str) -> str | None:
    """The canonical field, else its alias (serde Option: a present empty string counts)."""
    return raw[name] if raw.get(name) is not None else raw.get(alias)


def validate_triple(source: str, target: str, relation: str) -> None:
    validate_id(source)
    validate_id(target)
    if not relation.strip():
        raise ValidationError("relation cannot be empty")
    if not RELATION_SHAPE.match(relation):
        raise ValidationError(f"invalid relation '{relation}' — must match [a-z0-9_]+ or be one of: "
                              f"{', '.join(RELATIONS)}")
    if source == target:
        raise ValidationError("cannot link a memory to itself")


def now_us() -> str:
    """Now at microseconds, as a link's created_at (the real truncates link times to microseconds)."""
    return render_ns(time.time_ns() // 1000 * 1000)


@dataclass
class Signer:
    """An Ed25519 key that signs the links a daemon writes itself (attest_level self_signed, observed_by
    "daemon"). The stand-in's key lives as long as its process; the signed bytes are the link's canonical JSON,
    not the real's CBOR envelope, so only the stand-in could verify them (nothing does)."""

    key: Any = None

    @classmethod
    def create(cls) -> Signer:
        try:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        except ImportError:  # without python3-cryptography the daemon writes unsigned links, as an unkeyed real
            return cls(None)
        return cls(Ed25519PrivateKey.generate())

    def sign(self, link: dict[str, Any]) -> dict[str, Any]:
        if self.key is None:
            return {**link, "signature": None, "attest_level": "unsigned", "observed_by": None}
        link = {**link, "observed_by": DAEMON_SIGNER}
        signable = {k: link.get(k) for k in ("source_id", "target_id", "relation", "observed_by", "valid_from",
                                             "valid_until")}
        signature = self.key.sign(json.dumps(signable, sort_keys=True, separators=(",", ":")).encode())
        return {**link, "signature": signature, "attest_level": "self_signed"}


def new_link(source: str, target: str, relation: str) -> dict[str, Any]:
    """A link as the local writer stores it before signing: created_at = valid_from = now (microseconds)."""
    at = now_us()
    return {"source_id": source, "target_id": target, "relation": relation, "created_at": at, "valid_from": at,
            "valid_until": None, "observed_by": None, "signature": None, "attest_level": "unsigned"}


def inbound(link: dict[str, Any]) -> dict[str, Any]:
    """A link a peer pushed (sync_push "links"): landed unsigned (no enrolled peer key), its created_at kept,
    valid_from its own or now."""
    at = now_us()
    return {"source_id": link["source_id"], "target_id": link["target_id"], "relation": link["relation"],
            "created_at": link.get("created_at") or at, "valid_from": link.get("valid_from") or at,
            "valid_until": link.get("valid_until"), "observed_by": link.get("observed_by"), "signature": None,
            "attest_level": "unsigned"}


def wire(link: dict[str, Any]) -> dict[str, Any]:
    """The link as a sync_push carries it (MemoryLink: null fields left out, unsigned on the immediate fan-out)."""
    return {"source_id": link["source_id"], "target_id": link["target_id"], "relation": link["relation"],
            "created_at": link["created_at"]}


def view(link: dict[str, Any], with_signature: bool = False) -> dict[str, Any]:
    """The link as GET /api/v1/memories/{id} lists it: null fields left out. The PostgreSQL-backed real also
    carries the signature, as an array of byte values."""
    out = {k: link[k] for k in VIEW_FIELDS if link.get(k) is not None}
    if with_signature and link.get("signature") is not None:
        out["signature"] = list(bytes(link["signature"]))
    return out
