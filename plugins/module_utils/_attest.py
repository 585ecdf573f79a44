# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Agent attestation of HTTP writes: an agent's Ed25519 key signs each memory it creates, as ai-memory specifies.

ai-memory (#626 Layer-3, ``src/identity/sign.rs`` ``canonical_cbor_write``, ``src/identity/attest.rs``) signs a
``SignableWrite``: the six identity-bearing fields of a new memory, ``agent_id`` (the caller's ``X-Agent-Id``),
``namespace``, ``title``, ``kind`` (the body's, ``observation`` when absent), ``created_at`` (RFC 3339, supplied by
the signer, which cannot predict the server's clock; the server accepts it within +-300 s of its own clock and
adopts it verbatim) and ``content_sha256`` (SHA-256 of the content's UTF-8 bytes), as one CBOR map, Ed25519 over
those bytes. The HTTP body carries ``signature`` (standard base64 of the 64 signature bytes) and ``created_at``;
``POST /api/v1/memories`` and every row of ``POST /api/v1/memories/bulk`` (which attributes rows to the header's
agent) are the signed routes. Nothing else is signed: updates, deletes and links are not attested writes.

Two encodings of the same six fields exist, and which one a release verifies is in the release table
(``http_write_signature``):

- ``ai-memory/write/v1`` (0.9 and later, #1931): RFC 8949 4.2.1 core deterministic map (keys ordered by their
  encoded bytes, so shorter keys first) with the domain-separation entry ``"_dst": "ai-memory/write/v1"``. The
  federation receive path (#1464) re-verifies a relayed memory from ``metadata.write_signature`` (the same
  signature, standard base64) against the receiving node's bound key for the agent, so the signer also puts the
  signature there: without it a peer stamps the memory ``claimed`` whatever the leader verified.
- ``ai-memory/write/v0`` (0.7): the six fields only, keys in lexical order (a ``BTreeMap``), no domain tag.

A ``Signer`` is made from an agent's private key file (PEM, PKCS#8, as community.crypto writes it). The key never
leaves the object: what a history records is ``record`` (signed or not, the key id = ``ed25519:`` + the first 16 hex
digits of the SHA-256 of the raw public key, the scheme, the agent and the signed ``created_at``).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import traceback
from datetime import datetime, timezone
from typing import Any

CRYPTOGRAPHY_IMPORT_ERROR: str | None = None
try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
except ImportError:  # the module says so with missing_required_lib('cryptography')
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
    HAS_CRYPTOGRAPHY = False
else:
    HAS_CRYPTOGRAPHY = True

SCHEME_V1 = "ai-memory/write/v1"
SCHEME_V0 = "ai-memory/write/v0"
SCHEMES = (SCHEME_V1, SCHEME_V0)
DEFAULT_KIND = "observation"
DEFAULT_NAMESPACE = "global"
SIGNED_ROUTES = ("/api/v1/memories", "/api/v1/memories/bulk")
RELAY_KEY = "write_signature"


# --- deterministic CBOR (text strings, byte strings, maps: all a SignableWrite holds) ---------------------------

def _head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([(major << 5) | length])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes([(major << 5) | info]) + length.to_bytes(size, "big")
    raise ValueError("CBOR length too large")


def cbor_text(value: str) -> bytes:
    raw = value.encode("utf-8")
    return _head(3, len(raw)) + raw


def cbor_bytes(value: bytes) -> bytes:
    return _head(2, len(value)) + value


def cbor_map(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """A map of already encoded (key, value) pairs, in the order given."""
    return _head(5, len(pairs)) + b"".join(k + v for k, v in pairs)


def signable_write(scheme: str, agent_id: str, namespace: str, title: str, kind: str, created_at: str,
                   content: str) -> bytes:
    """The bytes ai-memory's ``canonical_cbor_write`` produces for these fields under ``scheme``."""
    fields: dict[str, bytes] = {
        "agent_id": cbor_text(agent_id), "namespace": cbor_text(namespace), "title": cbor_text(title),
        "kind": cbor_text(kind), "created_at": cbor_text(created_at),
        "content_sha256": cbor_bytes(hashlib.sha256(content.encode("utf-8")).digest()),
    }
    if scheme == SCHEME_V1:
        fields["_dst"] = cbor_text(SCHEME_V1)
        pairs = sorted((cbor_text(k), v) for k, v in fields.items())  # by encoded key: length first, then bytes
    elif scheme == SCHEME_V0:
        pairs = [(cbor_text(k), fields[k]) for k in sorted(fields)]  # BTreeMap<&str>: lexical
    else:
        raise ValueError(f"unknown signature scheme {scheme!r} (known: {', '.join(SCHEMES)})")
    return cbor_map(pairs)


def now_rfc3339() -> str:
    """The signer's clock, as chrono's ``to_rfc3339`` writes UTC (microseconds here; the server adopts it verbatim)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def key_id_of(public_raw: bytes) -> str:
    return "ed25519:" + hashlib.sha256(public_raw).hexdigest()[:16]


def public_b64(public_raw: bytes) -> str:
    """The form ``ai-memory identity export-pub`` prints and ``agents bind-key`` takes: URL-safe base64, no padding."""
    return base64.urlsafe_b64encode(public_raw).decode().rstrip("=")


_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")  # SubjectPublicKeyInfo of an Ed25519 key, before it


def raw_public_key(text: str) -> bytes:
    """The 32 raw bytes of an Ed25519 public key given as PEM (SubjectPublicKeyInfo, as community.crypto writes it)
    or as base64 of the raw bytes (URL-safe or standard, padded or not: what ai-memory stores and accepts)."""
    text = (text or "").strip()
    if text.startswith("-----BEGIN"):
        body = "".join(line for line in text.splitlines() if line and not line.startswith("-----"))
        der = base64.b64decode(body)
        if len(der) != len(_ED25519_SPKI_PREFIX) + 32 or not der.startswith(_ED25519_SPKI_PREFIX):
            raise ValueError("not an Ed25519 public key (SubjectPublicKeyInfo)")
        return der[len(_ED25519_SPKI_PREFIX):]
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except ValueError as exc:
        raise ValueError(f"not base64: {exc}") from exc
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key has 32 bytes, not {len(raw)}")
    return raw


def signed_route(method: str, path: str) -> bool:
    return method.upper() == "POST" and path.split("?", 1)[0].rstrip("/") in SIGNED_ROUTES


class Signer:
    """Signs the memories one agent creates with its Ed25519 key (read from ``key_path``, PEM PKCS#8)."""

    def __init__(self, key_path: str, scheme: str = SCHEME_V1, relay: bool | None = None) -> None:
        if not HAS_CRYPTOGRAPHY:
            raise ImportError(f"signing writes needs the Python library cryptography: {CRYPTOGRAPHY_IMPORT_ERROR}")
        if scheme not in SCHEMES:
            raise ValueError(f"unknown signature scheme {scheme!r} (known: {', '.join(SCHEMES)})")
        with open(key_path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{key_path} is not an Ed25519 private key")
        self._key = key
        self.scheme = scheme
        self.relay = scheme == SCHEME_V1 if relay is None else relay
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = key_id_of(raw)
        self.public_b64 = public_b64(raw)

    def __repr__(self) -> str:  # never the key
        return f"Signer({self.key_id}, {self.scheme})"

    def signature(self, agent: str, body: dict[str, Any], created_at: str) -> str:
        """Standard base64 of the signature over ``body``'s SignableWrite as ``agent`` at ``created_at``."""
        payload = signable_write(self.scheme, agent, str(body.get("namespace") or DEFAULT_NAMESPACE),
                                 str(body.get("title", "")), str(body.get("kind") or DEFAULT_KIND), created_at,
                                 str(body.get("content", "")))
        return base64.b64encode(self._key.sign(payload)).decode()

    def sign_memory(self, body: dict[str, Any], agent: str, created_at: str | None = None) -> dict[str, Any]:
        """A copy of one memory's create body carrying ``created_at``, ``signature`` (and the relay copy)."""
        signed = copy.deepcopy(body)
        created_at = created_at or now_rfc3339()
        sig = self.signature(agent, signed, created_at)
        signed["created_at"], signed["signature"] = created_at, sig
        if self.relay:
            metadata = signed.get("metadata")
            signed["metadata"] = {**(metadata if isinstance(metadata, dict) else {}), RELAY_KEY: sig}
        return signed

    def sign(self, method: str, path: str, body: Any, agent: str | None) -> tuple[Any, dict[str, str]]:
        """(body to send, extra headers): creates on the signed routes are signed as ``agent``; anything else as is.
        ai-memory takes the signature in the body, so the headers stay empty."""
        if not agent or not signed_route(method, path):
            return body, {}
        if isinstance(body, dict):
            return self.sign_memory(body, agent), {}
        if isinstance(body, list):
            created_at = now_rfc3339()
            return [self.sign_memory(row, agent, created_at) if isinstance(row, dict) else row for row in body], {}
        return body, {}

    def record(self, method: str, path: str, body: Any, agent: str | None) -> dict[str, Any] | None:
        """What a history says about a request's attestation (None for a request that is not an attested write)."""
        if not signed_route(method, path):
            return None
        rows = body if isinstance(body, list) else [body]
        created = sorted({str(r.get("created_at")) for r in rows if isinstance(r, dict) and r.get("signature")})
        return {"signed": bool(created), "key_id": self.key_id, "scheme": self.scheme, "agent_id": agent,
                "created_at": created[0] if len(created) == 1 else created}


class Keyring:
    """The signers of several agents: a write is signed with its agent's key, a write of an agent without one is
    sent unsigned (and recorded so)."""

    def __init__(self, keys: dict[str, str] | None, scheme: str | None) -> None:
        self.scheme = scheme
        self.signers: dict[str, Signer] = {}
        if scheme:
            for agent, path in (keys or {}).items():
                self.signers[str(agent)] = Signer(str(path), scheme)

    def __bool__(self) -> bool:
        return bool(self.signers)

    def signer(self, agent: str | None) -> Signer | None:
        return self.signers.get(agent or "")

    def sign(self, method: str, path: str, body: Any, agent: str | None) -> tuple[Any, dict[str, str], Any]:
        """(body, headers, attestation record or None) of a request sent as ``agent``."""
        if not signed_route(method, path):
            return body, {}, None
        signer = self.signer(agent)
        if signer is None:
            return body, {}, {"signed": False, "agent_id": agent, "reason": "no key for this agent"}
        signed, headers = signer.sign(method, path, body, agent)
        return signed, headers, signer.record(method, path, signed, agent)


def verify(public_raw: bytes, scheme: str, agent: str, body: dict[str, Any]) -> bool:
    """Whether ``body``'s ``signature`` verifies as ``agent``'s under ``public_raw`` (tests, the stand-in)."""
    if not HAS_CRYPTOGRAPHY:
        raise ImportError(f"verifying needs the Python library cryptography: {CRYPTOGRAPHY_IMPORT_ERROR}")
    try:
        sig = base64.b64decode(str(body.get("signature", "")).strip(), validate=True)
        payload = signable_write(scheme, agent, str(body.get("namespace") or DEFAULT_NAMESPACE),
                                 str(body.get("title", "")), str(body.get("kind") or DEFAULT_KIND),
                                 str(body.get("created_at", "")), str(body.get("content", "")))
        Ed25519PublicKey.from_public_bytes(public_raw).verify(sig, payload)
    except Exception:  # any malformed part is a signature that does not verify
        return False
    return True
