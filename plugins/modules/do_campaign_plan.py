#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_campaign_plan
short_description: Plan a campaign's DigitalOcean resources (names, tags, expiry, VPC range, firewall rules)
description:
  - Computes what the campaign's resources are called and how they are tagged, from the campaign id and its
    expiry; reads what already exists (the API, not local state, is the truth) so a re-run resumes the same
    campaign with the same expiry.
  - Chooses the VPC range inside O(vpc_pool), starting at a slot derived from the campaign id, so that it
    overlaps no VPC the API lists (concurrent campaigns never share a range).
  - Builds the cloud firewall rules; SSH (22) only from O(ssh_sources), which may not be the whole Internet,
    the O(service_ports) only from the VPC range.
  - Refuses a campaign whose expiry has passed and droplet names already taken by another campaign.
  - Read-only; creates nothing.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
  - aimemory.swarm.do_api
options:
  campaign_id:
    description: The campaign id.
    type: str
    required: true
  project_tag:
    description: Tag on every droplet of the project, and prefix of every resource name.
    type: str
    default: aimemory-swarm
  hosts:
    description: Hosts of the campaign, each C({name}) (other keys are ignored).
    type: list
    elements: dict
    required: true
  region:
    description: Region slug of the VPC and the droplets.
    type: str
    required: true
  lifetime_minutes:
    description: Life of a new campaign; its expiry is now + lifetime unless resources or O(expires_at) say otherwise.
    type: float
    required: true
  expires_at:
    description: Expiry (Unix time) recorded by an earlier run, used when the API holds nothing of the campaign.
    type: int
    default: 0
  ssh_public_key:
    description:
      - The campaign's SSH public key (OpenSSH format); its DigitalOcean fingerprint is returned (null without it).
    type: str
  ssh_sources:
    description: Addresses or networks allowed to reach port 22 (the controller's egress address).
    type: list
    elements: str
    required: true
  vpc_pool:
    description: RFC 1918 network the campaign VPCs are carved from.
    type: str
    default: 10.200.0.0/13
  vpc_prefix:
    description: Prefix length of each campaign VPC (16 to 28).
    type: int
    default: 24
  service_ports:
    description: TCP ports open to the VPC range only (ai-memory, PostgreSQL).
    type: list
    elements: int
    default: [9077, 5432]
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Plan the campaign's resources
  aimemory.swarm.do_campaign_plan:
    oauth_token: "{{ lookup('ansible.builtin.env', 'DO_API_TOKEN') }}"
    campaign_id: c-20260602-1200
    hosts: [{name: node-a}, {name: node-b}, {name: node-c}, {name: client-1}, {name: pg}]
    region: nyc3
    lifetime_minutes: 240
    ssh_public_key: "{{ key.public_key }}"
    ssh_sources: [203.0.113.7/32]
  no_log: true
  register: plan
"""

RETURN = r"""
sid:
  description: Short id of the campaign (first 8 hex digits of sha256 of the id), in every resource name.
  returned: success
  type: str
  sample: 3f2a1b9c
expires_at:
  description: Unix time at which the campaign's resources are destroyed (dead-man switch, sweep).
  returned: success
  type: int
  sample: 1780416000
expires_at_iso:
  description: O(expires_at) as a UTC timestamp.
  returned: success
  type: str
  sample: "2026-06-02T16:00:00Z"
resumed:
  description: Whether resources of the campaign already existed.
  returned: success
  type: bool
tags:
  description: The project, campaign and expiry tags.
  returned: success
  type: dict
  sample: {"project": "aimemory-swarm", "campaign": "campaign-c-20260602-1200", "expiry": "expires-1780416000"}
droplet_names:
  description: Host name -> droplet name.
  returned: success
  type: dict
  sample: {"node-a": "aimemory-swarm-3f2a1b9c-node-a"}
ssh_key:
  description: Name and DigitalOcean fingerprint of the campaign's SSH key.
  returned: success
  type: dict
  sample:
    name: aimemory-swarm-3f2a1b9c-1780416000
    fingerprint: "3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"
vpc:
  description: Name, range and, when it exists, id of the campaign's VPC.
  returned: success
  type: dict
  sample: {"name": "aimemory-swarm-3f2a1b9c-1780416000", "ip_range": "10.203.17.0/24", "exists": false, "id": null}
firewall:
  description: Name, rules and existence of the campaign's cloud firewall (applied by the campaign tag).
  returned: success
  type: dict
droplets:
  description: Droplets of the campaign that already exist.
  returned: success
  type: list
  elements: dict
"""

import time
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._do.api import DoApiError
from ansible_collections.aimemory.swarm.plugins.module_utils._do.argspec import api_argument_spec, client
from ansible_collections.aimemory.swarm.plugins.module_utils._do.names import names, ssh_fingerprint
from ansible_collections.aimemory.swarm.plugins.module_utils._do.network import (
    check_pool,
    check_ssh_sources,
    choose_vpc_range,
    firewall_rules,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._do.resources import inventory


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main() -> None:
    argument_spec = api_argument_spec()
    argument_spec.update(
        campaign_id=dict(type="str", required=True),
        project_tag=dict(type="str", default="aimemory-swarm"),
        hosts=dict(type="list", elements="dict", required=True),
        region=dict(type="str", required=True),
        lifetime_minutes=dict(type="float", required=True),
        expires_at=dict(type="int", default=0),
        ssh_public_key=dict(type="str"),
        ssh_sources=dict(type="list", elements="str", required=True),
        vpc_pool=dict(type="str", default="10.200.0.0/13"),
        vpc_prefix=dict(type="int", default=24),
        service_ports=dict(type="list", elements="int", default=[9077, 5432]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    now = int(time.time())
    try:
        sources = check_ssh_sources(p["ssh_sources"])
        check_pool(p["vpc_pool"], p["vpc_prefix"])
        fingerprint = ssh_fingerprint(p["ssh_public_key"]) if p["ssh_public_key"] else None
        names(p["project_tag"], p["campaign_id"], 0, p["hosts"])  # validates project, campaign and host names
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    api = client(module)
    try:
        found = inventory(api, p["project_tag"], p["campaign_id"])
        if found["expires_at"] is not None:
            expires_at = int(found["expires_at"])
            if expires_at <= now:
                module.fail_json(msg=f"campaign {p['campaign_id']} expired at {iso(expires_at)}: its resources are due "
                                     "for destruction (dead-man switch, sweep); tear it down with "
                                     f"playbooks/teardown.yml -e campaign_id={p['campaign_id']} and use a new id")
        elif p["expires_at"] > now:
            expires_at = p["expires_at"]
        else:
            expires_at = now + int(p["lifetime_minutes"] * 60)
        plan = names(p["project_tag"], p["campaign_id"], expires_at, p["hosts"])
        vpc = next((v for v in found["vpcs"] if v["name"] == plan["vpc"]), None)
        if vpc is not None and vpc.get("region") not in (None, p["region"]):
            module.fail_json(msg=f"the campaign's VPC {vpc['name']} is in {vpc['region']}, not {p['region']}")
        vpc_range = vpc["ip_range"] if vpc else choose_vpc_range(p["campaign_id"], p["vpc_pool"], p["vpc_prefix"],
                                                                 found["vpc_ranges"])
        ours = set(plan["droplets"].values())
        mine = {d["id"] for d in found["droplets"]}
        taken = sorted(str(d.get("name")) for d in api.list("droplets", "droplets")
                       if d.get("name") in ours and d.get("id") not in mine)
        if taken:
            module.fail_json(msg=f"droplet names {', '.join(taken)} are taken by droplets that do not carry the tag "
                                 f"{plan['tags']['campaign']}: refusing to adopt them")
    except (DoApiError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    firewall = next((f for f in found["firewalls"] if f["name"] == plan["firewall"]), None)
    module.exit_json(
        changed=False, sid=plan["sid"], expires_at=expires_at, expires_at_iso=iso(expires_at),
        resumed=not found["empty"], tags=plan["tags"], droplet_names=plan["droplets"],
        ssh_key={"name": plan["ssh_key"], "fingerprint": fingerprint},
        vpc={"name": plan["vpc"], "ip_range": vpc_range, "exists": vpc is not None, "id": vpc["id"] if vpc else None},
        firewall={"name": plan["firewall"], "exists": firewall is not None, "id": firewall["id"] if firewall else None,
                  **firewall_rules(sources, vpc_range, p["service_ports"])},
        droplets=found["droplets"],
    )


if __name__ == "__main__":
    main()
