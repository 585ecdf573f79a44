"""Write attestation: the signed bytes are ai-memory's, byte for byte; the signer never leaks its key; the real
binaries (0.10.0: ai-memory/write/v1, 0.7.0: ai-memory/write/v0) accept what it signs and refuse what it tampers."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils import _attest
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import Endpoint
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ARTIFACTS = Path("/var/lib/aimemory-build/artifacts")
EMPTY_SHA = hashlib.sha256(b"").digest()


def text(s: str) -> bytes:
    raw = s.encode()
    assert len(raw) < 24
    return bytes([0x60 | len(raw)]) + raw


def key_file(tmp_path: Path, name: str = "agent") -> Path:
    path = tmp_path / f"{name}.key"
    path.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


def test_v1_is_the_deterministic_map_with_the_domain_tag() -> None:
    got = _attest.signable_write(_attest.SCHEME_V1, "a", "n", "t", "observation", "c", "")
    # RFC 8949 4.2.1: keys ordered by their encoded bytes, so by length first; the content hash as a byte string
    want = (b"\xa7" + text("_dst") + bytes([0x72]) + b"ai-memory/write/v1" + text("kind") + text("observation")
            + text("title") + text("t") + text("agent_id") + text("a") + text("namespace") + text("n")
            + text("created_at") + text("c") + text("content_sha256") + b"\x58\x20" + EMPTY_SHA)
    assert got == want


def test_v0_is_the_six_fields_in_lexical_key_order_without_a_tag() -> None:
    got = _attest.signable_write(_attest.SCHEME_V0, "a", "n", "t", "observation", "c", "")
    want = (b"\xa6" + text("agent_id") + text("a") + text("content_sha256") + b"\x58\x20" + EMPTY_SHA
            + text("created_at") + text("c") + text("kind") + text("observation") + text("namespace") + text("n")
            + text("title") + text("t"))
    assert got == want


def test_long_and_unicode_strings_use_the_longer_heads() -> None:
    title = "é" * 200  # 400 bytes: a two-byte length
    payload = _attest.signable_write(_attest.SCHEME_V1, "a", "n", title, "observation", "c", "x")
    assert b"\x79\x01\x90" + title.encode() in payload
    assert _attest.cbor_text("x" * 30) == b"\x78\x1e" + b"x" * 30
    with pytest.raises(ValueError, match="unknown signature scheme"):
        _attest.signable_write("ai-memory/write/v9", "a", "n", "t", "k", "c", "x")


def test_a_signed_create_carries_signature_created_at_and_the_relay_copy(tmp_path: Path) -> None:
    signer = _attest.Signer(str(key_file(tmp_path)), _attest.SCHEME_V1)
    body = {"title": "t1", "content": "hello", "namespace": "ns1", "metadata": {"seq": 1}}
    sent, headers = signer.sign("POST", "/api/v1/memories", body, "ai:tester")
    assert headers == {} and body == {"title": "t1", "content": "hello", "namespace": "ns1", "metadata": {"seq": 1}}
    assert sent["metadata"] == {"seq": 1, "write_signature": sent["signature"]}
    assert len(base64.b64decode(sent["signature"])) == 64
    raw = _attest.raw_public_key(signer.public_b64)
    assert _attest.verify(raw, _attest.SCHEME_V1, "ai:tester", sent)
    assert not _attest.verify(raw, _attest.SCHEME_V1, "ai:other", sent)  # the agent is signed
    assert not _attest.verify(raw, _attest.SCHEME_V1, "ai:tester", {**sent, "content": "hellO"})
    assert not _attest.verify(raw, _attest.SCHEME_V0, "ai:tester", sent)  # a scheme is not the other
    assert not _attest.verify(raw, _attest.SCHEME_V1, "ai:tester", {**sent, "kind": "claim"})
    record = signer.record("POST", "/api/v1/memories", sent, "ai:tester")
    assert record == {"signed": True, "key_id": signer.key_id, "scheme": _attest.SCHEME_V1, "agent_id": "ai:tester",
                      "created_at": sent["created_at"]}


def test_only_creates_are_signed_and_bulk_rows_each_are(tmp_path: Path) -> None:
    signer = _attest.Signer(str(key_file(tmp_path)), _attest.SCHEME_V0)
    for method, path in (("PUT", "/api/v1/memories/x"), ("DELETE", "/api/v1/memories/x"), ("POST", "/api/v1/links"),
                         ("GET", "/api/v1/memories")):
        body = {"title": "t", "content": "c"}
        assert signer.sign(method, path, body, "ai:a") == (body, {})
        assert signer.record(method, path, {}, "ai:a") is None
    bulk = [{"title": "a", "content": "1"}, {"title": "b", "content": "2"}]
    rows, _headers = signer.sign("POST", "/api/v1/memories/bulk", bulk, "ai:a")
    assert all("signature" in r and "metadata" not in r for r in rows)  # v0 has no relay copy
    assert len({r["created_at"] for r in rows}) == 1
    assert signer.sign("POST", "/api/v1/memories", {"title": "t"}, None)[0] == {"title": "t"}  # no agent, unsigned


def test_the_key_never_shows(tmp_path: Path) -> None:
    path = key_file(tmp_path)
    signer = _attest.Signer(str(path), _attest.SCHEME_V1)
    pem = path.read_text()
    secret = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    sent, _headers = signer.sign("POST", "/api/v1/memories", {"title": "t", "content": "c"}, "ai:a")
    shown = json.dumps([repr(signer), signer.record("POST", "/api/v1/memories", sent, "ai:a"), sent, vars(signer)
                        | {"_key": None}])
    assert secret not in shown and secret[-20:] not in shown
    assert repr(signer) == f"Signer({signer.key_id}, {_attest.SCHEME_V1})"


def test_public_keys_in_every_spelling(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    for spelling in (pem, _attest.public_b64(raw), base64.b64encode(raw).decode(),
                     base64.urlsafe_b64encode(raw).decode()):
        assert _attest.raw_public_key(spelling) == raw
    for bad in ("", "not base64!!", base64.b64encode(b"short").decode()):
        with pytest.raises(ValueError):
            _attest.raw_public_key(bad)
    with pytest.raises(ValueError, match="Ed25519"):
        _attest.Signer(str(_rsa_key(tmp_path)), _attest.SCHEME_V1)


def _rsa_key(tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = tmp_path / "rsa.key"
    path.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


def test_keyring_signs_with_the_agents_key_and_says_when_it_cannot(tmp_path: Path) -> None:
    ring = _attest.Keyring({"ai:a": str(key_file(tmp_path, "a"))}, _attest.SCHEME_V1)
    body, _h, record = ring.sign("POST", "/api/v1/memories", {"title": "t", "content": "c"}, "ai:a")
    assert record["signed"] and "signature" in body
    body, _h, record = ring.sign("POST", "/api/v1/memories", {"title": "t", "content": "c"}, "ai:b")
    assert record == {"signed": False, "agent_id": "ai:b", "reason": "no key for this agent"}
    assert "signature" not in body
    assert ring.sign("GET", "/api/v1/memories", None, "ai:a") == (None, {}, None)
    assert not _attest.Keyring({"ai:a": "/nonexistent"}, None)  # no scheme: nothing is loaded or signed


# ------------------------------------------------------------------ against the real binaries

def real_binary(version: str) -> Path | None:
    found = sorted(ARTIFACTS.glob(f"ai-memory-{version}-*/ai-memory")) if ARTIFACTS.is_dir() else []
    if not found and os.environ.get("AIMEMORY_REQUIRE_REAL"):
        pytest.fail(f"the real ai-memory {version} is not built (playbooks/build_release.yml)")
    return found[0] if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(url: str, body: Any, agent: str) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "X-Agent-Id": agent})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.mark.parametrize(("version", "scheme", "unsigned"), [
    ("0.10.0", _attest.SCHEME_V1, 403),
    ("0.7.0", _attest.SCHEME_V0, 201),
])
def test_the_real_binary_verifies_what_the_signer_signs(
        tmp_path: Path, version: str, scheme: str, unsigned: int) -> None:
    binary = real_binary(version)
    if binary is None:
        pytest.skip(f"the real ai-memory {version} is not built here")
    home, db, agent = tmp_path / "home", tmp_path / "a.db", "ai:attest-test"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "AI_MEMORY_NO_CONFIG": "1"}
    signer = _attest.Signer(str(key_file(tmp_path)), scheme)
    # the CLI way the product documents: register the agent, bind its key (`ai-memory agents bind-key`)
    for argv in (["agents", "register", "--agent-id", agent, "--agent-type", "ai:swarm-agent"],
                 ["agents", "bind-key", "--agent-id", agent, "--pubkey", signer.public_b64]):
        done = subprocess.run([str(binary), "--db", str(db), *argv], env=env, capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, done.stderr
    port = free_port()
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen([str(binary), "--db", str(db), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v1/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-2000:]
                time.sleep(0.1)
        body = {"title": "attested", "content": "signed by the agent", "namespace": "att", "tier": "mid"}
        client = Endpoint(url, agent_id=agent, agent_keys={agent: str(signer_path(tmp_path))}, signature_scheme=scheme)
        resp = client.request("POST", "/api/v1/memories", body)
        assert resp.status == 201, resp.body
        assert resp.attestation is not None and resp.attestation["signed"]
        got = client.request("GET", f"/api/v1/memories/{resp.body['id']}")
        memory = got.body.get("memory", got.body)
        assert memory["metadata"]["attest_level"] == "agent_attested"
        assert memory["created_at"] == resp.attestation["created_at"]
        client.close()
        tampered, _headers = signer.sign("POST", "/api/v1/memories", {**body, "title": "tampered"}, agent)
        tampered["content"] += "!"
        status, answer = post(f"{url}/api/v1/memories", tampered, agent)
        assert (status, answer.get("code")) == (403, "ATTESTATION_FAILED")
        status, answer = post(f"{url}/api/v1/memories", {**body, "title": "unsigned"}, agent)
        assert status == unsigned, answer
    finally:
        proc.terminate()
        proc.wait(30)


def signer_path(tmp_path: Path) -> Path:
    return tmp_path / "agent.key"
