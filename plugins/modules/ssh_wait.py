#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ssh_wait
short_description: Wait for SSH on several hosts at once, with one deadline, and say why a host did not answer
description:
  - Waits on every host of O(hosts) in parallel. For each, until it is ready or the deadline passes, it connects to
    O(port) and reads the SSH banner, then, when O(command) is given, runs it with C(ssh) (the pinned host keys of
    O(known_hosts), C(StrictHostKeyChecking=yes), C(BatchMode=yes)); the host is ready when the command exits 0.
  - O(timeout) is one deadline for the whole wait, on the monotonic clock. Every connect, banner read and C(ssh)
    run is bounded by what is left of it, so the module returns at the latest a moment after it, and as soon as
    every host is ready.
  - When a host is not ready at the deadline, the module fails and names each such host with the reason of its
    last attempt, C(refused) (a reset), C(timed_out) (no answer, packets dropped), C(unreachable), C(no_banner),
    C(host_key_mismatch), C(auth_refused), C(command_failed), C(not_ready) (the command was still running),
    C(ssh_error) or C(pending), followed by the O(hints) text for that reason.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  hosts:
    description: The hosts, each a dict with C(name) (for messages), C(address) and optionally C(port) (else O(port)).
    type: list
    elements: dict
    required: true
  port:
    description: SSH port.
    type: int
    default: 22
  user:
    description: User to log in as when O(command) is given.
    type: str
    default: root
  private_key:
    description: Private key for the login (C(ssh -i)), with C(IdentitiesOnly=yes).
    type: path
  known_hosts:
    description: The known_hosts file that pins the hosts' keys (C(UserKnownHostsFile)).
    type: path
  command:
    description:
      - Command to run on each host once its SSH server answers; the host is ready when it exits 0.
      - Without it a host is ready as soon as it sends an SSH banner.
    type: str
  timeout:
    description: The deadline, in seconds, for the whole wait (all hosts).
    type: float
    default: 600.0
  connect_timeout:
    description: Seconds one TCP connect, banner read or C(ssh) connection may take (never past the deadline).
    type: float
    default: 10.0
  poll_interval:
    description: Seconds between two attempts on the same host.
    type: float
    default: 5.0
  hints:
    description:
      - Text to add to the failure message per reason (keys as listed above), e.g. which variable to check.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    details: The module only connects and, with O(command), runs that command; it runs the same in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Wait for every droplet's SSH, cloud-init included, 10 minutes at most in all
  aimemory.swarm.ssh_wait:
    hosts:
      - {name: node-a, address: 203.0.113.10}
      - {name: node-b, address: 203.0.113.11}
    private_key: "{{ state_dir }}/ssh/id_ed25519"
    known_hosts: "{{ state_dir }}/known_hosts"
    command: cloud-init status --wait
    timeout: 600
    hints:
      timed_out: check that campaign_do_ssh_sources holds this controller's egress address

- name: Only wait for an SSH banner on two addresses
  aimemory.swarm.ssh_wait:
    hosts:
      - {name: a, address: 192.0.2.10}
      - {name: b, address: 192.0.2.11}
    timeout: 60
"""

RETURN = r"""
hosts:
  description:
    - Per host, C(name), C(address), C(port), C(ready), C(reason) (null when ready), C(detail), C(attempts) and
      C(seconds) (until ready).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "node-a", "address": "203.0.113.9", "port": 22, "ready": false, "reason": "timed_out",
            "detail": "no answer to a TCP connect to port 22 within 10.0 s", "attempts": 3, "seconds": null}]
elapsed:
  description: Seconds the wait took.
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._ssh_wait import (
    REASONS,
    SshSpec,
    failure_message,
    wait_all,
)


def check(module: AnsibleModule) -> list[dict[str, str]]:
    p = module.params
    hosts = []
    for index, host in enumerate(p["hosts"]):
        if not host.get("address") or not host.get("name"):
            module.fail_json(msg=f"hosts[{index}] needs a name and an address (got {sorted(host)})")
        try:
            port = int(host.get("port") or p["port"])
        except (TypeError, ValueError):
            module.fail_json(msg=f"hosts[{index}].port must be a port number (got {host.get('port')!r})")
        if not 0 < port < 65536:
            module.fail_json(msg=f"hosts[{index}].port must be a port number (got {port})")
        hosts.append({"name": str(host["name"]), "address": str(host["address"]), "port": port})
    if p["timeout"] <= 0 or p["connect_timeout"] <= 0 or p["poll_interval"] <= 0:
        module.fail_json(msg="timeout, connect_timeout and poll_interval must be positive")
    unknown = sorted(set(p["hints"]) - set(REASONS))
    if unknown:
        module.fail_json(msg=f"hints for unknown reasons {unknown} (known: {', '.join(REASONS)})")
    return hosts


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type="list", elements="dict", required=True),
            port=dict(type="int", default=22),
            user=dict(type="str", default="root"),
            private_key=dict(type="path"),
            known_hosts=dict(type="path"),
            command=dict(type="str"),
            timeout=dict(type="float", default=600.0),
            connect_timeout=dict(type="float", default=10.0),
            poll_interval=dict(type="float", default=5.0),
            hints=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    p = module.params
    hosts = check(module)
    spec = SshSpec(port=p["port"], user=p["user"], private_key=p["private_key"], known_hosts=p["known_hosts"],
                   command=p["command"], connect_timeout=p["connect_timeout"], poll_interval=p["poll_interval"])
    started = time.monotonic()
    states = wait_all(hosts, spec, p["timeout"])
    elapsed = round(time.monotonic() - started, 3)
    result = {"hosts": [s.as_dict() for s in states], "elapsed": elapsed}
    if not all(s.ready for s in states):
        module.fail_json(msg=failure_message(states, p["timeout"], p["hints"]), **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
