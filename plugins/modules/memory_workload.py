#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: memory_workload
short_description: Write distinct memories through one or more ai-memory nodes and record every operation
description:
  - Writes O(count) memories with unique titles into O(namespace), choosing the leader round-robin among O(leaders),
    with O(concurrency) workers. Each write is recorded as an C(invoke) and a completion (C(ok) for 201, C(fail) for a
    4xx or a refusal, C(info) when the outcome is unknown, such as a 503 whose local write is kept or a timeout).
  - The verdict is never computed here; see M(aimemory.swarm.history_check).
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.endpoint
options:
  leaders:
    description: Nodes that receive the writes, each C({name, url}).
    type: list
    elements: dict
    required: true
  count:
    description: Number of writes.
    type: int
    default: 10
  concurrency:
    description: Concurrent workers.
    type: int
    default: 1
  namespace:
    description: Namespace of the writes (use a fresh one per check or cycle).
    type: str
    required: true
  title_prefix:
    description: Prefix of the unique titles.
    type: str
    default: w
  scope:
    description: Visibility scope of the writes; C(private) relies on the stable O(agent_id) for cross-node reads.
    type: str
    choices: [private, team, unit, org, collective]
    default: collective
  history:
    description: History file (JSONL) on the host running the module.
    type: path
    required: true
  step:
    description: Label of this step in the history (the checker selects writes by step).
    type: str
    default: main
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Write 20 memories through node-a
  aimemory.swarm.memory_workload:
    leaders: [{name: node-a, url: "https://10.250.0.10:9077"}]
    count: 20
    namespace: s1-c1
    history: /var/lib/aimemory-checks/c1/s1.jsonl
    api_key: "{{ api_key }}"
    ca_cert: /etc/aimemory-checks/ca.pem
    client_cert: /etc/aimemory-checks/client.pem
    client_key: /etc/aimemory-checks/client.key
"""

RETURN = r"""
attempted:
  description: Writes attempted.
  returned: success
  type: int
acked:
  description: Writes acknowledged with 201.
  returned: success
  type: int
acked_ids:
  description: Ids of the acknowledged writes.
  returned: success
  type: list
  elements: str
statuses:
  description: Count of each HTTP status (or transport error class).
  returned: success
  type: dict
seconds:
  description: Wall time of the workload.
  returned: success
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import ENDPOINT_ARGSPEC
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.writes import run_writes


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            leaders=dict(type="list", elements="dict", required=True),
            count=dict(type="int", default=10),
            concurrency=dict(type="int", default=1),
            namespace=dict(type="str", required=True),
            title_prefix=dict(type="str", default="w"),
            scope=dict(type="str", choices=["private", "team", "unit", "org", "collective"], default="collective"),
            history=dict(type="path", required=True),
            step=dict(type="str", default="main"),
            **ENDPOINT_ARGSPEC,
        ),
        supports_check_mode=True,
    )
    p = module.params
    if any("name" not in leader or "url" not in leader for leader in p["leaders"]):
        module.fail_json(msg="leaders: every item needs name and url")
    if module.check_mode:
        module.exit_json(changed=True, attempted=0, acked=0, acked_ids=[], statuses={}, seconds=0.0)
    endpoint_args = {k: p[k] for k in ("api_key", "agent_id", "ca_cert", "client_cert", "client_key", "timeout")}
    result = run_writes([(leader["name"], leader) for leader in p["leaders"]], p["count"], p["concurrency"],
                        p["namespace"], p["title_prefix"], p["scope"], History(p["history"]), p["step"],
                        endpoint_args)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
