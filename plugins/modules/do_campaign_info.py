#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_campaign_info
short_description: List a campaign's DigitalOcean resources, or every expired resource of the project
description:
  - With O(campaign_id), lists the campaign's droplets (by the tag C(campaign-<id>)), its VPC, cloud firewall and
    SSH key (by name) and its tags, with the spend so far (droplet-hours x hourly price).
  - Without it, lists every resource of the project (droplets tagged O(project_tag), VPCs, firewalls and SSH keys
    named C(<project_tag>-<sid>-<expiry>)) and which of them have expired (what the sweep removes). Droplets
    of the project without an expiry tag, and anything not named or tagged for the project, are never listed
    as expired. Campaign and expiry tags that carry nothing and whose campaign has nothing left are listed as
    expired too (orphans).
  - Read-only. An unreachable API or a refused token fails with a clear message (never a traceback).
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
  - aimemory.swarm.do_api
options:
  campaign_id:
    description: The campaign whose resources to list; omit to list every expired project resource.
    type: str
  project_tag:
    description: Tag on every droplet of the project, and prefix of every resource name.
    type: str
    default: aimemory-swarm
  expires_at:
    description:
      - Expiry of the campaign known from an earlier listing; its C(expires-<t>) tag is listed even when no
        resource carries it any more (so teardown can remove it). Only with O(campaign_id).
    type: int
    default: 0
  planned_prices:
    description:
      - Hourly price in US dollars per size slug from the campaign's plan (C(do_budget)). The spend takes a
        droplet's price from the API (C(size.price_hourly)) and, when the droplet carries none, the planned price
        of its size; each droplet's C(price_source) says which (C(api), C(plan), or C(unknown)).
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: List what the campaign holds
  aimemory.swarm.do_campaign_info:
    oauth_token: "{{ lookup('ansible.builtin.env', 'DO_API_TOKEN') }}"
    campaign_id: c-20260602-1200
  no_log: true
  register: campaign

- name: List every expired resource of the project
  aimemory.swarm.do_campaign_info:
    oauth_token: "{{ lookup('ansible.builtin.env', 'DO_API_TOKEN') }}"
  no_log: true
  register: leftovers
"""

RETURN = r"""
droplets:
  description:
    - Droplets (id, name, status, size, price_hourly, public_ip, private_ip, tags, created_at, expires_at, expired).
  returned: success
  type: list
  elements: dict
firewalls:
  description: Cloud firewalls named for the project (or the campaign), with their expiry.
  returned: success
  type: list
  elements: dict
vpcs:
  description: VPCs named for the project (or the campaign), with their range and expiry.
  returned: success
  type: list
  elements: dict
ssh_keys:
  description: SSH keys named for the project (or the campaign), with their fingerprint and expiry.
  returned: success
  type: list
  elements: dict
tags:
  description:
    - Tags of the campaign (campaign mode) or the project's tags (sweep mode), with the number of resources they carry.
  returned: success
  type: list
  elements: dict
vpc_ranges:
  description: IP ranges of every VPC of the account.
  returned: success
  type: list
  elements: str
expires_at:
  description: The campaign's expiry found on its resources, null when it holds none.
  returned: campaign_id is given
  type: int
empty:
  description:
    - Whether the campaign holds nothing any more, no droplet, firewall, VPC or SSH key, no campaign tag and no
      expiry tag that nothing carries (the project tag, shared by every campaign, does not count).
  returned: campaign_id is given
  type: bool
left:
  description: What the campaign still holds, by kind, for a message; empty when O(campaign_id) holds nothing.
  returned: campaign_id is given
  type: str
  sample: "vpcs aimemory-swarm-0a1b2c3d-1780416000; tags campaign-c-1 (on 0 resources)"
left_tags:
  description: The campaign tag if it exists, and the campaign's expiry tags that nothing carries.
  returned: campaign_id is given
  type: list
  elements: dict
spend:
  description:
    - Spend so far, each droplet's hours since creation x its hourly price, with the price's source per droplet
      (C(api), C(plan) or C(unknown)). C(usd) is null, never zero, when a droplet has no price from either; those
      droplets are listed in C(unpriced).
  returned: campaign_id is given
  type: dict
  sample: {"droplet_hours": 5.2, "usd": 0.22, "unpriced": [], "arithmetic": "...",
           "droplets": [{"name": "aimemory-swarm-0a1b2c3d-pg", "size": "s-4vcpu-8gb", "price_hourly": 0.07143,
                         "price_source": "api", "hours": 1.2, "usd": 0.085716}]}
expired:
  description: What the sweep removes, by kind (droplets, firewalls, vpcs, ssh_keys, tags; orphan tags included).
  returned: campaign_id is not given
  type: dict
unexpiring_droplets:
  description: Droplets with the project tag but no expiry tag (never swept; look at them).
  returned: campaign_id is not given
  type: list
  elements: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._do.api import DoApiError
from ansible_collections.aimemory.swarm.plugins.module_utils._do.argspec import api_argument_spec, client
from ansible_collections.aimemory.swarm.plugins.module_utils._do.budget import spend
from ansible_collections.aimemory.swarm.plugins.module_utils._do.names import check_campaign, check_project
from ansible_collections.aimemory.swarm.plugins.module_utils._do.resources import inventory


def main() -> None:
    argument_spec = api_argument_spec()
    argument_spec.update(
        campaign_id=dict(type="str"),
        project_tag=dict(type="str", default="aimemory-swarm"),
        expires_at=dict(type="int", default=0),
        planned_prices=dict(type="dict", default={}),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    try:
        check_project(p["project_tag"])
        if p["campaign_id"] is not None:
            check_campaign(p["campaign_id"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    try:
        planned = {str(size): float(price) for size, price in p["planned_prices"].items()}
    except (TypeError, ValueError) as exc:
        module.fail_json(msg=f"planned_prices must map size slugs to hourly prices in US dollars: {exc}")
    api = client(module)
    try:
        now = time.time()
        found = inventory(api, p["project_tag"], p["campaign_id"], now, p["expires_at"])
    except DoApiError as exc:
        module.fail_json(msg=str(exc))
    if p["campaign_id"] is not None:
        found["spend"] = spend(found["droplets"], now, planned)
    module.exit_json(changed=False, **found)


if __name__ == "__main__":
    main()
