# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # Options of every module that talks to ai-memory nodes through plugins/module_utils/_endpoint.py
    # (action group aimemory.swarm.endpoint, so module_defaults can set them once).
    DOCUMENTATION = r"""
options:
  api_key:
    description:
      - Shared API key sent as C(X-API-Key) on every request (contract §3.2). Never logged or recorded.
    type: str
  agent_id:
    description:
      - Stable C(X-Agent-Id) sent on every request, on every node, so reads see the writes of the check whatever
        their scope (contract §3.3). Recorded in each operation of the history.
    type: str
    default: ai:swarm-certifier
  client_cert:
    description:
      - PEM client certificate presented for mTLS; its SHA-256 fingerprint must be on the nodes' allowlist.
    type: path
  client_key:
    description:
      - Private key of O(client_cert) (a path; the key itself is never read into the result).
    type: path
  ca_cert:
    description:
      - CA certificate the nodes' server certificates must chain to. The address in each node URL must be in the
        certificate's SAN (IP SAN for IP URLs); a mismatch is the error class C(tls_verify_failed).
    type: path
  timeout:
    description:
      - Timeout in seconds of each connection attempt and each read of a response.
    type: float
    default: 10.0
  agent_keys:
    description:
      - Agent id to the path of its Ed25519 private key (PEM) on the host running the module. With
        O(signature_scheme), every memory a request creates as one of these agents (its C(X-Agent-Id)) is signed
        with the agent's key as the release specifies (agent attestation); other requests are sent as they are.
      - The keys are read on the host and never returned or recorded; histories record the key id only.
      - Needs the Python library cryptography (Debian C(python3-cryptography)) on that host.
    type: dict
  signature_scheme:
    description:
      - How the release under test signs a write (the release table's C(http_write_signature)) -
        C(ai-memory/write/v1) (0.9 and later - deterministic CBOR with a domain tag, and the relay copy in
        C(metadata.write_signature) its federation verifies), C(ai-memory/write/v0) (0.7). Unset, nothing is
        signed.
    type: str
    choices: [ai-memory/write/v1, ai-memory/write/v0]
"""
