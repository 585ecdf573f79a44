#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_process
short_description: Kill, pause or resume the main process of a systemd service, and verify it took effect
description:
  - A nemesis for chaos testing (Jepsen's process faults). Sends C(SIGKILL) (O(action=kill)), C(SIGSTOP)
    (O(action=pause)) or C(SIGCONT) (O(action=resume)) to the main process of O(unit) with C(systemctl kill
    --kill-whom=main), then waits until the kernel shows the effect, with a deadline.
  - A kill is verified by the end of the old main process; a pause by the process state C(T); a resume by a state
    other than C(T). A fault that cannot be verified fails the task, so a no-op is never reported as injected.
  - After a kill, systemd restarts the service if its unit says C(Restart=on-failure); ensure it is started with
    M(ansible.builtin.systemd_service) before judging reconciliation.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  unit:
    description: The systemd service whose main process receives the signal.
    type: str
    default: ai-memory.service
  action:
    description: The fault.
    type: str
    choices: [kill, pause, resume]
    required: true
  deadline:
    description: Seconds to wait for the kernel to show the effect.
    type: float
    default: 10
  freeze:
    description:
      - With O(action=kill), first freeze the process with C(SIGSTOP) for this many seconds, then C(SIGKILL) it.
        The requests its clients send meanwhile queue at it unanswered, so the kill certainly lands while
        requests are in flight (and some are frozen anywhere in the write path). 0 kills at once.
    type: float
    default: 0
attributes:
  check_mode:
    description: Reads the main PID and its state; sends nothing.
    support: full
  diff_mode:
    support: none
notes:
  - Needs systemd on the target and root privileges.
seealso:
  - module: aimemory.swarm.history_event
  - module: aimemory.swarm.network_partition
"""

EXAMPLES = r"""
- name: Pause node-b's ai-memory while writes are in flight
  aimemory.swarm.node_process:
    action: pause
  delegate_to: node-b
  register: paused

- name: Record the pause in the check's history, at the time it took effect, with what was observed
  aimemory.swarm.history_event:
    history: /var/lib/aimemory-checks/c1/phase4.jsonl
    f: pause
    value: [node-b]
    at: "{{ paused.applied_at_ns }}"
    observed: "{{ paused.observed }}"
"""

RETURN = r"""
pid:
  description: Main PID that received the signal.
  returned: always
  type: int
  sample: 4242
state_before:
  description: Kernel state of the process before the signal (C(S) sleeping, C(T) stopped, ...).
  returned: always
  type: str
  sample: S
state_after:
  description: Kernel state after the fault was verified (null when the process is gone).
  returned: always
  type: str
  sample: T
applied_at_ns:
  description: Unix time in ns at which the effect was observed.
  returned: always
  type: int
  sample: 1795368633278227800
frozen_at_ns:
  description: With O(freeze), unix time in ns at which the process was seen stopped before the kill; else null.
  returned: always
  type: int
  sample: 1795368632978227800
observed:
  description:
    - What was seen of the fault, for M(aimemory.swarm.history_event) option C(observed) (null in check mode).
      C(gone) (a kill; the old main PID no longer exists, or is a zombie), C(paused) (state C(T)) or C(running)
      (a resume), with the PID and its state.
  returned: always
  type: dict
  sample: {"gone": true, "pid": 4242, "state": null, "method": "/proc/4242/stat after SIGKILL"}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._nemesis.process import (
    ACTIONS,
    ProcessFaultError,
    ProcessNemesis,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            unit=dict(type="str", default="ai-memory.service"),
            action=dict(type="str", choices=list(ACTIONS), required=True),
            deadline=dict(type="float", default=10.0),
            freeze=dict(type="float", default=0.0),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["deadline"] <= 0 or p["freeze"] < 0:
        module.fail_json(msg="deadline must be > 0 and freeze >= 0")
    nemesis = ProcessNemesis(module.run_command, module.get_bin_path("systemctl", required=True))
    try:
        result = nemesis.apply(p["unit"], p["action"], p["deadline"], module.check_mode, p["freeze"])
    except ProcessFaultError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
