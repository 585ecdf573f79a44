# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
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
