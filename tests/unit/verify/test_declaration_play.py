"""The campaign's declaration as playbooks/checks.yml makes it (playbooks/tasks/declare_checks.yml, run here on
localhost with an inventory of three peers and a PostgreSQL host): every declared check pinned to its checker kind
and the parameters its play runs with, and `verify init` takes it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._releases import SHORTFALL_202

from verify import __main__ as cli

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
INVENTORY = """
all:
  hosts:
    localhost: {ansible_connection: local}
  children:
    peers: {hosts: {node-a: {}, node-b: {}, node-c: {}, node-d: {}}}
    postgres: {hosts: {pg: {}}}
"""
PLAY = f"""
- name: Declare
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Pin the declarations
      ansible.builtin.include_tasks: {ROOT}/playbooks/tasks/declare_checks.yml
    - name: Show them
      ansible.builtin.debug:
        msg: "DECLARED={{{{ campaign_declarations | to_json }}}}"
"""
CHECKS = ["s1_quorum_write", "s2_quorum_not_met", "s3_mtls_allowlist", "s4_partition_convergence",
          "s5_postgres_backend", "phase1-node-a", "phase1-node-b", "phase1-node-c", "phase1-node-d", "phase2",
          "phase3", "phase4"]


def declare(tmp: Path, checks: list[str], w: int = 2) -> tuple[int, str]:
    (tmp / "inventory.yml").write_text(INVENTORY)
    (tmp / "play.yml").write_text(PLAY)
    variables: dict[str, Any] = {
        "campaign": {"checks": checks, "w": w, "n": 4, "evidence_dir": str(tmp / "evidence" / "c-run1")},
        "campaign_expect": {"schema_version": 57, "mcp_profiles": {"core": ["memory_store", "memory_recall"]},
                            "quorum_shortfall": SHORTFALL_202},
        "ansible_python_interpreter": sys.executable}
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"), "ANSIBLE_NOCOLOR": "1",
           "AIMEMORY_PLAY_TIMES_FILE": str(tmp / "plays.json")}
    proc = subprocess.run([str(PLAYBOOK), "-i", str(tmp / "inventory.yml"), str(tmp / "play.yml"),
                           "-e", f"@{ROOT}/inventory/group_vars/all/campaign.yml",
                           "-e", f"@{ROOT}/inventory/group_vars/all/scenarios.yml", "-e", json.dumps(variables)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout


def test_every_check_is_pinned_to_its_kind_and_its_plays_parameters(tmp_path: Path) -> None:
    rc, out = declare(tmp_path, CHECKS, w=3)
    assert rc == 0, out[-3000:]
    decl = json.loads(re.search(r"DECLARED=(\{.*\})\"", out).group(1).replace('\\"', '"'))
    assert set(decl) == set(CHECKS)
    peers = ["node-a", "node-b", "node-c", "node-d"]
    topology = {"w": 3, "n": 4, "nodes": peers}
    assert decl["s1_quorum_write"] == {"kind": "quorum_write", "params": topology}
    assert decl["s2_quorum_not_met"] == {"kind": "quorum_shortfall", "params": {
        **topology, "leader": "node-a", "stopped": ["node-b", "node-c"], "one_down_applies": True,
        "shortfall": SHORTFALL_202,
        "live_during_one_down": ["node-a", "node-b", "node-d"]}}
    assert decl["s3_mtls_allowlist"] == {"kind": "mtls_allowlist", "params": {
        "identities": ["rogue_ca", "own_ca_unlisted", "no_cert", "control"], "control": "control", "nodes": peers,
        "route_table": "ai-memory-0.7.0"}}
    assert decl["s4_partition_convergence"] == {"kind": "partition_convergence", "params": {"nodes": peers}}
    assert decl["s5_postgres_backend"] == {"kind": "postgres_backend", "params": {
        "node": "pg", "namespace": "s5-c-run1", "schema_version": 57}}
    assert decl["phase1-node-c"] == {"kind": "functional", "params": {
        "host": "node-c", "tier": "keyword", "mcp_profile": "core", "mcp_tools": ["memory_store", "memory_recall"],
        "probe_default_tier": True}}
    assert decl["phase2"] == {"kind": "federation", "params": {**topology, "observed_faults": True,
                                                               "shortfall": SHORTFALL_202}}
    assert decl["phase3"] == {"kind": "migration", "params": {"count": 1000}}
    assert decl["phase4"] == {"kind": "chaos", "params": {
        **topology, "classes": ["kill_primary_mid_write", "partition_minority", "drop_random_acks",
                                "clock_skew_peer"], "cycles": 2, "writes_per_cycle": 20, "skew_offset_s": 300,
        "profile": "fast", "shortfall": SHORTFALL_202}}
    # verify init takes it as it is passed (JSON text), and the checker kinds are the registry's
    from ansible_collections.aimemory.swarm.plugins.module_utils._checker.registry import KINDS

    assert {d["kind"] for d in decl.values()} <= set(KINDS)
    evidence = tmp_path / "evidence" / "c-run1"
    assert cli.main(["init", "--evidence-dir", str(evidence), "--campaign-id", "c-run1", "--declare",
                     ",".join(CHECKS), "--declare-json", json.dumps(decl)]) == 0
    assert json.loads((evidence / "campaign.json").read_text())["checks"] == decl


@pytest.mark.parametrize("checks", [["s1_quorum_write", "s9_unknown"]])
def test_a_check_without_a_known_kind_stops_the_campaign(tmp_path: Path, checks: list[str]) -> None:
    rc, out = declare(tmp_path, checks)
    assert rc != 0 and "no checker kind is known for ['s9_unknown']" in out
