"""The stand-in's write-attestation gate on real 3-node mTLS clusters: as itself (0.7.0: permissive unless
AI_MEMORY_REQUIRE_AGENT_ATTESTATION=1, scheme v0) and impersonating 0.10.0 (required by default, scheme v1, peers
re-verify the relay copy); bindings through the product's routes; the fault accept_unsigned."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils import _attest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.standin.cluster import AGENT, Cluster, wait_for

RELEASE_0100 = {"AI_MEMORY_STANDIN_RELEASE": "0.10.0"}


def signer(tmp_path: Path, scheme: str, name: str = "agent") -> _attest.Signer:
    path = tmp_path / f"{name}.key"
    path.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return _attest.Signer(str(path), scheme)


def bind(cluster: Cluster, key: _attest.Signer, agent: str = AGENT) -> None:
    assert cluster.nodes[0].request("POST", "/api/v1/agents", {"agent_id": agent, "agent_type": "ai:swarm-agent"}
                                    ).status == 201
    for node in cluster.nodes:
        assert wait_for(lambda n=node: n.request("GET", "/api/v1/memories?namespace=_agents").body["count"], 5)
        resp = node.request("PUT", f"/api/v1/agents/{agent}/pubkey", {"pubkey_b64": key.public_b64})
        assert resp.status == 200, resp.body


def body(title: str) -> dict[str, Any]:
    return {"title": title, "content": f"content of {title}", "namespace": "att", "scope": "collective"}


def level(node: Any, mem_id: str) -> str | None:
    assert wait_for(lambda: node.request("GET", f"/api/v1/memories/{mem_id}").status == 200, 5)
    return node.request("GET", f"/api/v1/memories/{mem_id}").body["memory"]["metadata"].get("attest_level")


def test_as_0100_unsigned_is_refused_signed_is_attested_everywhere_only_with_the_relay_copy(
        make_cluster: Any, tmp_path: Path) -> None:
    cluster = make_cluster(env=RELEASE_0100)
    a = cluster.nodes[0]
    refused = a.request("POST", "/api/v1/memories", body("unsigned"))
    assert refused.status == 403 and refused.body["code"] == "ATTESTATION_FAILED"
    key = signer(tmp_path, _attest.SCHEME_V1)
    bind(cluster, key)
    signed, _ = key.sign("POST", "/api/v1/memories", body("signed"), AGENT)
    resp = a.request("POST", "/api/v1/memories", signed)
    assert resp.status == 201, resp.body
    assert [level(n, resp.body["id"]) for n in cluster.nodes] == ["agent_attested"] * 3
    got = cluster.nodes[2].request("GET", f"/api/v1/memories/{resp.body['id']}").body["memory"]
    assert got["created_at"] == signed["created_at"]
    body_only, _ = key.sign("POST", "/api/v1/memories", body("body-only"), AGENT)
    body_only.pop("metadata")
    resp = a.request("POST", "/api/v1/memories", body_only)
    assert resp.status == 201
    assert [level(n, resp.body["id"]) for n in cluster.nodes] == ["agent_attested", "claimed", "claimed"]
    tampered, _ = key.sign("POST", "/api/v1/memories", body("tampered"), AGENT)
    tampered["content"] += "!"
    assert a.request("POST", "/api/v1/memories", tampered).body["code"] == "ATTESTATION_FAILED"
    rows, _ = key.sign("POST", "/api/v1/memories/bulk", [body("b1"), body("b2")], AGENT)
    assert a.request("POST", "/api/v1/memories/bulk", rows).body == {"created": 2, "errors": []}
    assert a.request("POST", "/api/v1/memories/bulk", [body("b3")]).status == 403
    assert a.request("GET", "/api/v1/health").body["version"] == "0.10.0"


def test_as_0100_permissive_takes_unsigned_but_never_a_forgery(make_cluster: Any, tmp_path: Path) -> None:
    cluster = make_cluster(env={**RELEASE_0100, "AI_MEMORY_REQUIRE_AGENT_ATTESTATION": "0"})
    key, forger = signer(tmp_path, _attest.SCHEME_V1), signer(tmp_path, _attest.SCHEME_V1, "forger")
    bind(cluster, key)
    resp = cluster.nodes[1].request("POST", "/api/v1/memories", body("unsigned"))
    assert resp.status == 201 and level(cluster.nodes[1], resp.body["id"]) is None
    forged, _ = forger.sign("POST", "/api/v1/memories", body("forged"), AGENT)
    assert cluster.nodes[1].request("POST", "/api/v1/memories", forged).status == 403


def test_fault_accept_unsigned_takes_unsigned_writes_although_required(make_cluster: Any) -> None:
    cluster = make_cluster(env=RELEASE_0100, faults="accept_unsigned")
    assert cluster.nodes[0].request("POST", "/api/v1/memories", body("unsigned")).status == 201


def test_as_itself_it_is_0_7_0_permissive_with_the_v0_scheme(make_cluster: Any, tmp_path: Path) -> None:
    cluster = make_cluster()
    a = cluster.nodes[0]
    assert a.request("POST", "/api/v1/memories", body("unsigned")).status == 201
    key = signer(tmp_path, _attest.SCHEME_V0)
    bind(cluster, key)
    signed, _ = key.sign("POST", "/api/v1/memories", body("signed"), AGENT)
    resp = a.request("POST", "/api/v1/memories", signed)
    assert resp.status == 201 and [level(n, resp.body["id"]) for n in cluster.nodes] == ["agent_attested"] * 3
    other_scheme = _attest.Signer(str(tmp_path / "agent.key"), _attest.SCHEME_V1)  # the bound key, 0.10.0's bytes
    wrong, _ = other_scheme.sign("POST", "/api/v1/memories", body("v1"), AGENT)
    assert a.request("POST", "/api/v1/memories", wrong).status == 403
    strict = make_cluster(env={"AI_MEMORY_REQUIRE_AGENT_ATTESTATION": "1"})
    assert strict.nodes[0].request("POST", "/api/v1/memories", body("unsigned")).status == 403


def test_binding_is_admin_only_and_needs_a_registration(cluster: Cluster, tmp_path: Path) -> None:
    key = signer(tmp_path, _attest.SCHEME_V0)
    a = cluster.nodes[0]
    assert a.request("PUT", "/api/v1/agents/ai:nobody/pubkey", {"pubkey_b64": key.public_b64}).status == 404
    assert a.request("PUT", "/api/v1/agents/ai:nobody/pubkey", {"pubkey_b64": key.public_b64},
                     agent="ai:not-admin").status == 403
    assert a.request("PUT", f"/api/v1/agents/{AGENT}/pubkey", {"pubkey_b64": "AAAA"}).status == 400


def test_version_names_the_impersonated_release_and_refuses_an_unknown_one(binary: Path, tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AI_MEMORY_STANDIN_FAULTS": ""}
    for release, want in (("", "ai-memory 0.7.0 "), ("0.10.0", "ai-memory 0.10.0 ")):
        out = subprocess.run([str(binary), "--version"], env={**env, "AI_MEMORY_STANDIN_RELEASE": release},
                             capture_output=True, text=True, timeout=30, check=True).stdout
        assert out.startswith(want)
    bad = subprocess.run([str(binary), "--version"], env={**env, "AI_MEMORY_STANDIN_RELEASE": "9.9.9"},
                         capture_output=True, text=True, timeout=30, check=False)
    assert bad.returncode != 0
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run([str(binary), "--version"], env={**env, "AI_MEMORY_STANDIN_RELEASE": "9.9.9"},
                       capture_output=True, timeout=30, check=True)
