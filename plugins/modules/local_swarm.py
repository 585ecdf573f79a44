#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: local_swarm
short_description: Start or remove the local swarm hosts of a campaign (systemd-nspawn in network namespaces)
description:
  - Boots one systemd-nspawn container per host from a baked image (overlay per host), each in its own network
    namespace with an interface on a "public" bridge (the controller reaches hosts over SSH there) and one on a
    "VPC" bridge (no controller address, as on DigitalOcean).
  - SSH host keys are generated on the controller and injected, and a known_hosts file pins them, so the first
    connection is already verified.
  - Validates every option before anything is created; a subnet that clashes with a route is refused.
  - O(state=absent) removes everything of the campaign; with O(sweep=true) it removes every campaign whose owner
    run is gone (unless kept) or whose lifetime ended, and any unowned resource labelled C(aimem-).
  - Runs on the controller as root.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  campaign_id:
    description: Campaign id; every resource is labelled with a short hash of it.
    type: str
  state:
    description: Whether the hosts should run.
    type: str
    choices: [present, absent]
    default: present
  hosts:
    description: Hosts to start, each C({name, groups}).
    type: list
    elements: dict
    default: []
  image_dir:
    description: Baked image (see M(aimemory.swarm.local_swarm_image)).
    type: path
  public_subnet:
    description: Network of the public bridge; the controller gets its first address, hosts .10 onward.
    type: str
    default: 198.18.0.0/24
  vpc_subnet:
    description: Network of the VPC bridge; hosts .10 onward.
    type: str
    default: 10.250.0.0/24
  state_dir:
    description: Directory for overlays, logs, host keys and the state file.
    type: path
    default: /run/aimemory-swarm
  ssh_public_key:
    description: Public key authorized for root on every host.
    type: str
  boot_timeout:
    description: Seconds for every host to reach a running systemd and answer SSH.
    type: float
    default: 90
  keep:
    description: Record that the swarm outlives its run, so O(sweep) leaves it alone until its lifetime ends.
    type: bool
    default: false
  lifetime_minutes:
    description: Upper bound of the swarm's life; past it O(sweep) removes it.
    type: float
    default: 240
  sweep:
    description: With O(state=absent), remove leftovers of every campaign whose owner is gone.
    type: bool
    default: false
  validate_only:
    description: Only validate the options (names, subnets, route clashes); create nothing.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Boot three peers, a client and a PostgreSQL host
  aimemory.swarm.local_swarm:
    campaign_id: c-20261122-1200
    image_dir: "{{ image.image_dir }}"
    ssh_public_key: "{{ key.public_key }}"
    hosts:
      - {name: node-a, groups: [peers]}
      - {name: node-b, groups: [peers]}
      - {name: node-c, groups: [peers]}
      - {name: client, groups: [client]}
      - {name: pg, groups: [postgres, build]}
  register: swarm

- name: Remove what crashed runs left behind
  aimemory.swarm.local_swarm:
    state: absent
    sweep: true
"""

RETURN = r"""
hosts:
  description: The hosts, with their addresses and processes.
  returned: state is present
  type: list
  elements: dict
  sample: [{"name": "node-a", "groups": ["peers"], "public_ip": "198.18.0.10", "private_ip": "10.250.0.10",
            "netns": "aimem-3f2a1b-node-a", "machine": "aimem-3f2a1b-node-a", "nspawn_pid": 4242,
            "leader_pid": 4243}]
known_hosts_file:
  description: known_hosts pinning each host's ed25519 key to its public and private address.
  returned: state is present
  type: str
bridges:
  description: Names of the public and VPC bridges.
  returned: state is present
  type: list
  elements: str
removed:
  description: What O(state=absent) removed.
  returned: state is absent
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._process import runner
from ansible_collections.aimemory.swarm.plugins.module_utils._swarm.local import (
    LocalSwarm,
    SwarmError,
    bridge_names,
    plan,
    route_clashes,
    short_id,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            campaign_id=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            hosts=dict(type="list", elements="dict", default=[]),
            image_dir=dict(type="path"),
            public_subnet=dict(type="str", default="198.18.0.0/24"),
            vpc_subnet=dict(type="str", default="10.250.0.0/24"),
            state_dir=dict(type="path", default="/run/aimemory-swarm"),
            ssh_public_key=dict(type="str"),
            boot_timeout=dict(type="float", default=90),
            keep=dict(type="bool", default=False),
            lifetime_minutes=dict(type="float", default=240),
            sweep=dict(type="bool", default=False),
            validate_only=dict(type="bool", default=False),
        ),
        required_if=[("sweep", False, ["campaign_id"])],
        supports_check_mode=True,
    )
    p = module.params

    run = runner(120)  # ip, nsenter, umount: each bounded

    try:
        if p["state"] == "absent":
            swarm = LocalSwarm(run, p["state_dir"], "" if p["sweep"] else p["campaign_id"])
            if module.check_mode:
                module.exit_json(changed=bool(swarm.load_state()) if not p["sweep"] else False, removed=[])
            removed = swarm.sweep() if p["sweep"] else swarm.down()
            module.exit_json(changed=bool(removed), removed=removed)

        hosts = plan(p["campaign_id"], p["hosts"], p["public_subnet"], p["vpc_subnet"])
        swarm = LocalSwarm(run, p["state_dir"], p["campaign_id"])
        own = set(bridge_names(short_id(p["campaign_id"])))
        problems = route_clashes(swarm.routes(), {"public_subnet": p["public_subnet"],
                                                  "vpc_subnet": p["vpc_subnet"]}, own)
        running = swarm.load_state()
        for key in ("public_subnet", "vpc_subnet"):
            if running and running.get(key) and running[key] != p[key]:
                problems.append(f"{key}={p[key]} differs from the {running[key]} campaign {p['campaign_id']} is "
                                f"running on; pass {key}={running[key]} or tear it down first")
        if problems:
            module.fail_json(msg="; ".join(problems))
        if p["validate_only"]:
            module.exit_json(changed=False, hosts=[h.__dict__ for h in hosts])
        for option in ("image_dir", "ssh_public_key"):
            if not p[option]:
                module.fail_json(msg=f"{option} is required with state=present")
        state = swarm.load_state()
        wanted = sorted(h.name for h in hosts)
        if state and sorted(h["name"] for h in state.get("hosts", [])) == wanted and swarm.healthy(state):
            module.exit_json(changed=False, hosts=state["hosts"], known_hosts_file=state["known_hosts_file"],
                             bridges=state["bridges"])
        if module.check_mode:
            module.exit_json(changed=True, hosts=[h.__dict__ for h in hosts], known_hosts_file="", bridges=[])
        if state:
            swarm.down()
        for tool in ("systemd-nspawn", "nsenter", "ip", "ssh-keygen", "mount"):
            module.get_bin_path(tool, required=True)
        try:
            state = swarm.up(hosts, p["image_dir"], p["public_subnet"], p["vpc_subnet"], p["ssh_public_key"],
                             p["boot_timeout"], p["keep"], p["lifetime_minutes"])
        except (SwarmError, OSError) as exc:
            removed = swarm.down()
            module.fail_json(msg=f"starting the local swarm failed: {exc} (cleaned up: {len(removed)} resources)")
        module.exit_json(changed=True, hosts=state["hosts"], known_hosts_file=state["known_hosts_file"],
                         bridges=state["bridges"])
    except SwarmError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
