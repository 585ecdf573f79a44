"""TLS and the mTLS fingerprint allowlist (contract §4)."""

from __future__ import annotations

import hashlib
import re
import ssl
from pathlib import Path

HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class AllowlistError(ValueError):
    pass


def parse_allowlist(path: str) -> frozenset[str]:
    """One SHA-256 (of the leaf DER) per line: 64 hex, ':' optional, 'sha256:' prefix, '#' comments."""
    entries: set[str] = set()
    for lineno, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("sha256:"):
            line = line[len("sha256:"):]
        candidate = line.replace(":", "")
        if not HEX64.match(candidate):
            raise AllowlistError(f"mTLS allowlist at {path}: line {lineno} is not a SHA-256 fingerprint: {raw!r}")
        entries.add(candidate.lower())
    if not entries:
        raise AllowlistError(f"mTLS allowlist at {path} is empty — refuse to start")
    return frozenset(entries)


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def server_context(cert: str, key: str, client_ca: str | None, require_client_cert: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if require_client_cert:
        # Python's ssl cannot skip chain verification, so client chains must verify against the quorum CA
        # (the real binary checks only the leaf fingerprint; see docs/standin.md, deviations).
        ctx.verify_mode = ssl.CERT_REQUIRED
        if client_ca:
            ctx.load_verify_locations(client_ca)
        else:
            ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    return ctx


def client_context(ca: str | None, cert: str | None, key: str | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca:
        ctx.load_verify_locations(ca)
    else:
        ctx.load_default_certs()
    if cert and key:
        ctx.load_cert_chain(cert, key)
    return ctx
