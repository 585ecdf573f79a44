# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""The attestation scenario: writes that must be refused, signed writes whose attestation must replicate.

Through every node in turn, as the campaign's bound agent (``agent``, its key in ``signer``) unless said otherwise:

============================ ==========================================================================================
``unsigned``                 no signature
``unbound_key``              signed by a fresh key (made here, in memory, never bound anywhere): a forgery
``unbound_agent``            an agent that has no key bound (``unbound_agent``) signs with its own fresh key
``tampered``                 signed by the bound key, then the content changed: the signature does not match the body
``signed``                   signed by the bound key as the release specifies (with the relay copy the scheme has)
``signed_body_only``         (schemes with a relay copy) the signature only in the body, as the HTTP API documents it
============================ ==========================================================================================

Each write is an ``invoke`` op and a completion (``f=write``, ``value.case``), recording the status and the error
body. Then every node is asked, by id, for every accepted write until it holds it or ``deadline_s`` passes (``f=get``:
its ``attest_level``, ``write_signature``, ``created_at`` and ``agent_id``), and each node's whole namespace is read
once (``f=read``: the titles it holds, so a refused write that was stored anyway shows). The checker ``attestation``
judges the history against the posture the campaign declared. No key is ever recorded: key ids only.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._attest import (
    HAS_CRYPTOGRAPHY,
    SCHEME_V1,
    Signer,
    key_id_of,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import Endpoint
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.reads import get_memory, read_namespace
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.writes import digest, response_record

PATH = "/api/v1/memories"
PROCESS = "attestation"
CASES = ("unsigned", "unbound_key", "unbound_agent", "tampered", "signed", "signed_body_only")
POLL_S = 0.25


class _Ephemeral(Signer):
    """A signer whose key is made here, in memory, and never bound anywhere (the forger's key)."""

    def __init__(self, scheme: str, relay: bool) -> None:  # pylint: disable=super-init-not-called
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self._key = Ed25519PrivateKey.generate()
        self.scheme, self.relay = scheme, relay
        raw = self._key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = key_id_of(raw)
        self.public_b64 = ""


def cases_for(scheme: str) -> tuple[str, ...]:
    """The cases a scheme has: ``signed_body_only`` only where a relay copy exists (``ai-memory/write/v1``)."""
    return CASES if scheme == SCHEME_V1 else tuple(c for c in CASES if c != "signed_body_only")


class AttestationProbe:
    def __init__(self, history: History, nodes: list[tuple[str, str]], endpoint_args: dict[str, Any],
                 signer: Signer, namespace: str, unbound_agent: str = "ai:attestation-unbound") -> None:
        if not HAS_CRYPTOGRAPHY:
            raise ImportError("the attestation scenario needs the Python library cryptography")
        self.history, self.nodes, self.signer, self.namespace = history, list(nodes), signer, namespace
        self.args = {k: v for k, v in endpoint_args.items() if k not in ("agent_keys", "signature_scheme")}
        self.agent = str(self.args.get("agent_id") or "")
        self.unbound_agent = unbound_agent
        self.forger = _Ephemeral(signer.scheme, signer.relay)
        self.stranger = _Ephemeral(signer.scheme, signer.relay)
        self.accepted: list[dict[str, Any]] = []
        self.outcomes: dict[str, dict[str, int]] = {}

    def _body(self, case: str, node: str) -> dict[str, Any]:
        title = f"att-{case}-{node}-{uuid.uuid4().hex[:6]}"
        return {"title": title, "content": f"attestation case {case} through {node}", "namespace": self.namespace,
                "tier": "mid", "source": "api", "priority": 5, "scope": "collective"}

    def plan(self, case: str, body: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(agent, body to send, what the op records) of one case."""
        agent, record = self.agent, {"signed": False, "key_id": None, "relay": False, "tampered": False}
        if case == "unsigned":
            return agent, body, record
        if case == "unbound_key":
            signer = self.forger
        elif case == "unbound_agent":
            agent, signer = self.unbound_agent, self.stranger
        else:
            signer = self.signer
        sent = signer.sign_memory(body, agent)
        if case == "signed_body_only":
            sent["metadata"] = {k: v for k, v in (sent.get("metadata") or {}).items() if k != "write_signature"}
            if not sent["metadata"]:
                sent.pop("metadata")
        if case == "tampered":
            sent["content"] = body["content"] + " (changed after signing)"
        record.update(signed=True, key_id=signer.key_id, relay="write_signature" in (sent.get("metadata") or {}),
                      tampered=case == "tampered", created_at=sent.get("created_at"),
                      write_signature=sent.get("signature"))
        return agent, sent, record

    def write(self, client: Endpoint, node: str, case: str) -> None:
        agent, sent, record = self.plan(case, self._body(case, node))
        value = {"case": case, "title": sent["title"], "namespace": self.namespace, "agent_id": agent,
                 "digest": digest(sent["title"], sent["content"]), "scheme": self.signer.scheme,
                 **{k: v for k, v in record.items() if k != "write_signature"}}
        request = {"method": "POST", "path": PATH, "title": sent["title"], "namespace": self.namespace,
                   "agent_id": agent, "content": sent["content"], "signed": record["signed"],
                   "key_id": record["key_id"]}
        base = {"process": PROCESS, "f": "write", "node": node, "value": value, "step": case}
        self.history.append({**base, "type": "invoke", "request": request})
        resp = client.request("POST", PATH, sent, headers={"X-Agent-Id": agent})
        refused = resp.status is not None and 400 <= resp.status < 500
        kind = "ok" if resp.status == 201 else ("fail" if refused else "info")
        self.history.append({**base, "type": kind, **response_record(resp)})
        counts = self.outcomes.setdefault(case, {})
        key = str(resp.status if resp.status is not None else resp.error_class)
        counts[key] = counts.get(key, 0) + 1
        if resp.status == 201 and isinstance(resp.body, dict) and isinstance(resp.body.get("id"), str):
            self.accepted.append({"id": resp.body["id"], "case": case, "leader": node, "title": sent["title"],
                                  "created_at": record.get("created_at"),
                                  "write_signature": record.get("write_signature") if record["relay"] else None})

    def read_back(self, clients: dict[str, Endpoint], deadline_s: float) -> None:
        """Every accepted write on every node, by id, until each node holds it or the deadline passes."""
        deadline = time.monotonic() + deadline_s
        pending = {(w["id"], node) for w in self.accepted for node in clients}
        by_id = {w["id"]: w for w in self.accepted}
        while pending:
            for mem_id, node in sorted(pending):
                resp, memory = get_memory(clients[node], mem_id)
                last = time.monotonic() >= deadline
                if memory is None and not last:
                    continue
                metadata = (memory or {}).get("metadata") if isinstance((memory or {}).get("metadata"), dict) else {}
                value = {"id": mem_id, "case": by_id[mem_id]["case"], "leader": by_id[mem_id]["leader"],
                         "found": memory is not None, "attest_level": metadata.get("attest_level"),
                         "write_signature": metadata.get("write_signature"),
                         "created_at": (memory or {}).get("created_at"), "agent_id": metadata.get("agent_id")}
                self.history.append({"process": PROCESS, "type": "ok" if resp.status in (200, 404) else "fail",
                                     "f": "get", "node": node, "value": value, "status": resp.status,
                                     "error_class": resp.error_class, "latency_ms": resp.latency_ms})
                pending.discard((mem_id, node))
            if pending:
                time.sleep(POLL_S)

    def read_namespaces(self, clients: dict[str, Endpoint]) -> None:
        for node, client in clients.items():
            read = read_namespace(client, self.namespace)
            titles = sorted(str(m.get("title")) for m in (read.memories or {}).values())
            self.history.append({"process": PROCESS, "type": "ok" if read.ok else "fail", "f": "read",
                                 "node": node, "value": {"namespace": self.namespace, "titles": titles},
                                 "status": read.status, "error_class": read.error_class, "pages": read.pages})

    def run(self, deadline_s: float = 60.0) -> dict[str, Any]:
        clients = {name: Endpoint(url, **self.args) for name, url in self.nodes}
        try:
            for node in clients:
                for case in cases_for(self.signer.scheme):
                    self.write(clients[node], node, case)
            self.read_back(clients, deadline_s)
            self.read_namespaces(clients)
        finally:
            for client in clients.values():
                client.close()
        return {"outcomes": self.outcomes, "accepted": len(self.accepted), "key_id": self.signer.key_id,
                "forger_key_id": self.forger.key_id, "stranger_key_id": self.stranger.key_id}
