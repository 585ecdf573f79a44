# Copyright: (c) 2026, ai-memory swarm certification team
# Apache License 2.0 (see https://www.apache.org/licenses/LICENSE-2.0)
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  api_key:
    description: Shared API key sent as C(X-API-Key).
    type: str
  agent_id:
    description: Stable C(X-Agent-Id) used on every request, so reads see the check's own writes on every node.
    type: str
    default: ai:swarm-certifier
  ca_cert:
    description: CA certificate that node certificates must chain to (their SAN must hold the address used).
    type: path
  client_cert:
    description: Client certificate presented for mTLS.
    type: path
  client_key:
    description: Key of O(client_cert).
    type: path
  timeout:
    description: Timeout in seconds of every HTTP request.
    type: float
    default: 10.0
"""
