#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: network_partition
short_description: Cut a host off from given peers with nftables, or heal the cut
description:
  - Nemesis. O(state=present) installs the nftables table C(inet aimem_partition), whose input and output chains
    drop (and count) every packet from and to O(isolate_from), at the network level; the services keep running.
    Re-applying the same addresses changes nothing; other addresses replace the table in one transaction.
  - O(state=absent) deletes the table (and any pending self-heal timer). Healing is idempotent and always safe,
    so it belongs in an C(always) section too.
  - With O(state=present) it also observes that the cut took effect (O(observe_port)); before installing the
    rules a TCP connection from this host to each isolated address must get an answer (it connects, or a reset
    comes back), and after them none. RV(observed) records it, for M(aimemory.swarm.history_event) option
    C(observed); a partition whose effect was not observed makes the check that relies on it red.
  - Runtime state only; nothing is persisted, a reboot heals as well.
  - Returns what it did (the rules, the addresses before and after) and when (RV(applied_at_ns)), so the heal
    time can anchor the time to converge (M(aimemory.swarm.history_event) option C(at)).
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
requirements:
  - nft (nftables) on the host; systemd-run and systemctl for O(heal_after)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  state:
    description: C(present) isolates, C(absent) heals.
    type: str
    choices: [present, absent]
    default: present
  isolate_from:
    description: IPv4/IPv6 addresses (or networks) this host must not exchange packets with. Required with
      O(state=present).
    type: list
    elements: str
    default: []
  heal_after:
    description:
      - With O(state=present), seconds after which a transient systemd timer on the host heals the partition by
        itself (a safety net should the controller never come back). C(0) arms no timer.
    type: int
    default: 0
  observe_port:
    description:
      - With O(state=present), the TCP port probed on each isolated single address (not networks) before and
        after the rules, to observe the cut (ai-memory listens on 9077). C(0) observes nothing.
    type: int
    default: 9077
  observe_timeout:
    description: Seconds each probe waits for an answer (the addresses are probed at once).
    type: float
    default: 2.0
attributes:
  check_mode:
    description: Reports whether the rules would change, and the rules, without applying them.
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Isolate node-c from the other peers (self-heal after 10 minutes at the latest)
  aimemory.swarm.network_partition:
    isolate_from: [10.250.0.10, 10.250.0.11]
    heal_after: 600
  delegate_to: node-c
  register: cut

- name: Record the partition with its observation
  aimemory.swarm.history_event:
    history: /var/lib/aimemory-checks/c1/s4_partition_convergence.jsonl
    f: partition
    node: node-c
    value: {nodes: [node-c], from: [node-a, node-b]}
    at: "{{ cut.applied_at_ns }}"
    observed: "{{ cut.observed }}"

- name: Heal the partition
  aimemory.swarm.network_partition:
    state: absent
  delegate_to: node-c
  register: healed
"""

RETURN = r"""
state:
  description: The state now.
  returned: always
  type: str
  sample: present
table:
  description: The nftables table.
  returned: always
  type: str
  sample: inet aimem_partition
isolate_from:
  description: Canonical addresses isolated now (empty after a heal).
  returned: always
  type: list
  elements: str
  sample: [10.250.0.10, 10.250.0.11]
before:
  description: Addresses isolated before this call (null if there was no table).
  returned: always
  type: list
  elements: str
  sample: null
rules:
  description: The nft script applied (or that would be) with O(state=present).
  returned: always
  type: str
dropped_packets:
  description: Packets the table dropped per chain up to the heal (O(state=absent) with a table present).
  returned: when healing a partition
  type: dict
  sample: {"input": 42, "output": 17}
applied_at:
  description: RFC 3339 time (µs) at which the rules took effect or were removed.
  returned: always
  type: str
  sample: "2026-11-22T10:00:01.123456Z"
applied_at_ns:
  description: The same time in unix ns.
  returned: always
  type: int
  sample: 1795368633278227800
time:
  description: The same time in unix seconds (kept for older plays).
  returned: always
  type: float
  sample: 1795368633.278228
observed:
  description:
    - With O(state=present) and O(observe_port), whether the cut took effect. C(blocked) is true only when every
      isolated address answered before the rules (unless a cut was already in place) and none answered after;
      C(probes) holds each address's outcome (C(connected), C(refused), C(blocked), C(error)) and C(baseline).
      Null when nothing was observed (check mode, O(observe_port=0), a heal).
  returned: always
  type: dict
  sample: {"blocked": true, "probe": {"to": "10.250.0.10:9077", "outcome": "blocked", "baseline": "connected",
           "elapsed_ms": 2001.3, "detail": "no answer within 2 s"}, "probes": [], "note": null,
           "method": "tcp connect from the isolated host to port 9077 of each address, 2 s, before and after the rules"}
heal_timer:
  description: The self-heal timer armed (C({unit, after_s})), or null.
  returned: always
  type: dict
  sample: {"unit": "aimem-partition-heal.timer", "after_s": 600}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._nemesis.partition import Partition, PartitionError
from ansible_collections.aimemory.swarm.plugins.module_utils._process import runner


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            isolate_from=dict(type="list", elements="str", default=[]),
            heal_after=dict(type="int", default=0),
            observe_port=dict(type="int", default=9077),
            observe_timeout=dict(type="float", default=2.0),
        ),
        required_if=[("state", "present", ["isolate_from"])],
        supports_check_mode=True,
    )
    p = module.params
    if p["heal_after"] < 0:
        module.fail_json(msg="heal_after must be >= 0")
    if not 0 <= p["observe_port"] <= 65535 or p["observe_timeout"] <= 0:
        module.fail_json(msg="observe_port must be 0..65535 and observe_timeout > 0")

    run = runner(60)  # nft, systemctl, systemd-run: each bounded

    partition = Partition(run, module.get_bin_path("nft", required=True), module.get_bin_path("systemctl"),
                          module.get_bin_path("systemd-run"))
    try:
        if p["state"] == "absent":
            result = partition.heal(module.check_mode)
        else:
            result = partition.inject(p["isolate_from"], module.check_mode, p["heal_after"], p["observe_port"],
                                      p["observe_timeout"])
    except PartitionError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(time=result["applied_at_ns"] / 1e9, **result)


if __name__ == "__main__":
    main()
