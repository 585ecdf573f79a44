#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_budget
short_description: Price a DigitalOcean campaign and refuse it above its budget, before anything is created
description:
  - Reads the account (C(GET /v2/account)), the sizes and their hourly prices (C(GET /v2/sizes)), the region
    (C(GET /v2/regions)), the image (C(GET /v2/images/<slug>)) and the number of droplets that exist.
  - Planned spend = sum of the hosts' hourly prices x O(lifetime_minutes) / 60; above O(budget_usd) the module
    fails with the arithmetic in the message. It also refuses an unknown or unavailable size, region or image,
    an inactive account, and a plan that would exceed the account's droplet limit.
  - Read-only; creates nothing.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
  - aimemory.swarm.do_api
options:
  hosts:
    description: Hosts to price, each C({name, size}).
    type: list
    elements: dict
    required: true
  region:
    description: Region slug the droplets are created in.
    type: str
    required: true
  image:
    description: Image slug of the droplets.
    type: str
    required: true
  lifetime_minutes:
    description: Upper bound of the campaign's life (its droplets are destroyed when it ends).
    type: float
    required: true
  budget_usd:
    description: Most the campaign may cost, in US dollars.
    type: float
    default: 75.0
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Refuse the campaign before anything is created if it could cost more than 75 dollars
  aimemory.swarm.do_budget:
    oauth_token: "{{ lookup('ansible.builtin.env', 'DO_API_TOKEN') }}"
    region: nyc3
    image: ubuntu-24-04-x64
    lifetime_minutes: 240
    budget_usd: 75
    hosts:
      - {name: pg, size: s-4vcpu-8gb}
      - {name: node-a, size: s-2vcpu-4gb}
  no_log: true
  register: budget
"""

RETURN = r"""
hosts:
  description: Each host with its size and hourly and monthly price.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "pg", "size": "s-4vcpu-8gb", "price_hourly": 0.07143, "price_monthly": 48.0}]
hourly_usd:
  description: Sum of the hosts' hourly prices.
  returned: success
  type: float
  sample: 0.21428
hours:
  description: The campaign's maximum lifetime in hours.
  returned: success
  type: float
  sample: 4.0
planned_usd:
  description: Planned spend, hourly_usd x hours.
  returned: success
  type: float
  sample: 0.85712
budget_usd:
  description: The budget the plan was checked against.
  returned: success
  type: float
  sample: 75.0
arithmetic:
  description: How planned_usd was computed, in words.
  returned: success
  type: str
  sample: "1 x s-4vcpu-8gb $0.07143/h + 4 x s-2vcpu-4gb $0.03571/h = $0.21/h x 4 h (...) = $0.86"
account:
  description: Account status, droplet limit and the number of droplets that already exist.
  returned: success
  type: dict
  sample: {"status": "active", "droplet_limit": 25, "droplets": 2}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._do.api import DoApiError
from ansible_collections.aimemory.swarm.plugins.module_utils._do.argspec import api_argument_spec, client
from ansible_collections.aimemory.swarm.plugins.module_utils._do.budget import (
    BudgetError,
    check_budget,
    check_capacity,
    price_plan,
)


def main() -> None:
    argument_spec = api_argument_spec()
    argument_spec.update(
        hosts=dict(type="list", elements="dict", required=True),
        region=dict(type="str", required=True),
        image=dict(type="str", required=True),
        lifetime_minutes=dict(type="float", required=True),
        budget_usd=dict(type="float", default=75.0),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    api = client(module)
    try:
        account = (api.get("account") or {}).get("account") or {}
        if account.get("status", "active") != "active":
            module.fail_json(msg=f"the DigitalOcean account is {account.get('status')}: "
                                 f"{account.get('status_message') or 'no reason given'}")
        regions = api.list("regions", "regions")
        region = next((r for r in regions if r.get("slug") == p["region"]), None)
        if region is None or not region.get("available", False):
            sold = ", ".join(sorted(str(r.get("slug")) for r in regions if r.get("available")))
            module.fail_json(msg=f"region {p['region']!r} is unknown or not available (available: {sold})")
        if api.get(f"images/{p['image']}", missing_ok=True) is None:
            module.fail_json(msg=f"image {p['image']!r} is unknown to the API")
        plan = price_plan(p["hosts"], api.list("sizes", "sizes"), p["region"], p["lifetime_minutes"])
        check_budget(plan, p["budget_usd"])
        existing = int(((api.get("droplets", {"page": 1, "per_page": 1}) or {}).get("meta") or {}).get("total", 0))
        check_capacity(int(account.get("droplet_limit") or 0), existing, len(p["hosts"]))
    except (DoApiError, BudgetError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, budget_usd=p["budget_usd"],
                     account={"status": account.get("status"), "droplet_limit": account.get("droplet_limit"),
                              "droplets": existing}, **plan)


if __name__ == "__main__":
    main()
