#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: agent_binding
short_description: Register agents on an ai-memory node and bind each one's Ed25519 attestation key there
description:
  - Makes the node at O(url) know every agent in O(agents) with its public key bound, the way ai-memory
    documents it for HTTP clients (ai-memory issues 626 and 1539) - C(POST /api/v1/agents) registers an agent
    (the registration fans out to the node's quorum peers), C(PUT /api/v1/agents/{id}/pubkey) binds the key on
    this node only (a binding is a local update; catch-up may carry it to peers later, never in time for a
    write). Both are admin-gated, so O(agent_id) must be one of the node's admin agent ids.
  - Idempotent - it reads each agent's registration on the node first (the C(agent:<id>) row of namespace
    C(_agents) and its C(metadata.agent_pubkey), read as that agent, since a PostgreSQL-backed node keeps the row
    private to it) and only registers a missing agent and binds a key that differs. The key is compared as raw
    bytes, whatever base64 spelling the node stores.
  - With O(register=false) it registers nothing and waits (up to O(wait) seconds) for the registrations another
    node fanned out to arrive, then binds. Every binding is read back; a key that did not stick fails the task.
version_added: 0.3.0
author: AI Memory Swarm Team (@aimemory)
requirements:
  - httpx (Debian C(python3-httpx)) on the host that runs the module
  - cryptography (Debian C(python3-cryptography)) on that host, when O(agent_keys) is set
extends_documentation_fragment:
  - aimemory.swarm.attributes
  - aimemory.swarm.endpoint
