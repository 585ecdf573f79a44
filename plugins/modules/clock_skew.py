#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: clock_skew
short_description: Skew the wall clock of one systemd service's process with libfaketime, or heal it
description:
  - A nemesis for chaos testing (ship-gate class C(clock_skew_peer)). With O(state=present) it writes a systemd
    drop-in that preloads libfaketime with C(FAKETIME=<offset>) for O(unit) (the monotonic clock is left alone),
    reloads systemd and restarts the service; with O(state=absent) it removes the drop-in and restarts again.
  - Only the service's process sees the skew; the host clock is untouched (no C(CAP_SYS_TIME) needed).
  - Whether the skew really took effect is measured from outside with M(aimemory.swarm.node_clock) (the node's
    HTTP C(Date) header); a check must never count a skew it did not measure.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  unit:
    description: The systemd service to skew.
    type: str
    default: ai-memory.service
  state:
    description: C(present) applies the skew, C(absent) heals it.
    type: str
    choices: [present, absent]
    default: present
  offset:
    description: Seconds added to the process' wall clock (negative values go back in time).
    type: int
    default: 300
  library:
    description: Path of C(libfaketime.so.1); default the first that exists of the usual Debian/Ubuntu paths.
    type: path
attributes:
  check_mode:
    description: Reports whether the drop-in would change; writes and restarts nothing.
    support: full
  diff_mode:
    support: none
notes:
  - Needs the C(faketime) package (libfaketime) on the target, systemd, and root privileges.
seealso:
  - module: aimemory.swarm.node_clock
  - module: aimemory.swarm.node_process
"""

EXAMPLES = r"""
- name: Put node-c's ai-memory five minutes ahead
  aimemory.swarm.clock_skew:
    offset: 300
  delegate_to: node-c

- name: Heal the skew
  aimemory.swarm.clock_skew:
    state: absent
  delegate_to: node-c
"""

RETURN = r"""
library:
  description: The libfaketime used (null when healing).
  returned: always
  type: str
  sample: /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
offset_s:
  description: The offset applied (0 when healing).
  returned: always
  type: int
  sample: 300
dropin:
  description: Path of the systemd drop-in.
  returned: always
  type: str
  sample: /etc/systemd/system/ai-memory.service.d/aimemory-clock-skew.conf
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._nemesis.clock import ClockSkew, ClockSkewError


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            unit=dict(type="str", default="ai-memory.service"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            offset=dict(type="int", default=300),
            library=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["state"] == "present" and p["offset"] == 0:
        module.fail_json(msg="offset=0 is not a skew; use state=absent to heal")
    skew = ClockSkew(module.run_command, module.get_bin_path("systemctl", required=True))
    try:
        if p["state"] == "present":
            result = skew.apply(p["unit"], p["offset"], p["library"], module.check_mode)
        else:
            result = skew.heal(p["unit"], module.check_mode)
    except (ClockSkewError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
