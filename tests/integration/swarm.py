"""What the integration tests share: running a playbook, the subnets a campaign may use, the recap, the local
provider's leftovers by label, a campaign's summary."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def free_subnets(vpc_template: str, public_template: str, first: int = 0) -> list[str]:
    """-e arguments for a VPC and a public /24 that no route of this machine overlaps (another campaign, kept or
    still running, may hold the defaults: a test must not fail because someone else's swarm is up). Each test
    module passes its own templates (or its own `first` index into a shared one), so two modules running at once
    never pick the same subnet."""
    out = subprocess.run(["ip", "-j", "route", "show"], capture_output=True, text=True, check=True).stdout
    taken = [ipaddress.ip_network(r["dst"], strict=False) for r in json.loads(out or "[]")
             if r.get("dst") not in (None, "default")]
    chosen = []
    for variable, template in (("campaign_vpc_subnet", vpc_template), ("campaign_public_subnet", public_template)):
        net = next(n for n in (ipaddress.ip_network(template.format(i)) for i in range(first, 256))
                   if not any(n.overlaps(t) for t in taken))
        chosen += ["-e", f"{variable}={net}"]
    return chosen


def play(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """ansible-playbook in its own process group: past ``timeout`` the whole group is killed (its forks and SSH
    masters too: killing the leader alone left them running a campaign nobody waited for), then TimeoutExpired."""
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    with subprocess.Popen([str(PLAYBOOK), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate(timeout=60)
            raise subprocess.TimeoutExpired(proc.args, timeout, output=out, stderr=err) from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def recap(output: str) -> dict[str, dict[str, int]]:
    hosts = {}
    for line in output.splitlines():
        m = re.match(r"^(\S+)\s+:\s+(ok=.*)$", line)
        if m:
            hosts[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return hosts


def leftovers(campaign: str | None = None) -> list[str]:
    """Resources labelled by the local provider; only those of `campaign` when given (other campaigns may run)."""
    label = hashlib.sha256(campaign.encode()).hexdigest()[:6] if campaign else ""
    found = []
    netns = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, check=False).stdout
    found += [n["name"] for n in json.loads(netns or "[]") if n["name"].startswith(f"aimem-{label}")]
    links = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, check=False).stdout
    found += [x["ifname"] for x in json.loads(links or "[]")
              if re.match(rf"^am{label or '[0-9a-f]{6}'}", x["ifname"])]
    found += [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
              if f"/run/aimemory-swarm/{campaign or ''}" in line]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"systemd-nspawn" in cmd and f"aimem-{label}".encode() in cmd:
            found.append(f"pid {pid}")
    return found


def summary(name: str) -> dict:
    return json.loads((ROOT / "evidence" / name / "campaign-summary.json").read_text())
