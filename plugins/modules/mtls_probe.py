#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: mtls_probe
short_description: Try client identities on ai-memory nodes and record whether the TLS layer refused them
description:
  - For each node, each route and each identity, opens a new TLS connection presenting that identity's certificate
    (or none) and sends one request. Records an C(invoke) op and a completion op with the HTTP status, or, when no
    HTTP status came, the error class (C(tls_refused) when the handshake failed or the server closed the fresh
    connection before any status line, as TLS 1.3 reports a refused client certificate).
  - By default it walks the API's whole route table (O(route_table), kept in the collection's
    C(plugins/module_utils/_checker/routes.py), read from ai-memory 0.7.0's router, plus MCP over HTTP and unknown
    paths), with harmless requests (ids no memory has, bodies confined to O(namespace); the create sends a small
    memory). O(paths) probes an explicit list instead.
  - After each node's walk, when a create was probed, the allowlisted identity lists O(namespace) on that node
    (an op C(probe_read) with the titles found); a stranger's create must not be there, even when its connection
    closed before any HTTP byte (a server may act on a request and close without answering).
  - A stranger (O(identities) with C(expect=refused)) must get no HTTP status at all; the allowlisted control
    (C(expect=allowed)) must be served. The verdict is left to M(aimemory.swarm.history_check) (kind
    C(mtls_allowlist)); a probe never fails because a node refused it.
  - Every identity verifies the node's certificate against O(ca_cert), so a probe tests the node's refusal, never
    a misconfigured client (that would be C(tls_verify_failed)).
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
requirements:
  - httpx (Debian C(python3-httpx)) on the host that runs the module
  - cryptography (Debian C(python3-cryptography)) on that host, when O(agent_keys) is set (signed writes)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  nodes:
    description: Nodes to probe, each a dict with C(name) and C(url). Mutually exclusive with O(url).
    type: list
    elements: dict
  url:
    description: Base URL of a single node to probe (with O(node) as its name).
    type: str
  node:
    description: Name recorded for O(url); defaults to the URL.
    type: str
  ca_cert:
    description: CA certificate the nodes' server certificates chain to.
    type: path
    required: true
  identities:
    description:
      - Identities to try, each a dict with C(name), C(expect) (C(refused) or C(allowed)), and C(cert) and C(key)
        (paths of the client certificate and key; both omitted means no client certificate at all).
    type: list
    elements: dict
    required: true
  route_table:
    description:
      - The route table to walk (every route with every identity). Used unless O(paths) is given.
    type: str
    choices: [ai-memory-0.7.0]
  paths:
    description:
      - Requests to send instead of the route table, each a dict with C(method) (GET, POST, PUT or DELETE) and
        C(path); a POST to C(/api/v1/memories) sends a small memory, other POST and PUT requests an empty object.
    type: list
    elements: dict
  api_key:
    description: API key sent by every identity (so an identity the TLS layer wrongly lets in is plainly served).
    type: str
  agent_id:
    description: C(X-Agent-Id) sent by every identity.
    type: str
    default: ai:swarm-certifier
  namespace:
    description: Namespace of the memories the POST probes write.
    type: str
    default: mtls-probe
  history:
    description: History file (JSONL) on the host running the module.
    type: path
    required: true
  timeout:
    description: Timeout in seconds of each connection attempt and response read (a stream route of the table
      gets at most 3 s; its answer is the status line, the stream never ends).
    type: float
    default: 10.0
  agent_keys:
    description:
      - Agent id to its Ed25519 private key (PEM) on the host; with O(signature_scheme) the POST probes of every
        identity are signed as O(agent_id) (the release requires attested writes, so the allowlisted control's
        write must be signed to be served). The keys are never returned or recorded.
    type: dict
  signature_scheme:
    description: How the release signs a write (see M(aimemory.swarm.memory_workload)); unset, nothing is signed.
    type: str
    choices: [ai-memory/write/v1, ai-memory/write/v0]
attributes:
  check_mode:
    description: Lists the probes it would make without connecting or touching the history.
    support: full
  diff_mode:
    support: none
notes:
  - Uses only the Python standard library on the host.
"""

EXAMPLES = r"""
- name: Probe every peer with a rogue-CA, an unlisted and no certificate, and the allowlisted control
  aimemory.swarm.mtls_probe:
    nodes:
      - {name: node-a, url: "https://10.250.0.10:9077"}
      - {name: node-b, url: "https://10.250.0.11:9077"}
    ca_cert: /etc/aimemory-checks/ca.pem
    api_key: "{{ api_key }}"
    namespace: s3-c1
    history: /var/lib/aimemory-checks/c1/s3_mtls_allowlist.jsonl
    identities:
      - {name: rogue_ca, cert: /etc/aimemory-checks/rogue.pem, key: /etc/aimemory-checks/rogue.key, expect: refused}
      - {name: own_ca_unlisted, cert: /etc/aimemory-checks/outsider.pem, key: /etc/aimemory-checks/outsider.key,
         expect: refused}
      - {name: no_cert, expect: refused}
      - {name: control, cert: /etc/aimemory-checks/client.pem, key: /etc/aimemory-checks/client.key, expect: allowed}
