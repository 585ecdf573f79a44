#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_clock
short_description: Measure each ai-memory node's wall clock against this host's, and record it in a history
description:
  - Reads C(GET /api/v1/health) on every node in O(nodes) and compares the response's C(Date) header with this
    host's wall time halfway through the request. Appends one C(f=clock) op per node to O(history), with
    C(value.offset_s) (seconds the node is ahead; null when no C(Date) could be read).
  - The C(Date) header has a resolution of one second; offsets within 1.5 s of zero are no measurable skew.
  - This is how a C(clock_skew_peer) chaos cycle proves its skew was real (M(aimemory.swarm.clock_skew)).
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
requirements:
  - httpx (Debian C(python3-httpx)) on the host that runs the module
  - cryptography (Debian C(python3-cryptography)) on that host, when O(agent_keys) is set (signed writes)
extends_documentation_fragment:
  - aimemory.swarm.attributes
  - aimemory.swarm.endpoint
options:
  nodes:
    description: Nodes to read, each a dict with C(name) and C(url).
    type: list
    elements: dict
    required: true
  history:
    description: History file (JSONL) on the host running the module.
    type: path
    required: true
  step:
    description: Label of this step, recorded in each op.
    type: str
    default: clock
attributes:
  check_mode:
    description: Reads the clocks; records nothing.
    support: full
  diff_mode:
    support: none
seealso:
  - module: aimemory.swarm.clock_skew
"""

EXAMPLES = r"""
- name: Measure every peer's clock
  aimemory.swarm.node_clock:
    nodes:
      - {name: node-a, url: "https://10.250.0.10:9077"}
      - {name: node-c, url: "https://10.250.0.12:9077"}
    history: /var/lib/aimemory-checks/c1/phase4.jsonl
    step: skewed
  register: clocks
"""

RETURN = r"""
offsets:
  description: Seconds each node's clock is ahead of this host's (null when it could not be read).
  returned: always
  type: dict
  sample: {"node-a": 0.2, "node-c": 300.4}
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
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.clock import measure


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            nodes=dict(type="list", elements="dict", required=True),
            history=dict(type="path", required=True),
            step=dict(type="str", default="clock"),
            **ENDPOINT_ARGSPEC,
        ),
        supports_check_mode=True,
    )
    if not HAS_HTTPX:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    if module.params.get("agent_keys") and not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    p = module.params
    if not p["nodes"] or any(not isinstance(n, dict) or not n.get("name") or not n.get("url") for n in p["nodes"]):
        module.fail_json(msg="nodes: every item needs a name and a url")
    history = None if module.check_mode else History(p["history"])
    offsets = {}
    for node in p["nodes"]:
        try:
            client = Endpoint(str(node["url"]), **endpoint_kwargs(p))
        except (ValueError, OSError) as exc:
            module.fail_json(msg=f"cannot build the client for {node['name']}: {exc}")
        try:
            rec = measure(client)
        finally:
            client.close()
        offsets[str(node["name"])] = rec["value"]["offset_s"]
        if history is not None:
            history.append({"process": "prober", "f": "clock", "node": str(node["name"]), "step": p["step"], **rec})
    module.exit_json(changed=history is not None, offsets=offsets)


if __name__ == "__main__":
    main()
