#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: port_probe
short_description: Observe from this host whether nodes refuse, drop or accept a TCP connection
description:
  - Observes that a fault took effect, for the history's nemesis op (M(aimemory.swarm.history_event) option
    C(observed)); after a node's service was stopped, a connection to its port must be I(refused) (its host
    answers with a reset, nothing listens); across a partition it must be I(blocked) (no answer); a node that runs
    must be I(connected).
  - Probes every target at once, again and again until each shows O(expect) or O(deadline) passes. It never fails
    because a target did not show O(expect); RV(observed) says so, and the check that relies on the fault is
    red (a fault declared but not observed to take effect).
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  targets:
    description: The nodes to probe, each a dict with C(name) and either C(url) (its port, or the scheme's) or
      C(host) and C(port).
    type: list
    elements: dict
    required: true
  expect:
    description: The outcome each target must show.
    type: str
    choices: [refused, blocked, connected]
    required: true
  port:
    description: Port of targets given by C(host) without C(port).
    type: int
    default: 9077
  timeout:
    description: Seconds each connection attempt waits.
    type: float
    default: 2.0
  deadline:
    description: Seconds to keep probing until every target shows O(expect).
    type: float
    default: 10.0
attributes:
  check_mode:
    description: Probes (a TCP connection changes nothing) and reports.
    support: full
  diff_mode:
    support: none
seealso:
  - module: aimemory.swarm.history_event
  - module: aimemory.swarm.network_partition
"""

EXAMPLES = r"""
- name: Observe that the stopped peers refuse connections
  aimemory.swarm.port_probe:
    targets:
      - {name: node-b, url: "https://10.250.0.11:9077"}
      - {name: node-c, url: "https://10.250.0.12:9077"}
    expect: refused
  register: down

- name: Record the stop, as observed
  aimemory.swarm.history_event:
    history: /var/lib/aimemory-checks/c1/s2_quorum_not_met.jsonl
    f: stop
    value: [node-b, node-c]
    at: "{{ down.observed_at_ns }}"
    observed: "{{ down.observed }}"
"""

RETURN = r"""
observed:
  description:
    - The observation. Its key named by O(expect) is true only when every target showed it; C(nodes) names the
      targets that did; C(probes) holds each target's last attempt (C(to), C(outcome) among C(connected),
      C(refused), C(blocked), C(error), C(elapsed_ms), C(detail), C(attempts)).
  returned: always
  type: dict
  sample: {"refused": true, "nodes": [node-b, node-c], "method": "tcp connect, 2 s per attempt, until 10 s",
           "probes": [{"node": node-b, "to": "10.250.0.11:9077", "outcome": refused, "elapsed_ms": 0.4,
                       "detail": null, "attempts": 1}]}
observed_at_ns:
  description: Unix time in ns when the probing ended.
  returned: always
  type: int
  sample: 1795368633278227800
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._nemesis.observe import target_of, wait_for


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            targets=dict(type="list", elements="dict", required=True),
            expect=dict(type="str", choices=["refused", "blocked", "connected"], required=True),
            port=dict(type="int", default=9077),
            timeout=dict(type="float", default=2.0),
            deadline=dict(type="float", default=10.0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["timeout"] <= 0 or p["deadline"] < 0 or not 0 < p["port"] <= 65535:
        module.fail_json(msg="timeout must be > 0, deadline >= 0 and port 1..65535")
    try:
        targets = [target_of(t, p["port"]) for t in p["targets"]]
    except (ValueError, TypeError) as exc:
        module.fail_json(msg=f"targets: {exc}")
    if not targets:
        module.fail_json(msg="targets: nothing to probe")
    observed = wait_for(targets, p["expect"], p["deadline"], p["timeout"])
    module.exit_json(changed=False, observed=observed, observed_at_ns=time.time_ns())


if __name__ == "__main__":
    main()