"""

RETURN = r"""
results:
  description: One entry per node, identity and route.
  returned: always
  type: list
  elements: dict
  sample:
    - {node: node-a, identity: no_cert, expect: refused, method: GET, route: /api/v1/sync/since,
       path: "/api/v1/sync/since?limit=1", status: null, error_class: tls_refused, latency_ms: 2.1}
    - {node: node-a, identity: control, expect: allowed, method: GET, route: /api/v1/health,
       path: /api/v1/health, status: 200, error_class: null, latency_ms: 3.4}
refused:
  description: Probes of C(expect=refused) identities that were refused at the TLS layer.
  returned: always
  type: int
  sample: 12
accepted:
  description: Probes of C(expect=refused) identities that got an HTTP status (the allowlist let them in).
  returned: always
  type: list
  elements: dict
  sample: []
route_table:
  description: The route table walked, or null when O(paths) was given.
  returned: always
  type: str
  sample: ai-memory-0.7.0
"""

import json
import uuid
from typing import Any
from urllib.parse import quote

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.routes import (
    ROUTE_TABLE,
    STREAM_TIMEOUT_S,
    requests,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    HAS_HTTPX,
    HTTPX_IMPORT_ERROR,
    Endpoint,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.writes import response_record

METHODS = ("GET", "POST", "PUT", "DELETE")
MAX_BODY = 2048


def explicit(req: dict[str, Any]) -> dict[str, Any]:
    """An O(paths) entry as a request: a create sends a memory, other POST/PUT requests an empty object."""
    method, path = str(req["method"]).upper(), str(req["path"])
    memory = method == "POST" and path.split("?", 1)[0] == "/api/v1/memories"
    return {"method": method, "route": path, "path": path, "memory": memory, "stream": False,
            "body": {} if method in ("POST", "PUT") and not memory else None}


def probe_type(status: int | None, error_class: str | None, refused_before_request: bool) -> str:
    """ok: the node answered; fail: refused (certainly nothing done); info: unknown."""
    if status is not None:
        return "ok"
    if error_class == "tls_refused" or refused_before_request:
        return "fail"
    return "info"


def read_back(history: History, p: dict[str, Any], node: dict[str, Any], control: dict[str, Any]) -> None:
    """After a node's walk, the control lists the probe's namespace on it: a stranger's create must not be there
    (a server that acted on a request and closed without answering looks refused from the client), the control's
    must (the read sees what was created)."""
    path = f"/api/v1/memories?namespace={quote(p['namespace'], safe='')}&limit=1000"
    base = {"process": "prober", "f": "probe_read", "node": str(node["name"]),
            "value": {"identity": control["name"], "namespace": p["namespace"]}}
    history.append({**base, "type": "invoke", "request": {"method": "GET", "path": path}})
    try:
        client = Endpoint(str(node["url"]), api_key=p["api_key"], agent_id=p["agent_id"], ca_cert=p["ca_cert"],
                          client_cert=control.get("cert"), client_key=control.get("key"), timeout=p["timeout"])
    except (ValueError, OSError) as exc:
        history.append({**base, "type": "fail", "status": None, "error_class": "error", "detail": str(exc)})
        return
    resp = client.request("GET", path)
    client.close()
    body = resp.body if isinstance(resp.body, dict) else {}
    rows = body.get("memories") if isinstance(body.get("memories"), list) else None
    titles = sorted(str(m.get("title")) for m in rows or [] if isinstance(m, dict))
    record = {k: v for k, v in response_record(resp).items() if k != "response"}
    kind = "ok" if resp.status == 200 and rows is not None else ("fail" if resp.refused_before_request else "info")
    history.append({**base, "type": kind, "value": {**base["value"], "titles": titles}, **record})


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            nodes=dict(type="list", elements="dict"),
            url=dict(type="str"),
            node=dict(type="str"),
            ca_cert=dict(type="path", required=True),
            identities=dict(type="list", elements="dict", required=True),
            route_table=dict(type="str", choices=[ROUTE_TABLE]),
            paths=dict(type="list", elements="dict"),
            api_key=dict(type="str", no_log=True),
            agent_id=dict(type="str", default="ai:swarm-certifier"),
            namespace=dict(type="str", default="mtls-probe"),
            history=dict(type="path", required=True),
            timeout=dict(type="float", default=10.0),
            agent_keys=dict(type="dict", no_log=False),
            signature_scheme=dict(type="str", choices=["ai-memory/write/v1", "ai-memory/write/v0"]),
        ),
        mutually_exclusive=[("nodes", "url"), ("route_table", "paths")],
        required_one_of=[("nodes", "url")],
        supports_check_mode=True,
    )
    if not HAS_HTTPX:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    if module.params.get("agent_keys") and not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    p = module.params
    nodes = p["nodes"] or [{"name": p["node"] or p["url"], "url": p["url"]}]
    if any(not isinstance(n, dict) or not n.get("name") or not n.get("url") for n in nodes):
        module.fail_json(msg="nodes: every item needs a name and a url")
    for ident in p["identities"]:
        if not ident.get("name") or ident.get("expect") not in ("refused", "allowed"):
            module.fail_json(msg=f"identities: {ident.get('name')!r} needs a name and expect: refused or allowed")
        if bool(ident.get("cert")) != bool(ident.get("key")):
            module.fail_json(msg=f"identities: {ident['name']} needs both cert and key, or neither")
    if p["paths"] is not None:
        for req in p["paths"]:
            if not str(req.get("path", "")).startswith("/") or str(req.get("method", "")).upper() not in METHODS:
                module.fail_json(msg=f"paths: {req!r} needs a method of {list(METHODS)} and an absolute path")
        table = None
        walk = [explicit(req) for req in p["paths"]]
    else:
        table = p["route_table"] or ROUTE_TABLE
        walk = requests(p["namespace"], table)

    plan = [(n, route, ident) for n in nodes for route in walk for ident in p["identities"]]
    if module.check_mode:
        module.exit_json(changed=False, refused=0, accepted=[], route_table=table,
                         results=[{"node": n["name"], "identity": i["name"], "expect": i["expect"],
                                   "method": r["method"], "route": r["route"], "path": r["path"], "status": None,
                                   "error_class": None, "latency_ms": None} for n, r, i in plan])
    history = History(p["history"])
    results, accepted, refused = [], [], 0
    control = next((i for i in p["identities"] if i["expect"] == "allowed"), None)
    creates = any(r.get("memory") for r in walk)
    for number, (node, route, ident) in enumerate(plan):
        method = route["method"]
        timeout = min(p["timeout"], STREAM_TIMEOUT_S) if route.get("stream") else p["timeout"]
        try:
            client = Endpoint(str(node["url"]), api_key=p["api_key"], agent_id=p["agent_id"], ca_cert=p["ca_cert"],
                              client_cert=ident.get("cert"), client_key=ident.get("key"), timeout=timeout,
                              agent_keys=p["agent_keys"], signature_scheme=p["signature_scheme"])
        except (ValueError, OSError) as exc:
            module.fail_json(msg=f"identity {ident['name']}: cannot load its files: {exc}", results=results)
        body = route["body"]
        request = {"method": method, "path": route["path"], "identity": ident["name"], "cert": ident.get("cert")}
        if route.get("memory"):
            title = f"probe-{ident['name']}-{node['name']}-{uuid.uuid4().hex[:8]}"
            body = {"title": title, "content": f"mTLS probe by {ident['name']}", "namespace": p["namespace"],
                    "scope": "collective"}
            request.update({"title": title, "namespace": p["namespace"]})
        value = {"identity": ident["name"], "expect": ident["expect"], "method": method, "path": route["path"],
                 "route": route["route"]}
        if route.get("group"):
            value["group"] = route["group"]
        base = {"process": "prober", "f": "probe", "node": str(node["name"]), "value": value}
        history.append({**base, "type": "invoke", "request": request})
        resp = client.request(method, route["path"], body)
        client.close()
        record = response_record(resp)
        size = len(json.dumps(record["response"], default=str))
        if size > MAX_BODY:  # an answer is judged by its status: keep the evidence small (metrics, exports)
            record["response"] = {"omitted_bytes": size}
        history.append({**base, "type": probe_type(resp.status, resp.error_class, resp.refused_before_request),
                        **record})
        row = {"node": str(node["name"]), **{k: value[k] for k in ("identity", "expect", "method", "route", "path")},
               "status": resp.status, "error_class": resp.error_class, "latency_ms": resp.latency_ms}
        results.append(row)
        if ident["expect"] == "refused":
            if resp.status is None and resp.error_class == "tls_refused":
                refused += 1
            elif resp.status is not None:
                accepted.append(row)
        last_of_node = number + 1 == len(plan) or plan[number + 1][0] is not node
        if last_of_node and control is not None and creates:
            read_back(history, p, node, control)
    module.exit_json(changed=True, results=results, refused=refused, accepted=accepted, route_table=table)


if __name__ == "__main__":
    main()
