"""The scenario registry (inventory/group_vars/all/scenarios.yml) is the one place a scenario is registered: every
entry is complete and points at files that exist and a checker that exists, the places that used to list the
scenarios name none of them, and a scenario added to the registry alone is validated, declared and tabled."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.registry import KINDS

from verify import matrix

ROOT = Path(__file__).resolve().parents[3]
REGISTRY = ROOT / "inventory" / "group_vars" / "all" / "scenarios.yml"
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
# the files that once listed every scenario (a stanza, a list, a choice each): now they read the registry
REGISTRATION_POINTS = ("playbooks/checks.yml", "playbooks/validate.yml", "playbooks/tasks/declare_checks.yml",
                       "playbooks/deploy.yml", "playbooks/tasks/run_scenario.yml", "verify/matrix.py")


def scenarios(path: Path = REGISTRY) -> dict[str, dict[str, Any]]:
    return yaml.safe_load(path.read_text())["campaign_scenarios"]


def test_every_entry_is_complete_and_points_at_what_exists() -> None:
    entries = scenarios()
    assert len({e["label"] for e in entries.values()}) == len(entries)
    for name, entry in entries.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert {"title", "label", "selected_by", "runs_on", "needs", "tasks", "checker"} <= set(entry), name
        assert entry["selected_by"] in ("checks", "phases") and entry["runs_on"] in ("client", "peers", "postgres")
        assert set(entry["needs"]) <= {"postgres"}, name
        assert entry["checker"]["kind"] in KINDS, name
        for stage in ("tasks", "finish"):
            if stage in entry:
                assert (ROOT / "playbooks" / "tasks" / entry[stage]).is_file(), (name, stage)


def test_the_inventory_defaults_declare_registered_scenarios_only() -> None:
    defaults = yaml.safe_load((ROOT / "inventory" / "group_vars" / "all" / "campaign.yml").read_text())
    entries = scenarios()
    assert set(defaults["campaign_checks"]) <= {k for k, e in entries.items() if e["selected_by"] == "checks"}
    assert set(defaults["campaign_phases"]) <= {k for k, e in entries.items() if e["selected_by"] == "phases"}


@pytest.mark.parametrize("path", REGISTRATION_POINTS)
def test_no_registration_point_names_a_scenario(path: str) -> None:
    text = (ROOT / path).read_text()
    # a name as data: quoted, an item of a flow list, a list item or a key (prose such as "the attestation scenario"
    # in a comment or a task title is not a registration)
    as_data = r"(['\"]{0}['\"]|[\[,]\s*{0}\s*[,\]]|^\s*-\s+{0}\s*$|^\s*{0}\s*:)"
    named = [name for name in scenarios() if re.search(as_data.format(re.escape(name)), text, re.M)]
    assert named == [], f"{path} names {named}: register a scenario in scenarios.yml only"


def test_a_scenario_added_to_the_registry_alone_is_declared_and_tabled(tmp_path: Path) -> None:
    """What adding S9 costs: its task file and one entry (here an existing checker kind, so no checker code)."""
    entries = scenarios()
    entries["s9_demo"] = {"title": "S9 demo", "label": "S9", "selected_by": "checks", "runs_on": "client",
                          "needs": [], "tasks": "check_s9.yml",
                          "checker": {"kind": "convergence", "params": {"nodes": "{{ _peers }}", "w": "{{ _w }}"}}}
    registry = tmp_path / "scenarios.yml"
    registry.write_text(yaml.safe_dump({"campaign_scenarios": entries}, sort_keys=False))
    assert ("S9", "s9_demo") in matrix.registry_columns(registry)
    (tmp_path / "inventory.yml").write_text(
        "all:\n  hosts:\n    localhost: {ansible_connection: local}\n  children:\n"
        "    peers: {hosts: {node-a: {}, node-b: {}, node-c: {}}}\n")
    (tmp_path / "play.yml").write_text(f"""
- name: Declare
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Pin the declarations
      ansible.builtin.include_tasks: {ROOT}/playbooks/tasks/declare_checks.yml
    - name: Show them
      ansible.builtin.debug:
        msg: "DECLARED={{{{ campaign_declarations | to_json }}}}"
""")
    variables = {"campaign": {"checks": ["s9_demo", "phase1-node-b"], "w": 2, "n": 3,
                              "evidence_dir": str(tmp_path / "evidence" / "c-1")},
                 "campaign_expect": {"mcp_profiles": {}}, "ansible_python_interpreter": sys.executable}
    proc = subprocess.run([str(PLAYBOOK), "-i", str(tmp_path / "inventory.yml"), str(tmp_path / "play.yml"),
                           "-e", f"@{ROOT}/inventory/group_vars/all/campaign.yml", "-e", f"@{registry}",
                           "-e", json.dumps(variables)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
                          env={"PATH": str(PLAYBOOK.parent), "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
                               "ANSIBLE_NOCOLOR": "1", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout[-3000:]
    found = re.search(r"DECLARED=(\{.*\})\"", proc.stdout)
    assert found, proc.stdout[-3000:]
    declared = json.loads(found.group(1).replace('\\"', '"'))
    assert declared["s9_demo"] == {"kind": "convergence",
                                   "params": {"nodes": ["node-a", "node-b", "node-c"], "w": 2}}
    assert declared["phase1-node-b"]["params"]["host"] == "node-b" and set(declared) == {"s9_demo", "phase1-node-b"}
