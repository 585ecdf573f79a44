#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: attestation_probe
short_description: Send writes the attestation gate must refuse and signed writes whose attestation must replicate
description:
  - Through every node in O(nodes), as the bound agent O(agent_id) (its private key at O(agent_key)), sends an
    unsigned write, a write signed by a fresh key that is bound nowhere, a write of an agent with no bound key
    (O(unbound_agent)) signed with its own fresh key, a write whose signature does not match its body, a write
    signed as the release specifies and, for a scheme with a relay copy, one with the signature in the body only.
    The fresh keys are made in memory and never written anywhere.
  - Then asks every node for every accepted write, by id, until it holds it or O(deadline) passes, and reads each
    node's namespace once. Everything is recorded in O(history) (statuses, error bodies, attestation levels, key
    ids; never a key); the checker C(attestation) of M(aimemory.swarm.history_check) judges it.
version_added: 0.3.0
author: AI Memory Swarm Team (@aimemory)
requirements:
  - httpx (Debian C(python3-httpx)) on the host that runs the module
  - cryptography (Debian C(python3-cryptography)) on the host that runs the module
extends_documentation_fragment:
  - aimemory.swarm.attributes
  - aimemory.swarm.endpoint
options:
  nodes:
    description: Nodes to write through and read, each a dict with C(name) and C(url).
    type: list
    elements: dict
    required: true
  agent_key:
    description: Private key (PEM) of O(agent_id), the key bound to it on every node. Read, never returned.
    type: path
    required: true
  unbound_agent:
    description: An agent id that has no key bound on any node.
    type: str
    default: ai:attestation-unbound
  namespace:
    description: Namespace of the scenario's writes.
    type: str
    required: true
  deadline:
    description: Seconds to wait for every node to hold every accepted write.
    type: float
    default: 60
  history:
    description: History file (JSONL) on the host running the module.
    type: path
    required: true
attributes:
  check_mode:
    description: Sends nothing and records nothing in check mode.
    support: full
  diff_mode:
    support: none
seealso:
  - module: aimemory.swarm.agent_binding
  - module: aimemory.swarm.history_check
"""

EXAMPLES = r"""
- name: Probe the attestation gate of every peer
  aimemory.swarm.attestation_probe:
    nodes:
      - {name: node-a, url: "https://10.250.0.10:9077"}
      - {name: node-b, url: "https://10.250.0.11:9077"}
    agent_key: /etc/aimemory-checks/agents/ai_swarm-certifier.key
    signature_scheme: ai-memory/write/v1
    namespace: att-c1
    history: /var/lib/aimemory-checks/c1/attestation.jsonl
"""

RETURN = r"""
outcomes:
  description: Per case, how many writes got each status (or error class).
  returned: success
  type: dict
  sample: {"unsigned": {"403": 3}, "signed": {"201": 3}}
accepted:
  description: How many writes were accepted.
  returned: success
  type: int
  sample: 6
key_id:
  description: Key id of O(agent_key) (C(ed25519:) and 16 hex digits of the SHA-256 of the public key).
  returned: success
  type: str
  sample: "ed25519:3f2a9c0d11e4b7a2"
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.aimemory.swarm.plugins.module_utils._attest import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    Signer,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import (
    ENDPOINT_ARGSPEC,
    HAS_HTTPX,
    HTTPX_IMPORT_ERROR,
    endpoint_kwargs,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.attestation import AttestationProbe


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            nodes=dict(type="list", elements="dict", required=True),
            agent_key=dict(type="path", required=True, no_log=False),
            unbound_agent=dict(type="str", default="ai:attestation-unbound"),
            namespace=dict(type="str", required=True),
            deadline=dict(type="float", default=60),
            history=dict(type="path", required=True),
            **ENDPOINT_ARGSPEC,
        ),
        required_by={"agent_key": "signature_scheme"},
        supports_check_mode=True,
    )
    if not HAS_HTTPX:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    p = module.params
    if not p["nodes"] or any(not isinstance(n, dict) or not n.get("name") or not n.get("url") for n in p["nodes"]):
        module.fail_json(msg="nodes: every item needs a name and a url")
    if p["unbound_agent"] == p["agent_id"]:
        module.fail_json(msg="unbound_agent must differ from agent_id (whose key is bound)")
    try:
        signer = Signer(p["agent_key"], p["signature_scheme"])
    except (ValueError, OSError) as exc:
        module.fail_json(msg=f"agent_key: {exc}")
    if module.check_mode:
        module.exit_json(changed=False, outcomes={}, accepted=0, key_id=signer.key_id)
    probe = AttestationProbe(History(p["history"]), [(str(n["name"]), str(n["url"])) for n in p["nodes"]],
                             endpoint_kwargs(p), signer, p["namespace"], p["unbound_agent"])
    try:
        result = probe.run(p["deadline"])
    except (ValueError, OSError) as exc:
        module.fail_json(msg=f"the scenario could not run: {exc}")
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