options:
  url:
    description: Base URL of the node, C(https://<ip>:9077).
    type: str
    required: true
  agents:
    description: The agents this node must know, each with the public key its writes are signed with.
    type: list
    elements: dict
    required: true
    suboptions:
      agent_id:
        description: The agent id (its C(X-Agent-Id)).
        type: str
        required: true
      public_key:
        description: Its Ed25519 public key, PEM (SubjectPublicKeyInfo) or base64 of the 32 raw bytes. Public material.
        type: str
        required: true
      agent_type:
        description: Agent type of a registration (any C(ai:<name>) is accepted by ai-memory).
        type: str
        default: ai:swarm-agent
  register:
    description: Register the agents missing on this node (the registration fans out to its quorum peers).
    type: bool
    default: true
  bind:
    description: Bind each agent's key on this node.
    type: bool
    default: true
  wait:
    description: Seconds to wait for the agents' registrations to be on this node before binding.
    type: float
    default: 30
attributes:
  check_mode:
    description: Reads the node's registrations and reports what it would register and bind; changes nothing.
    support: full
  diff_mode:
    support: none
seealso:
  - module: aimemory.swarm.attestation_probe
"""

EXAMPLES = r"""
- name: Bind the campaign's agent keys on this node
  aimemory.swarm.agent_binding:
    url: "https://10.250.0.10:9077"
    api_key: "{{ api_key }}"
    agent_id: ai:swarm-certifier
    ca_cert: /etc/ai-memory/tls/ca.pem
    client_cert: /etc/ai-memory/tls/client.pem
    client_key: /etc/ai-memory/tls/client.key
    agents:
      - agent_id: ai:swarm-certifier
        public_key: "{{ lookup('ansible.builtin.file', '.state/c1/pki/agents/ai_swarm-certifier.pub') }}"
"""

RETURN = r"""
agents:
  description: Per agent, its key id and what was done on this node.
  returned: always
  type: list
  elements: dict
  sample:
    - {agent_id: ai:swarm-certifier, key_id: "ed25519:3f2a9c0d11e4b7a2", registered: true, bound: true,
       actions: [bind]}
"""

import time
from typing import Any
from urllib.parse import quote

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.aimemory.swarm.plugins.module_utils._attest import key_id_of, public_b64, raw_public_key
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    ENDPOINT_ARGSPEC,
    HAS_CRYPTOGRAPHY,
    HAS_HTTPX,
    HTTPX_IMPORT_ERROR,
    Endpoint,
    endpoint_kwargs,
)

REGISTRY_NAMESPACE = "_agents"
POLL_S = 0.5


def registrations(client: Endpoint, agents: list[str]) -> dict[str, bytes | None]:
    """agent id -> raw bound key (None: registered, no key) as this node stores them; an agent not registered here
    is absent. Each agent's registration row is read as that agent (``X-Agent-Id``): a PostgreSQL-backed node keeps
    the row private to the agent it registers, so only its owner (or the admin list, which has no keys) sees it."""
    found: dict[str, bytes | None] = {}
    for agent in agents:
        resp = client.request("GET", f"/api/v1/memories?namespace={REGISTRY_NAMESPACE}&limit=1000",
                              headers={"X-Agent-Id": agent})
        if resp.status != 200:
            raise RuntimeError(f"cannot read the registration of {agent}: {resp.status or resp.error_class} "
                               f"{str(resp.body)[:300]}")
        body = resp.body
        rows = body.get("memories") if isinstance(body, dict) else body
        for row in rows if isinstance(rows, list) else []:
            if str((row or {}).get("title", "")) != f"agent:{agent}":
                continue
            meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
            key = meta.get("agent_pubkey")
            try:
                found[agent] = raw_public_key(str(key)) if key else None
            except ValueError:
                found[agent] = b""  # a key the node holds that is not one: rebind
    return found


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            agents=dict(type="list", elements="dict", required=True, options=dict(
                agent_id=dict(type="str", required=True),
                public_key=dict(type="str", required=True),
                agent_type=dict(type="str", default="ai:swarm-agent"),
            )),
            register=dict(type="bool", default=True),
            bind=dict(type="bool", default=True),
            wait=dict(type="float", default=30),
            **ENDPOINT_ARGSPEC,
        ),
        supports_check_mode=True,
    )
    if not HAS_HTTPX:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    if module.params.get("agent_keys") and not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    p = module.params
    wanted: dict[str, tuple[bytes, str]] = {}
    for agent in p["agents"]:
        try:
            wanted[agent["agent_id"]] = (raw_public_key(agent["public_key"]), agent["agent_type"])
        except ValueError as exc:
            module.fail_json(msg=f"agents: {agent['agent_id']}: {exc}")
    try:
        client = Endpoint(p["url"], **{k: v for k, v in endpoint_kwargs(p).items()
                                       if k not in ("agent_keys", "signature_scheme")})
    except (ValueError, OSError) as exc:
        module.fail_json(msg=f"cannot build the client: {exc}")
    results: dict[str, dict[str, Any]] = {
        a: {"agent_id": a, "key_id": key_id_of(raw), "registered": False, "bound": False, "actions": []}
        for a, (raw, _t) in wanted.items()}
    try:
        have = registrations(client, list(wanted))
        missing = [a for a in wanted if a not in have]
        if missing and p["register"]:
            for agent in missing:
                results[agent]["actions"].append("register")
                if module.check_mode:
                    continue
                resp = client.request("POST", "/api/v1/agents", {"agent_id": agent, "agent_type": wanted[agent][1],
                                                                 "capabilities": []})
                # 503 quorum_not_met: committed here, a peer missed the fan-out (catch-up repairs it)
                if resp.status not in (200, 201, 503):
                    module.fail_json(msg=f"registering {agent}: {resp.status or resp.error_class} "
                                         f"{str(resp.body)[:300]}", agents=list(results.values()))
        if not module.check_mode:
            deadline = time.monotonic() + max(0.0, p["wait"])
            have = registrations(client, list(wanted))
            while any(a not in have for a in wanted) and time.monotonic() < deadline:
                time.sleep(POLL_S)
                have = registrations(client, list(wanted))
            absent = sorted(a for a in wanted if a not in have)
            if absent:
                module.fail_json(msg=f"not registered on {p['url']} after {p['wait']:g} s: {absent}",
                                 agents=list(results.values()))
        for agent, (raw, _type) in wanted.items():
            results[agent]["registered"] = agent in have or module.check_mode
            if have.get(agent) == raw:
                results[agent]["bound"] = True
                continue
            if not p["bind"]:
                continue
            results[agent]["actions"].append("bind")
            if module.check_mode:
                continue
            resp = client.request("PUT", f"/api/v1/agents/{quote(agent, safe='')}/pubkey",
                                  {"pubkey_b64": public_b64(raw)})
            if resp.status != 200:
                module.fail_json(msg=f"binding the key of {agent}: {resp.status or resp.error_class} "
                                     f"{str(resp.body)[:300]}", agents=list(results.values()))
        if not module.check_mode and any("bind" in r["actions"] for r in results.values()):
            have = registrations(client, list(wanted))
            wrong = sorted(a for a, (raw, _t) in wanted.items() if p["bind"] and have.get(a) != raw)
            if wrong:
                module.fail_json(msg=f"the bound key did not stick on {p['url']}: {wrong}",
                                 agents=list(results.values()))
            for agent, (raw, _t) in wanted.items():
                results[agent]["bound"] = have.get(agent) == raw
    except RuntimeError as exc:
        module.fail_json(msg=str(exc), agents=list(results.values()))
    finally:
        client.close()
    changed = any(r["actions"] for r in results.values())
    module.exit_json(changed=changed, agents=list(results.values()))


if __name__ == "__main__":
    main()
