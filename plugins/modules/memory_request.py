#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: memory_request
short_description: Send one HTTP request to an ai-memory node and record it, with its answer, in a history
description:
  - Sends O(method) O(path) (with the JSON O(body)) to the node at O(url) over mTLS, with the API key and the
    agent id, and appends one op to O(history) (C(f=O(f)), process C(prober)) holding the request (never the API
    key), the status or error class, the response body, the C(Retry-After)/C(Content-Type) headers and the latency.
  - For the scenario steps that are one request each (capabilities, a read of one memory, a route the backend
    does not serve); the verdict is the checker's, never this module's. An HTTP error is a result, not a failure.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
requirements:
  - httpx (Debian C(python3-httpx)) on the host that runs the module
  - cryptography (Debian C(python3-cryptography)) on that host, when O(agent_keys) is set (signed writes)
extends_documentation_fragment:
  - aimemory.swarm.attributes
  - aimemory.swarm.endpoint
options:
  url:
    description: Base URL of the node, C(https://<ip>:9077).
    type: str
    required: true
  node:
    description: Name of the node, recorded in the op.
    type: str
    required: true
  method:
    description: HTTP method.
    type: str
    choices: [GET, POST, PUT, DELETE]
    default: GET
  path:
    description: Path and query, for example C(/api/v1/capabilities).
    type: str
    required: true
  body:
    description: JSON body (POST/PUT).
    type: raw
  f:
    description: Name of the op in the history (what the checker looks for).
    type: str
    default: request
  step:
    description: Label of this step, recorded in the op.
    type: str
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
  - module: aimemory.swarm.memory_workload
  - module: aimemory.swarm.history_check
"""

EXAMPLES = r"""
- name: Read the PostgreSQL-backed node's capabilities
  aimemory.swarm.memory_request:
    url: "https://10.250.0.14:9077"
    node: pg
    path: /api/v1/capabilities
    f: capabilities
    history: /var/lib/aimemory-checks/c1/s5_postgres_backend.jsonl
  register: caps
"""

RETURN = r"""
status:
  description: HTTP status (null when no answer came).
  returned: always
  type: int
  sample: 200
response:
  description: The response body (JSON, or text under C(text)).
  returned: always
  type: dict
  sample: {"storage_backend": "postgres", "db_schema_version": 54}
error_class:
  description: Why no status came (C(tls_refused), C(timeout), ...), else null.
  returned: always
  type: str
  sample: null
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    ENDPOINT_ARGSPEC,
    HAS_CRYPTOGRAPHY,
    HAS_HTTPX,
    HTTPX_IMPORT_ERROR,
    Endpoint,
    endpoint_kwargs,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.writes import response_record


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            node=dict(type="str", required=True),
            method=dict(type="str", choices=["GET", "POST", "PUT", "DELETE"], default="GET"),
            path=dict(type="str", required=True),
            body=dict(type="raw"),
            f=dict(type="str", default="request"),
            step=dict(type="str"),
            history=dict(type="path", required=True),
            **ENDPOINT_ARGSPEC,
        ),
        supports_check_mode=True,
    )
    if not HAS_HTTPX:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    if module.params.get("agent_keys") and not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    p = module.params
    if not p["path"].startswith("/"):
        module.fail_json(msg=f"path must start with '/': {p['path']!r}")
    try:
        client = Endpoint(p["url"], **endpoint_kwargs(p))
    except (ValueError, OSError) as exc:
        module.fail_json(msg=f"cannot build the client: {exc}")
    if module.check_mode:
        client.close()
        module.exit_json(changed=False, status=None, response={}, error_class=None)
    history = History(p["history"])
    request = {"method": p["method"], "path": p["path"], "agent_id": p["agent_id"]}
    base = {"process": "prober", "f": p["f"], "node": p["node"], "value": {"path": p["path"], "method": p["method"]}}
    if p["step"]:
        base["step"] = p["step"]
    history.append({**base, "type": "invoke", "request": request})
    try:
        resp = client.request(p["method"], p["path"], p["body"])
    finally:
        client.close()
    record = response_record(resp)
    kind = "ok" if resp.status is not None else ("fail" if resp.refused_before_request else "info")
    history.append({**base, "type": kind, **record})
    module.exit_json(changed=True, status=record["status"], response=record["response"],
                     error_class=record["error_class"])


if __name__ == "__main__":
    main()
