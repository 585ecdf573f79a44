#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: history_check
short_description: Judge a check from its recorded history and return the evidence document
description:
  - Reads the check's JSONL history and runs the checker O(kind), a deterministic pure function of (history,
    params) from the collection's checker registry. Returns the evidence document the controller stores as
    C(<check>.json); the controller imports the same registry and recomputes the verdict from the stored history,
    so a verdict never rests on this module's word alone.
  - A history that is missing, empty, has a truncated last line, an unparseable line or an index out of place is
    red with that reason; the damage is recorded in the evidence's C(params.history_problems) so the
    recomputation agrees.
  - A red verdict is not a module failure (it is the result); the module fails only on bad input.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
extends_documentation_fragment:
  - aimemory.swarm.attributes
options:
  history:
    description: History file (JSONL) on the host running the module.
    type: path
    required: true
  check:
    description: Name of the check (the evidence file is C(<check>.json)).
    type: str
    required: true
  kind:
    description:
      - Checker to run, a kind of the checker registry (C(KINDS) in C(plugins/module_utils/_checker/registry.py)),
        such as C(quorum_write) (S1), C(quorum_shortfall) (S2), C(mtls_allowlist) (S3), C(convergence) (S4 and
        reusable), C(partition_convergence) (C(convergence) that insists on a partition and a heal),
        C(postgres_backend) (S5), C(functional) (ship-gate phase 1 on one node), C(federation) (phase 2),
        C(migration) (phase 3), C(chaos) (phase 4), C(attestation) (the write-attestation scenario), and any kind a
        scenario adds there.
      - The scenario registry (C(inventory/group_vars/all/scenarios.yml)) names each scenario's kind; a kind the
        checker registry does not know fails the task before anything is judged.
    type: str
    required: true
  params:
    description: Checker parameters (for example C(w), C(n), C(nodes), C(leader)); stored in the evidence.
    type: dict
    default: {}
  started_at:
    description: RFC 3339 time the check started; defaults to the time of the history's first op.
    type: str
attributes:
  check_mode:
    description: Reads and judges only; it changes nothing in either mode.
    support: full
  diff_mode:
    support: none
seealso:
  - module: aimemory.swarm.memory_workload
  - module: aimemory.swarm.memory_convergence
  - module: aimemory.swarm.mtls_probe
  - module: aimemory.swarm.history_event
"""

EXAMPLES = r"""
- name: Judge S1 from its history
  aimemory.swarm.history_check:
    history: /var/lib/aimemory-checks/c1/s1_quorum_write.jsonl
    check: s1_quorum_write
    kind: quorum_write
    params: {w: 2, n: 3, nodes: [node-a, node-b, node-c]}
  register: s1

- name: Store the evidence on the controller
  ansible.builtin.copy:
    content: "{{ s1.evidence | to_json }}"
    dest: "evidence/c1/{{ s1.check }}.json"
    mode: "0644"
  delegate_to: localhost
"""

RETURN = r"""
check:
  description: Name of the check.
  returned: always
  type: str
  sample: s1_quorum_write
kind:
  description: Checker that ran.
  returned: always
  type: str
  sample: quorum_write
params:
  description: Parameters the checker ran with (plus C(history_problems) when the history was damaged).
  returned: always
  type: dict
  sample: {"w": 2, "n": 3, "nodes": ["node-a", "node-b", "node-c"]}
pass:
  description: The verdict; true iff RV(reasons) is empty.
  returned: always
  type: bool
  sample: true
reasons:
  description: Why the check is red; empty on pass.
  returned: always
  type: list
  elements: str
  sample: []
figures:
  description: Measured ratios, each C({numerator, denominator, value, threshold, comparison}).
  returned: always
  type: dict
  sample: {"acknowledged_writes_on_every_node": {"numerator": 15, "denominator": 15, "value": 1.0,
           "threshold": 1.0, "comparison": ">="}}
started_at:
  description: RFC 3339 start of the check.
  returned: always
  type: str
  sample: "2026-11-22T10:00:00.000000Z"
ended_at:
  description: RFC 3339 time of the judgement.
  returned: always
  type: str
  sample: "2026-11-22T10:01:00.000000Z"
history:
  description: Every op of the history, as judged.
  returned: always
  type: list
  elements: dict
details:
  description: The checker's details (lost, unexpected, recovered writes, per-node counts, time to converge, ...).
  returned: always
  type: dict
evidence:
  description: The same document as one dict (C(check), C(kind), C(params), C(pass), C(reasons), C(figures),
    C(started_at), C(ended_at), C(history), C(details)), to store as C(<check>.json).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.registry import KINDS, check
from ansible_collections.aimemory.swarm.plugins.module_utils._history import now_ns, read_history
from ansible_collections.aimemory.swarm.plugins.module_utils._ops import op_time, rfc3339


def evidence(name: str, kind: str, params: dict, ops: list[dict], problems: list[str],
             started_at: str | None, ended_ns: int) -> dict:
    """The evidence document: the checker's verdict on (ops, params) with the history it judged."""
    judged = dict(params)
    if problems:
        judged["history_problems"] = list(problems)
    result = check(kind, ops, judged)
    times = [t for t in (op_time(op) for op in ops) if t is not None]
    started = started_at or (rfc3339(min(times)) if times else rfc3339(ended_ns))
    details = {k: v for k, v in result.items() if k not in ("valid", "reasons", "figures")}
    return {"check": name, "kind": kind, "params": judged, "pass": bool(result["valid"]),
            "reasons": list(result["reasons"]), "figures": result.get("figures", {}), "started_at": started,
            "ended_at": rfc3339(ended_ns), "history": ops, "details": details}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            history=dict(type="path", required=True),
            check=dict(type="str", required=True),
            kind=dict(type="str", required=True),  # checked against the registry below: one list, not two
            params=dict(type="dict", default={}),
            started_at=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["kind"] not in KINDS:
        known = ", ".join(sorted(KINDS))
        module.fail_json(msg=f"unknown checker kind {p['kind']!r}; the checker registry knows {known}")
    ops, problems = read_history(p["history"])
    doc = evidence(p["check"], p["kind"], p["params"], ops, problems, p["started_at"], now_ns())
    module.exit_json(changed=False, evidence=doc, **doc)


if __name__ == "__main__":
    main()
