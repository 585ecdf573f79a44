#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: history_check
short_description: Judge a check from its recorded history and return the evidence document
description:
  - Reads the check's JSONL history and runs the named checker, a pure function of (history, params). Returns the
    evidence document the controller stores as C(<check>.json); the controller recomputes the verdict from the
    same history, so a verdict never rests on this module's word alone.
  - A history that is missing, truncated or holds unparseable lines fails the check with that reason.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
options:
  history:
    description: History file (JSONL).
    type: path
    required: true
  check:
    description: Name of the check (the evidence file name).
    type: str
    required: true
  kind:
    description: Checker to run.
    type: str
    required: true
    choices: [functional, mtls_allowlist, partition_convergence, quorum_shortfall, quorum_write]
  params:
    description: Checker parameters (W, N, nodes, ...), stored in the evidence.
    type: dict
    default: {}
  started_at:
    description: RFC 3339 time the check started.
    type: str
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Judge S1
  aimemory.swarm.history_check:
    history: /var/lib/aimemory-checks/c1/s1_quorum_write.jsonl
    check: s1_quorum_write
    kind: quorum_write
    params: {w: 2, n: 3, nodes: [node-a, node-b, node-c]}
  register: s1
"""

RETURN = r"""
evidence:
  description: The evidence document (check, kind, params, pass, reasons, figures, started_at, ended_at, history,
    details).
  returned: success
  type: dict
pass:
  description: The checker's verdict.
  returned: success
  type: bool
"""

from datetime import UTC, datetime

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.registry import KINDS, check
from ansible_collections.aimemory.swarm.plugins.module_utils._history import read_history


def rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(history=dict(type="path", required=True), check=dict(type="str", required=True),
                           kind=dict(type="str", required=True, choices=sorted(KINDS)),
                           params=dict(type="dict", default={}), started_at=dict(type="str")),
        supports_check_mode=True,
    )
    p = module.params
    ops, problems = read_history(p["history"])
    result = check(p["kind"], ops, p["params"])
    reasons = problems + list(result.get("reasons", []))
    times = [float(op["time"]) for op in ops if "time" in op]
    ended = rfc3339(datetime.now(UTC))
    started = p["started_at"] or (rfc3339(datetime.fromtimestamp(min(times), UTC)) if times else ended)
    details = {k: v for k, v in result.items() if k not in ("valid", "reasons", "figures")}
    evidence = {"check": p["check"], "kind": p["kind"], "params": p["params"], "pass": not reasons,
                "reasons": reasons, "figures": result.get("figures", {}), "started_at": started, "ended_at": ended,
                "history": ops, "details": details}
    module.exit_json(changed=False, evidence=evidence, **{"pass": evidence["pass"]})


if __name__ == "__main__":
    main()
