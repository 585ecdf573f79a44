#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_vpc_delete
short_description: Delete a DigitalOcean VPC, waiting while the API still counts destroyed droplets as members
description:
  - Finds the VPC by O(name) or O(id) and deletes it. A VPC that does not exist (any more) is not an error.
  - DigitalOcean refuses to delete a VPC that still has members, and for a while after its droplets are destroyed
    it still counts them. Its API reference documents that answer as HTTP 403, users observe HTTP 409; both are
    taken as "still in use" and the delete is retried every O(poll_interval) seconds until O(in_use_timeout)
    seconds have passed. Any other refusal fails at once, with DigitalOcean's status, error id and message.
  - Every request retries HTTP 429 and 5xx (O(retry_seconds)), as the other modules of the collection.
  - Never deletes a region's default VPC. The community.digitalocean.digital_ocean_vpc module creates the VPC; it
    cannot tell "in use" from other errors, nor a VPC already gone from a failure.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
  - aimemory.swarm.do_api
options:
  name:
    description: Name of the VPC. One of O(name) and O(id) is required.
    type: str
  id:
    description: UUID of the VPC.
    type: str
  in_use_timeout:
    description: Deadline in seconds for the VPC to stop being in use (HTTP 403 or 409 to the delete).
    type: float
    default: 300.0
  poll_interval:
    description: Seconds between two deletes of a VPC still in use.
    type: float
    default: 5.0
attributes:
  check_mode:
    support: full
    details: In check mode the VPC is looked up and reported as to be deleted, nothing is deleted.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Delete the campaign's VPC once its droplets are gone
  aimemory.swarm.do_vpc_delete:
    oauth_token: "{{ lookup('ansible.builtin.env', 'DO_API_TOKEN') }}"
    name: aimemory-swarm-0a1b2c3d-1780416000
    in_use_timeout: 300
  no_log: true
"""

RETURN = r"""
vpc:
  description: The VPC found (id, name, ip_range), null when there was none.
  returned: always
  type: dict
in_use_answers:
  description: The "still in use" statuses the deletes were answered with, in order (403 or 409).
  returned: always
  type: list
  elements: int
  sample: [409, 409]
seconds:
  description: Seconds spent waiting for the VPC to stop being in use.
  returned: always
  type: float
"""

import time
from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._do.api import DoApiError, DoClient
from ansible_collections.aimemory.swarm.plugins.module_utils._do.argspec import api_argument_spec, client

IN_USE = (403, 409)  # 403: DigitalOcean's API reference; 409: what users observe


def find(api: DoClient, name: str | None, vpc_id: str | None) -> dict[str, Any] | None:
    if vpc_id:
        return ((api.get(f"vpcs/{vpc_id}", missing_ok=True) or {}).get("vpc")) or None
    return next((v for v in api.list("vpcs", "vpcs") if v.get("name") == name), None)


def delete(api: DoClient, vpc: dict[str, Any], in_use_timeout: float, poll_interval: float,
           clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> tuple[bool, list[int], float]:
    """(deleted by this call, in-use answers, seconds waited); DoApiError for any other refusal or the deadline."""
    started = clock()
    deadline = started + in_use_timeout
    answers: list[int] = []
    path = f"vpcs/{vpc['id']}"
    while True:
        status, parsed = api.request("DELETE", path)
        if status == 204:
            return True, answers, clock() - started
        if status == 404:
            return False, answers, clock() - started
        if status not in IN_USE:
            raise api.error("DELETE", path, status, parsed)
        answers.append(status)
        if clock() + poll_interval > deadline:
            raise DoApiError(
                f"VPC {vpc.get('name')} is still in use after {clock() - started:.0f} s (in_use_timeout="
                f"{in_use_timeout:g}): DigitalOcean answered HTTP {status} {parsed.get('id', '')}: "
                f"{parsed.get('message', 'no message')} to {len(answers)} deletes. It counts destroyed droplets as "
                "members for a while; anything else in the VPC (a droplet, load balancer or database not of the "
                "campaign) must go first. A 403 that never ends can also mean the token lacks the vpc:delete scope",
                status, str(parsed.get("id", "")))
        sleep(poll_interval)


def main() -> None:
    argument_spec = api_argument_spec()
    argument_spec.update(
        name=dict(type="str"),
        id=dict(type="str"),
        in_use_timeout=dict(type="float", default=300.0),
        poll_interval=dict(type="float", default=5.0),
    )
    module = AnsibleModule(argument_spec=argument_spec, required_one_of=[("name", "id")],
                           mutually_exclusive=[("name", "id")], supports_check_mode=True)
    p = module.params
    if p["in_use_timeout"] < 0 or p["poll_interval"] <= 0:
        module.fail_json(msg="in_use_timeout must be zero or more and poll_interval positive")
    api = client(module)
    try:
        vpc = find(api, p["name"], p["id"])
        if vpc is None:
            module.exit_json(changed=False, vpc=None, in_use_answers=[], seconds=0.0)
        summary = {key: vpc.get(key) for key in ("id", "name", "ip_range", "region")}
        if vpc.get("default"):
            module.fail_json(msg=f"VPC {vpc.get('name')} is the default VPC of {vpc.get('region')}: never deleted",
                             vpc=summary)
        if module.check_mode:
            module.exit_json(changed=True, vpc=summary, in_use_answers=[], seconds=0.0)
        deleted, answers, seconds = delete(api, vpc, p["in_use_timeout"], p["poll_interval"])
    except DoApiError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=deleted, vpc=summary, in_use_answers=answers, seconds=round(seconds, 3))


if __name__ == "__main__":
    main()
