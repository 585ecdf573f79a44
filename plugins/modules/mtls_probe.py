#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: mtls_probe
short_description: Try client identities against a node and record whether the TLS handshake refused them
description:
  - For each identity and each path, opens a new TLS connection presenting that identity (or none) and sends one
    request; records the HTTP status, or the transport error class when no HTTP answer came (C(tls_refused) when the
    handshake failed or the server closed the connection before any status line).
  - Identities expected to be refused must get no HTTP status at all; the control identity must be served.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
options:
  url:
    description: Base URL of the node.
    type: str
    required: true
  ca_cert:
    description: CA that the node's certificate chains to.
    type: path
    required: true
  identities:
    description: Identities to try, each C({name, cert, key, expect}) with C(expect) C(refused) or C(allowed);
      C(cert) and C(key) omitted means no client certificate. An identity's own CA can be trusted with C(ca).
    type: list
    elements: dict
    required: true
  paths:
    description: Requests to send, each C({method, path}); a POST sends a small memory.
    type: list
    elements: dict
    default: [{method: GET, path: /api/v1/health}, {method: POST, path: /api/v1/memories}]
  api_key:
    description: API key sent with every request.
    type: str
  agent_id:
    description: C(X-Agent-Id) sent with every request.
    type: str
    default: ai:swarm-certifier
  namespace:
    description: Namespace of the probe writes.
    type: str
    default: mtls-probe
  history:
    description: History file (JSONL) on the host running the module.
    type: path
    required: true
  timeout:
    description: Timeout in seconds of each attempt.
    type: float
    default: 10.0
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Probe node-a with the rogue, unlisted and missing certificates, and the allowlisted control
  aimemory.swarm.mtls_probe:
    url: https://10.250.0.10:9077
    ca_cert: /etc/aimemory-checks/ca.pem
    history: /var/lib/aimemory-checks/c1/s3.jsonl
    identities:
      - {name: rogue_ca, cert: /etc/aimemory-checks/rogue.pem, key: /etc/aimemory-checks/rogue.key, expect: refused}
      - {name: no_cert, expect: refused}
      - {name: control, cert: /etc/aimemory-checks/client.pem, key: /etc/aimemory-checks/client.key, expect: allowed}
"""

RETURN = r"""
results:
  description: One entry per identity and path with status and error class.
  returned: success
  type: list
  elements: dict
"""

import uuid

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import Endpoint
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            ca_cert=dict(type="path", required=True),
            identities=dict(type="list", elements="dict", required=True),
            paths=dict(type="list", elements="dict",
                       default=[{"method": "GET", "path": "/api/v1/health"},
                                {"method": "POST", "path": "/api/v1/memories"}]),
            api_key=dict(type="str", no_log=True),
            agent_id=dict(type="str", default="ai:swarm-certifier"),
            namespace=dict(type="str", default="mtls-probe"),
            history=dict(type="path", required=True),
            timeout=dict(type="float", default=10.0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if module.check_mode:
        module.exit_json(changed=False, results=[])
    history = History(p["history"])
    results = []
    for ident in p["identities"]:
        if ident.get("expect") not in ("refused", "allowed"):
            module.fail_json(msg=f"identities: {ident.get('name')} needs expect: refused or allowed")
        for req in p["paths"]:
            client = Endpoint(p["url"], api_key=p["api_key"], agent_id=p["agent_id"], ca_cert=p["ca_cert"],
                              client_cert=ident.get("cert"), client_key=ident.get("key"), timeout=p["timeout"])
            body = None
            if req["method"] == "POST":
                body = {"title": f"probe-{ident['name']}-{uuid.uuid4().hex[:8]}", "content": "mTLS probe",
                        "namespace": p["namespace"], "scope": "collective"}
            value = {"identity": ident["name"], "expect": ident["expect"], "method": req["method"],
                     "path": req["path"]}
            history.append({"process": "prober", "type": "invoke", "f": "probe", "value": value})
            resp = client.request(req["method"], req["path"], body)
            client.close()
            kind = "ok" if resp["status"] is not None and resp["status"] < 400 else "fail"
            history.append({"process": "prober", "type": kind, "f": "probe", "value": value,
                            "status": resp["status"], "error": resp["error"], "detail": resp.get("detail"),
                            "latency_ms": resp["latency_ms"]})
            results.append({**value, "status": resp["status"], "error": resp["error"]})
    module.exit_json(changed=True, results=results)


if __name__ == "__main__":
    main()
