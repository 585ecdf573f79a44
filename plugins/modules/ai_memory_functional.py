#!/usr/bin/python
# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_memory_functional
short_description: Exercise one ai-memory node the way ship-gate phase 1 does, and record every assertion
description:
  - O(stage=functional) runs the CLI on a scratch database (store, recall, stats, backup with its manifest's
    sha256 verified, a restore round trip, a curator dry run whose unexpected errors are reported, and a
    protocol-complete MCP session) and the HTTP API of the running service (create, get, update, search,
    delete).
  - O(stage=before_restart) writes a marker through the HTTP API; O(stage=after_restart) reads it back after the
    service was restarted, proving that data survives a clean restart.
  - Every assertion is an operation in the history; M(aimemory.swarm.history_check) with kind C(functional) judges it.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
requirements:
  - httpx (Debian C(python3-httpx)) on the host that runs the module
  - cryptography (Debian C(python3-cryptography)) on that host, when O(agent_keys) is set (signed writes)
extends_documentation_fragment:
  - aimemory.swarm.attributes
  - aimemory.swarm.endpoint
options:
  stage:
    description: Which part to run.
    type: str
    choices: [functional, before_restart, after_restart]
    default: functional
  binary:
    description: The ai-memory binary on the node.
    type: path
    default: /usr/local/bin/ai-memory
  workdir:
    description: Scratch directory for the CLI database and backups (recreated by O(stage=functional)).
    type: path
    required: true
  url:
    description: Base URL of the node's HTTP API.
    type: str
    required: true
  namespace:
    description: Namespace of the HTTP writes.
    type: str
    required: true
  history:
    description: History file (JSONL) on the node.
    type: path
    required: true
  tier:
    description: Recall tier the CLI C(recall) and the MCP session ask for (C(--tier)); an empty string asks for
      none, so the product's own default applies. The campaign records it in provenance.
    type: str
    default: keyword
  mcp_profile:
    description: MCP profile the session asks for (C(mcp --profile)).
    type: str
    default: core
  mcp_tools:
    description: The tools that profile must list, exactly (the release's expectations); omitted, the session
      only needs C(memory_store) and C(memory_recall) for its round trip.
    type: list
    elements: str
  command_timeout:
    description: Seconds each CLI command may take; a command past it is killed and its op fails with the
      command line (a hung command never hangs the campaign).
    type: float
    default: 60
  default_tier_timeout:
    description: When set, also runs C(recall) with no C(--tier) and no configuration (the product's own
      default tier, as a first recall on a host without network runs it) with this many seconds to answer
      (op C(cli_recall_default_tier)); 0 skips it.
    type: float
    default: 0
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Phase 1 on this node
  aimemory.swarm.ai_memory_functional:
    workdir: /var/lib/aimemory-checks/run1/phase1
    url: https://10.250.0.10:9077
    namespace: phase1-run1
    history: /var/lib/aimemory-checks/run1/phase1.jsonl
    api_key: "{{ api_key }}"
    ca_cert: /etc/ai-memory/tls/ca.pem
    client_cert: /etc/ai-memory/tls/client.pem
    client_key: /etc/ai-memory/tls/client.key
"""

RETURN = r"""
summary:
  description: The ship-gate phase 1 keys measured (stats, curator, recall_count, snapshot_count, manifest_count,
    mcp_tool_count), for O(stage=functional).
  returned: success
  type: dict
"""

import os
import shutil
import uuid
from functools import partial

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    ENDPOINT_ARGSPEC,
    HAS_CRYPTOGRAPHY,
    HAS_HTTPX,
    HTTPX_IMPORT_ERROR,
    Endpoint,
    endpoint_kwargs,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History, read_history
from ansible_collections.aimemory.swarm.plugins.module_utils._process import Completed
from ansible_collections.aimemory.swarm.plugins.module_utils._process import run as run_with_deadline
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.functional import Phase1


def _run(argv: list[str], stdin: str | None = None, timeout: float | None = None, *, default_timeout: float,
         env: dict[str, str], cwd: str) -> Completed:
    return run_with_deadline(argv, timeout=timeout or default_timeout, stdin=stdin, env=env, cwd=cwd)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            stage=dict(type="str", choices=["functional", "before_restart", "after_restart"], default="functional"),
            binary=dict(type="path", default="/usr/local/bin/ai-memory"),
            workdir=dict(type="path", required=True),
            url=dict(type="str", required=True),
            namespace=dict(type="str", required=True),
            history=dict(type="path", required=True),
            tier=dict(type="str", default="keyword"),
            mcp_profile=dict(type="str", default="core"),
            mcp_tools=dict(type="list", elements="str"),
            command_timeout=dict(type="float", default=60),
            default_tier_timeout=dict(type="float", default=0),
            **ENDPOINT_ARGSPEC,
        ),
        supports_check_mode=True,
    )
    if not HAS_HTTPX:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    if module.params.get("agent_keys") and not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"), exception=CRYPTOGRAPHY_IMPORT_ERROR)
    p = module.params
    if module.check_mode:
        module.exit_json(changed=False, summary={})
    history = History(p["history"])
    node = os.uname()[1]
    # the one client of phase 1's HTTP steps: with agent_keys, its create is signed (agent attestation)
    client = Endpoint(p["url"], **endpoint_kwargs(p))
    summary: dict = {}
    if p["stage"] == "functional":
        shutil.rmtree(p["workdir"], ignore_errors=True)
        os.makedirs(p["workdir"], mode=0o700)

        env = dict(os.environ, HOME=p["workdir"], AI_MEMORY_NO_CONFIG="1")
        run = partial(_run, default_timeout=p["command_timeout"], env=env, cwd=p["workdir"])
        phase = Phase1(run, p["binary"], p["workdir"], history, node, tier=p["tier"], mcp_profile=p["mcp_profile"],
                       mcp_tools=p["mcp_tools"], default_tier_timeout=p["default_tier_timeout"] or None)
        summary = phase.cli_checks()
        phase.http_checks(client, p["namespace"])
        done = run_with_deadline([p["binary"], "--version"], timeout=p["command_timeout"])
        history.append({"process": node, "type": "ok" if done.ok else "fail", "f": "version", "node": node,
                        "value": {"version": done.stdout.strip().splitlines()[0] if done.stdout.strip() else "",
                                  **({} if done.ok else {"command": done.record()})}})
    elif p["stage"] == "before_restart":
        title = f"persist-{uuid.uuid4().hex[:8]}"
        resp = client.request("POST", "/api/v1/memories", {"title": title, "content": "survives a restart",
                                                           "namespace": p["namespace"], "scope": "collective"})
        mem_id = resp["body"].get("id") if isinstance(resp["body"], dict) else None
        history.append({"process": node, "type": "ok" if resp["status"] == 201 else "fail", "f": "persist_write",
                        "node": node, "value": {"id": mem_id, "status": resp["status"]}})
    else:
        ops, problems = read_history(p["history"])
        writes = [op for op in ops if op.get("f") == "persist_write" and op.get("type") == "ok"]
        if problems or not writes:
            history.append({"process": node, "type": "fail", "f": "persist_read", "node": node,
                            "value": {"reason": "; ".join(problems) or "no marker was written before the restart"}})
        else:
            mem_id = writes[-1]["value"]["id"]
            resp = client.request("GET", f"/api/v1/memories/{mem_id}")
            content = (resp["body"] or {}).get("memory", {}).get("content") if isinstance(resp["body"], dict) else None
            history.append({"process": node, "type": "ok" if content == "survives a restart" else "fail",
                            "f": "persist_read", "node": node, "value": {"id": mem_id, "status": resp["status"]}})
    client.close()
    module.exit_json(changed=True, summary=summary)


if __name__ == "__main__":
    main()
