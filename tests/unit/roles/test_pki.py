"""Role pki on the controller: issues once, a same-plan re-run does nothing (fast path), a changed plan reissues."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
PLAY = """
- name: Issue a PKI
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the role
      ansible.builtin.include_role:
        name: aimemory.swarm.pki
    - name: Show the allowlist fact
      ansible.builtin.debug:
        msg: "ALLOWLIST={{ pki_allowlist | to_json }}"
    - name: Show the agent keys fact
      ansible.builtin.debug:
        msg: "AGENTKEYS={{ pki_agent_keys | to_json }}"
"""


def run(tmp: Path, hosts: list[dict], **extra: object) -> tuple[int, str]:
    play = tmp / "play.yml"
    play.write_text(PLAY)
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"), "ANSIBLE_NOCOLOR": "1",
           "AIMEMORY_PLAY_TIMES_FILE": str(tmp / "plays.json")}
    variables = {"pki_dir": str(tmp / "pki"), "pki_hosts": hosts, "pki_test_identities": True, **extra}
    proc = subprocess.run([str(PLAYBOOK), "-i", "localhost,", "-c", "local", str(play), "-e", json.dumps(variables),
                           "-e", f"ansible_python_interpreter={sys.executable}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    changed = int(re.search(r"localhost\s+:.*changed=(\d+)", proc.stdout).group(1))
    return changed, proc.stdout


def allowlist(out: str) -> dict[str, str]:
    return json.loads(re.search(r"ALLOWLIST=(\{.*\})", out).group(1).replace('\\"', '"'))


def test_issue_once_then_nothing_then_reissue_on_a_new_plan(tmp_path: Path) -> None:
    hosts = [{"name": "node-a", "ips": ["10.250.0.10", "198.18.0.10"]}]
    changed, out = run(tmp_path, hosts)
    assert changed > 0
    first = allowlist(out)
    assert set(first) == {"node-a"} and re.fullmatch(r"[0-9a-f]{64}", first["node-a"])
    stamps = list((tmp_path / "pki").glob(".issued-*"))
    assert len(stamps) == 1
    changed, out = run(tmp_path, hosts)
    assert changed == 0 and "Create the leaf private keys" not in out  # the fast path: nothing re-checked
    assert allowlist(out) == first
    moved = [{"name": "node-a", "ips": ["10.250.0.20", "198.18.0.20"]}]
    changed, out = run(tmp_path, moved)
    assert changed > 0 and "Create the leaf private keys" in out
    info = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                           str(tmp_path / "pki/hosts/node-a/server.pem")], capture_output=True, text=True,
                          check=True).stdout
    assert "10.250.0.20" in info and "10.250.0.10" not in info
    assert [p.name for p in (tmp_path / "pki").glob(".issued-*")] != [s.name for s in stamps]
    (tmp_path / "pki/hosts/node-a/client.key").unlink()
    changed = run(tmp_path, moved)[0]
    assert changed > 0 and (tmp_path / "pki/hosts/node-a/client.key").exists()


def test_agent_keys_are_issued_once_private_and_named_after_the_agent(tmp_path: Path) -> None:
    hosts = [{"name": "node-a", "ips": ["10.250.0.10", "198.18.0.10"]}]
    agents = ["ai:swarm-certifier", "ai:agent-alice"]
    changed, out = run(tmp_path, hosts, pki_agents=agents)
    assert changed > 0
    keys = tmp_path / "pki" / "agents"
    fact = json.loads(re.search(r"AGENTKEYS=(\{.*\})", out).group(1).replace('\\"', '"'))
    assert fact == {"ai:swarm-certifier": str(keys / "ai_swarm-certifier"),
                    "ai:agent-alice": str(keys / "ai_agent-alice")}
    assert sorted(p.name for p in keys.iterdir()) == ["ai_agent-alice.key", "ai_agent-alice.pub",
                                                      "ai_swarm-certifier.key", "ai_swarm-certifier.pub"]
    assert (keys / "ai_swarm-certifier.key").stat().st_mode & 0o777 == 0o600
    assert keys.stat().st_mode & 0o777 == 0o700
    pub = (keys / "ai_swarm-certifier.pub").read_text()
    assert pub.startswith("-----BEGIN PUBLIC KEY-----")
    text = subprocess.run(["openssl", "pkey", "-pubin", "-noout", "-text", "-in", str(keys / "ai_agent-alice.pub")],
                          capture_output=True, text=True, check=True).stdout
    assert "ED25519" in text.upper()
    secret = (keys / "ai_swarm-certifier.key").read_text().splitlines()[1]
    assert secret not in out  # the private key never shows in the play's output
    before = (keys / "ai_agent-alice.key").read_bytes()
    changed, out = run(tmp_path, hosts, pki_agents=agents)
    assert changed == 0 and (keys / "ai_agent-alice.key").read_bytes() == before
    changed, out = run(tmp_path, hosts, pki_agents=[*agents, "ai:agent-bob"])  # a new agent: a new plan
    assert changed > 0 and (keys / "ai_agent-bob.pub").exists()
    assert (keys / "ai_agent-alice.key").read_bytes() == before  # the others' keys stay
