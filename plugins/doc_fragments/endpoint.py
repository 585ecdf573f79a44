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
"""
