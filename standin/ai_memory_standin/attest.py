"""Agent attestation of HTTP writes, as the release the stand-in impersonates does it.

The stand-in is ai-memory 0.7.0 unless ``AI_MEMORY_STANDIN_RELEASE`` (or, when that is unset, the host-wide file
``/etc/ai-memory/standin-release``, so the CLI and the daemon on a host agree) names another release it knows how to
impersonate. Only the write-attestation gate, the quorum shortfall's answer and the version it reports follow the
release; the rest of the contract stays the v0.7 stand-in's (a campaign of the stand-in as 0.10.0 exercises the
attestation scenario, the signed write paths and the 202 shortfall, not 0.10.0's schema or MCP tools).

- 0.7.0: ``ai-memory/write/v0`` (the six fields in lexical key order); the gate requires attestation only with
  ``AI_MEMORY_REQUIRE_AGENT_ATTESTATION`` = 1/true; a relayed memory keeps the leader's level.
- 0.10.0: ``ai-memory/write/v1`` (deterministic map, domain tag ``"_dst"``); the variable is tri-state: unset
  requires attestation on HTTP creates, 0/false is permissive; a peer re-verifies a relayed memory from
  ``metadata.write_signature`` against its own binding and stamps ``claimed`` when it cannot.

Whatever the release, a presented signature that does not verify against the agent's bound key is refused (403
``ATTESTATION_FAILED``), and the fault ``accept_unsigned`` lets unsigned writes through when attestation is
required. Bindings live where ai-memory keeps them: the agent's registration row (namespace ``_agents``, title
``agent:<id>``, ``metadata.agent_pubkey``); a registration is replicated, a binding is local.

This is the stand-in's own implementation of the scheme (written from the product's documentation and its observed
behaviour, not shared with the collection's signer), so the two check each other.
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

RELEASE_ENV = "AI_MEMORY_STANDIN_RELEASE"
RELEASE_FILE = "/etc/ai-memory/standin-release"
REQUIRE_ENV = "AI_MEMORY_REQUIRE_AGENT_ATTESTATION"
REGISTRY = "_agents"
FRESHNESS_S = 300
RELEASES: dict[str, dict[str, Any]] = {
    "0.7.0": {"scheme": "v0", "required_by_default": False, "tri_state": False, "reverify_relayed": False,
              "shortfall_accepted": False},
    # 0.8.1 on: a write committed locally without quorum is 202 {quorum_met: false, ...} (handlers/parity.rs)
    "0.10.0": {"scheme": "v1", "required_by_default": True, "tri_state": True, "reverify_relayed": True,
               "shortfall_accepted": True},
}


class AttestationError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def impersonated(environ: dict[str, str] | None = None, default: str = "0.7.0") -> str:
    env = environ if environ is not None else os.environ
    release = env.get(RELEASE_ENV)
    if release is None:
        try:
            with open(env.get("AI_MEMORY_STANDIN_RELEASE_FILE", RELEASE_FILE)) as fh:
                release = fh.read().strip()
        except OSError:
            release = ""
    release = release.strip() or default
    if release not in RELEASES:
        raise ValueError(f"the stand-in cannot impersonate ai-memory {release}; it knows {sorted(RELEASES)}")
    return release


def required(release: str, environ: dict[str, str] | None = None) -> bool:
    """Whether an HTTP create must be attested, as ``release`` reads its variable."""
    raw = (environ if environ is not None else os.environ).get(REQUIRE_ENV)
    rules = RELEASES[release]
    if raw is not None and (raw == "1" or raw.lower() == "true"):
        return True
    if raw is not None and (raw == "0" or raw.lower() == "false") and rules["tri_state"]:
        return False
    return bool(rules["required_by_default"])


def _text(value: str) -> bytes:
    raw = value.encode()
    return _head(3, len(raw)) + raw


def _head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    size = 1 if n < 256 else 2 if n < 65536 else 4 if n < 2**32 else 8
    return bytes([major << 5 | {1: 24, 2: 25, 4: 26, 8: 27}[size]]) + n.to_bytes(size, "big")


def payload(release: str, agent: str, body: dict[str, Any], created_at: str) -> bytes:
    digest = hashlib.sha256(str(body.get("content", "")).encode()).digest()
    entries = {"agent_id": _text(agent), "namespace": _text(str(body.get("namespace") or "global")),
               "title": _text(str(body.get("title", ""))), "kind": _text(str(body.get("kind") or "observation")),
               "created_at": _text(created_at), "content_sha256": _head(2, 32) + digest}
    if RELEASES[release]["scheme"] == "v1":
        entries["_dst"] = _text("ai-memory/write/v1")
        keys = sorted(entries, key=_text)
    else:
        keys = sorted(entries)
    return _head(5, len(keys)) + b"".join(_text(k) + entries[k] for k in keys)


def raw_key(text: str) -> bytes:
    padded = text.strip() + "=" * (-len(text.strip()) % 4)
    raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    if len(raw) != 32:
        raise ValueError(f"decoded public key has {len(raw)} bytes, expected 32")
    Ed25519PublicKey.from_public_bytes(raw)
    return raw


def verifies(release: str, key_b64: str, agent: str, body: dict[str, Any], signature_b64: str,
             created_at: str) -> bool:
    try:
        sig = base64.b64decode(signature_b64.strip(), validate=True)
        Ed25519PublicKey.from_public_bytes(raw_key(key_b64)).verify(sig, payload(release, agent, body, created_at))
    except Exception:  # malformed key or signature, or a signature that does not verify
        return False
    return True


def fresh(created_at: Any) -> str:
    if not isinstance(created_at, str) or not created_at.strip():
        raise AttestationError(400, "`signature` requires the matching `created_at` (RFC3339) the caller signed")
    try:
        when = datetime.fromisoformat(created_at.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise AttestationError(400, f"invalid `created_at` (expected RFC3339): {exc}") from exc
    skew = abs((datetime.now(UTC) - when).total_seconds())
    if skew > FRESHNESS_S + 1:
        raise AttestationError(400, f"`created_at` is outside the ±{FRESHNESS_S}s attestation freshness window")
    return created_at.strip()


def gate(release: str, require: bool, accept_unsigned: bool, agent: str, body: dict[str, Any],
         bound_key: str | None) -> tuple[str | None, str | None]:
    """(attest level to stamp or None, the signed created_at to adopt or None); raises AttestationError."""
    signature = str(body.get("signature") or "").strip()
    if signature:
        created_at = fresh(body.get("created_at"))
        if bound_key:
            if not verifies(release, bound_key, agent, body, signature, created_at):
                raise AttestationError(403, "agent attestation failed: write signature did not verify against "
                                            "the agent's bound public key")
            return "agent_attested", created_at
        if require and not accept_unsigned:
            raise AttestationError(403, "agent attestation failed: agent attestation is required but this write "
                                        "is unsigned or the agent has no bound public key")
        return "claimed", created_at
    if require and not accept_unsigned:  # FAULT accept_unsigned: an unsigned write taken although required
        raise AttestationError(403, "agent attestation failed: agent attestation is required but this write is "
                                    "unsigned or the agent has no bound public key")
    return None, None


def relayed_level(release: str, mem: dict[str, Any], bound_key: str | None) -> str | None:
    """The level a peer stamps on a relayed memory (None: keep what came)."""
    meta = mem.get("metadata") if isinstance(mem.get("metadata"), dict) else {}
    if not RELEASES[release]["reverify_relayed"] or "attest_level" not in meta:
        return None
    signature = str(meta.get("write_signature") or "")
    agent = str(meta.get("agent_id") or "")
    signed = {**mem, "kind": mem.get("memory_kind") or mem.get("kind")}
    if signature and bound_key and verifies(release, bound_key, agent, signed, signature, str(mem.get("created_at"))):
        return "agent_attested"
    return "claimed"


def now_iso() -> str:
    return datetime.now(UTC).isoformat()
