"""agent_binding and attestation_probe in process against the fake cluster verifying signed creates (the
ai-memory/write/v1 scheme): bindings are made once and then left alone, the scenario is green on an attesting
cluster in each posture and red when the cluster accepts unsigned writes (fault accept_unsigned)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils import _attest
from ansible_collections.aimemory.swarm.plugins.module_utils._history import read_history
from ansible_collections.aimemory.swarm.plugins.modules import agent_binding, attestation_probe, history_check
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.unit.plugins.module_utils.fakes import AGENT, PKI, FakeCluster
from tests.unit.plugins.modules.conftest import Runner, endpoint_args
from tests.unit.plugins.modules.test_check_modules import controller_agrees

NODES = ["node-a", "node-b", "node-c"]
SCHEME = _attest.SCHEME_V1


@pytest.fixture
def agent_key(tmp_path: Path) -> tuple[Path, str]:
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "agent.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return path, pem


def bind_everywhere(run_module: Runner, pki: PKI, cluster: FakeCluster, pem: str) -> list[dict[str, Any]]:
    results = []
    for i, node in enumerate(NODES):
        results.append(run_module(agent_binding, {"url": cluster.url(node), "agents": [{"agent_id": AGENT,
                                                                                        "public_key": pem}],
                                                  "register": i == 0, "wait": 5, **endpoint_args(pki)}))
    return results


def test_agent_binding_registers_once_binds_everywhere_and_then_changes_nothing(
        run_module: Runner, pki: PKI, make_cluster: Any, agent_key: tuple[Path, str]) -> None:
    cluster = make_cluster(attestation=SCHEME)
    _path, pem = agent_key
    args = {"url": cluster.url("node-a"), "agents": [{"agent_id": AGENT, "public_key": pem}], **endpoint_args(pki)}
    planned = run_module(agent_binding, args, check_mode=True)
    assert planned["changed"] and planned["agents"][0]["actions"] == ["register", "bind"]
    assert cluster.agents["node-a"] == {}  # check mode changed nothing
    first = bind_everywhere(run_module, pki, cluster, pem)
    assert [r["agents"][0]["actions"] for r in first] == [["register", "bind"], ["bind"], ["bind"]]
    raw = _attest.raw_public_key(pem)
    assert all(cluster.agents[n][AGENT] == raw for n in NODES)
    assert first[0]["agents"][0]["key_id"] == _attest.key_id_of(raw)
    again = bind_everywhere(run_module, pki, cluster, pem)
    assert not any(r["changed"] for r in again) and all(r["agents"][0]["bound"] for r in again)


def test_agent_binding_fails_when_the_agent_never_arrives(run_module: Runner, pki: PKI, make_cluster: Any,
                                                          agent_key: tuple[Path, str]) -> None:
    cluster = make_cluster(attestation=SCHEME)
    result = run_module(agent_binding, {"url": cluster.url("node-b"), "register": False, "wait": 0.5,
                                        "agents": [{"agent_id": AGENT, "public_key": agent_key[1]}],
                                        **endpoint_args(pki)})
    assert result["failed"] and "not registered" in result["msg"]
    agents = [{"agent_id": AGENT, "public_key": "AAAA"}]
    bad = run_module(agent_binding, {"url": cluster.url("node-b"), "agents": agents, **endpoint_args(pki)})
    assert bad["failed"] and "32 bytes" in bad["msg"]


@pytest.mark.parametrize(("posture", "faults", "valid"), [("attested", set(), True), ("permissive", set(), True),
                                                          ("attested", {"accept_unsigned"}, False)])
def test_attestation_probe_is_judged_against_the_posture(run_module: Runner, pki: PKI, make_cluster: Any,
                                                         agent_key: tuple[Path, str], tmp_path: Path, posture: str,
                                                         faults: set[str], valid: bool) -> None:
    cluster = make_cluster(attestation=SCHEME, require=posture == "attested", faults=faults)
    path, pem = agent_key
    bind_everywhere(run_module, pki, cluster, pem)
    hist = str(tmp_path / "attestation.jsonl")
    args = {"nodes": cluster.endpoints(), "agent_key": str(path), "signature_scheme": SCHEME, "namespace": "att",
            "deadline": 5, "history": hist, **endpoint_args(pki)}
    assert not run_module(attestation_probe, args, check_mode=True)["changed"]
    assert not Path(hist).exists()
    result = run_module(attestation_probe, args)
    assert result["changed"] and result["outcomes"]["tampered"] == {"403": 3}
    assert result["outcomes"]["unsigned"] == ({"403": 3} if posture == "attested" and not faults else {"201": 3})
    _ops, problems = read_history(hist)
    assert problems == []
    assert pem.splitlines()[1] not in Path(hist).read_text()
    assert path.read_text().splitlines()[1] not in Path(hist).read_text()
    judged = run_module(history_check, {"history": hist, "check": "attestation", "kind": "attestation",
                                        "params": {"posture": posture, "nodes": NODES, "scheme": SCHEME}})
    ev = judged["evidence"]
    assert ev["pass"] is valid, ev["reasons"]
    controller_agrees(ev)
    if faults:
        assert any("unsigned through node-a must be refused (posture attested) but was accepted (201)" in r
                   for r in ev["reasons"])


def test_an_attestation_the_leader_does_not_relay_is_red(run_module: Runner, pki: PKI, make_cluster: Any,
                                                         agent_key: tuple[Path, str], tmp_path: Path) -> None:
    """ai-memory 0.10.0: a signature sent in the body only is verified by the leader and never reaches a peer,
    which stamps the replica claimed."""
    cluster = make_cluster(attestation=SCHEME, emit_signature=False)
    path, pem = agent_key
    bind_everywhere(run_module, pki, cluster, pem)
    hist = str(tmp_path / "attestation.jsonl")
    run_module(attestation_probe, {"nodes": cluster.endpoints(), "agent_key": str(path), "signature_scheme": SCHEME,
                                   "namespace": "att", "deadline": 5, "history": hist, **endpoint_args(pki)})
    ev = run_module(history_check, {"history": hist, "check": "attestation", "kind": "attestation",
                                    "params": {"posture": "attested", "nodes": NODES, "scheme": SCHEME}})["evidence"]
    assert not ev["pass"]
    assert all("signed_body_only" in r or r.startswith("figure") for r in ev["reasons"]), ev["reasons"]
    assert any("the attestation did not replicate" in r and "'claimed'" in r for r in ev["reasons"])
    controller_agrees(ev)


def test_attestation_probe_needs_a_usable_key(run_module: Runner, pki: PKI, cluster: FakeCluster,
                                              tmp_path: Path) -> None:
    result = run_module(attestation_probe, {"nodes": cluster.endpoints(), "agent_key": str(tmp_path / "none"),
                                            "signature_scheme": SCHEME, "namespace": "att",
                                            "history": str(tmp_path / "h.jsonl"), **endpoint_args(pki)})
    assert result["failed"] and "agent_key" in result["msg"]
