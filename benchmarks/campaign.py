#!/usr/bin/env python3
"""The default campaign, timed stage by stage, for each N: where a campaign's time and memory go.

Usage (root): .venv/bin/python benchmarks/campaign.py [--peers 3,5,7] [--sut real|standin] [--free-subnets]
                  [--json OUT] [--svg OUT] [-- <more ansible-playbook arguments>]

For each N it runs ``ansible-playbook campaign.yml -e campaign_id=bench-<N>-<time> -e campaign_peers=N
-e campaign_quorum_writes=<majority of N>`` (the image is expected warm: whether it was is printed) and prints
- each stage's wall time (the play_timer callback's plays, grouped by play name into validate, build, provision,
  PKI, deploy nodes, deploy PostgreSQL, client, checks, verdict and teardown), the total of the plays and the total
  measured around the command;
- the share of the checks' wall time spent waiting on the system under test: the union of the histories' op
  intervals (an op's latency, or its invoke to its completion), each clipped to its check's window, against the
  checks stage's wall time; the rest is Ansible, module start-up, the checks' own set-up and their judgement;
- time to converge (S4 after the heal, phase 2's burst p99 when present);
- memory: the controller's peak RSS (ru_maxrss of the campaign's process tree: its largest single process) and
  each host's peak, sampled every second while the campaign runs (the cgroup's memory.peak when the host has a
  cgroup of its own, else the sum of its processes' PSS and RSS).
``--json`` writes every figure, ``--svg`` draws time to converge and deploy/check time against N. It asserts
nothing: a red campaign is reported (and the exit status is 1), its figures are printed all the same.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
IMAGES = Path("/var/lib/aimemory-swarm/images")
CGROUP_ROOTS = (Path("/sys/fs/cgroup/machine.slice"), Path("/sys/fs/cgroup/unified/machine.slice"),
                Path("/sys/fs/cgroup/memory/machine.slice"))
PLOT_RC = {"svg.fonttype": "none", "svg.hashsalt": "aimemory-bench", "text.parse_math": False, "font.size": 9,
           "axes.spines.top": False, "axes.spines.right": False}
MIN_PEERS, MAX_PEERS = 3, 7  # what playbooks/validate.yml accepts

STAGES = ("validate", "build", "provision", "PKI", "deploy nodes", "deploy PostgreSQL", "client", "checks",
          "verdict", "teardown")
DEPLOY = ("PKI", "deploy nodes", "deploy PostgreSQL", "client")
# first match wins: the play names of playbooks/*.yml (tests/unit/benchmarks checks that each one has a stage)
STAGE_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p, re.IGNORECASE), s) for p, s in (
    (r"^validate", "validate"),
    (r"^build", "build"),
    (r"^provision", "provision"),
    (r"certificate", "PKI"),
    (r"^deploy postgresql", "deploy PostgreSQL"),
    (r"^deploy .*node", "deploy nodes"),
    (r"^prepare the client", "client"),
    (r"^judge", "verdict"),
    (r"tear down", "teardown"),
    (r"evidence directory|declare the checks|ship-gate phase|scenario|check", "checks"),
))


# ---------------------------------------------------------------------------------------------- pure figures
def stage_of(play_name: str) -> str:
    """The stage a play belongs to, by its name; ``other`` for a play no rule knows."""
    for pattern, stage in STAGE_RULES:
        if pattern.search(play_name):
            return stage
    return "other"


def stage_times(plays: Iterable[dict[str, Any]], teardown_seconds: float | None = None) -> dict[str, float]:
    """Wall seconds per stage, in campaign order (stages without a play are 0). The verdict play also tears the
    swarm down: ``teardown_seconds`` (measured apart) moves that part of it from verdict to teardown."""
    out = dict.fromkeys(STAGES, 0.0)
    for play in plays:
        stage = stage_of(str(play.get("name") or ""))
        out[stage] = out.get(stage, 0.0) + float(play.get("wall_seconds") or 0.0)
    if teardown_seconds is not None and teardown_seconds > 0:
        moved = min(teardown_seconds, out["verdict"])
        out["verdict"] -= moved
        out["teardown"] += moved
    return {k: round(v, 3) for k, v in out.items()}


def epoch(text: object) -> float | None:
    """Seconds since the epoch of an ISO 8601 time (``Z`` or an offset); None when it is not one."""
    try:
        stamp = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def op_intervals(history: Sequence[dict[str, Any]]) -> tuple[list[tuple[float, float]], int]:
    """([start, end] in epoch seconds of every op whose duration the history says, ops without one). A completion
    (ok, fail, info) lasts its ``latency_ms`` up to its ``time``; without a latency, from its process's invoke to
    its ``time``; an invoke never completed, or a completion with neither, has no duration."""
    intervals: list[tuple[float, float]] = []
    pending: dict[str, float] = {}
    unknown = 0
    for op in history:
        if not isinstance(op, dict) or not isinstance(op.get("time"), int | float):
            continue
        at = float(op["time"]) / 1e9
        process = str(op.get("process"))
        if op.get("type") == "invoke":
            pending[process] = at
            continue
        invoked = pending.pop(process, None)
        latency = op.get("latency_ms")
        if isinstance(latency, int | float) and not isinstance(latency, bool) and latency >= 0:
            intervals.append((at - float(latency) / 1000.0, at))
        elif invoked is not None:
            intervals.append((invoked, at))
        else:
            unknown += 1
    return intervals, unknown + len(pending)


def clip(intervals: Iterable[tuple[float, float]], lo: float, hi: float) -> list[tuple[float, float]]:
    return [(max(a, lo), min(b, hi)) for a, b in intervals if min(b, hi) > max(a, lo)]


def union_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """Seconds covered by at least one interval (concurrent ops count once)."""
    total, end = 0.0, None
    for a, b in sorted(intervals):
        if end is None or a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


def check_files(evidence_dir: Path) -> dict[str, dict[str, Any]]:
    """The declared checks' evidence (campaign.json's declared_checks), each parsed; unreadable ones left out."""
    try:
        declared = json.loads((evidence_dir / "campaign.json").read_text()).get("declared_checks") or []
    except (OSError, ValueError, AttributeError):
        declared = []
    out = {}
    for name in declared:
        try:
            data = json.loads((evidence_dir / f"{name}.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            out[str(name)] = data
    return out


def waiting_share(checks: dict[str, dict[str, Any]], checks_wall: float) -> dict[str, Any]:
    """How much of the checks stage's wall time is spent waiting on the system under test: the union over every
    check of its ops' intervals clipped to its window (started_at..ended_at), against ``checks_wall``."""
    per_check: dict[str, Any] = {}
    everything: list[tuple[float, float]] = []
    for name, data in sorted(checks.items()):
        lo, hi = epoch(data.get("started_at")), epoch(data.get("ended_at"))
        history = data.get("history") if isinstance(data.get("history"), list) else []
        intervals, unknown = op_intervals(history)
        if lo is not None and hi is not None:
            intervals = clip(intervals, lo, hi)
        everything += intervals
        per_check[name] = {
            "window_seconds": round(hi - lo, 3) if lo is not None and hi is not None else None,
            "waiting_seconds": round(union_seconds(intervals), 3),
            "latency_sum_seconds": round(sum(b - a for a, b in intervals), 3),
            "ops_with_duration": len(intervals), "ops_without_duration": unknown}
    waiting = union_seconds(everything)
    return {"checks_wall_seconds": round(checks_wall, 3), "waiting_seconds": round(waiting, 3),
            "rest_seconds": round(max(checks_wall - waiting, 0.0), 3),
            "waiting_share": round(waiting / checks_wall, 4) if checks_wall > 0 else None,
            "checks_without_op_durations": sorted(n for n, c in per_check.items() if not c["ops_with_duration"]),
            "per_check": per_check}


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def convergence(checks: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Time to converge: S4's after the heal, phase 2's burst (p50, p99) when phase 2 ran."""
    s4 = (checks.get("s4_partition_convergence") or {}).get("details") or {}
    burst = ((checks.get("phase2") or {}).get("details") or {}).get("burst") or {}
    return {"s4_time_to_converge_ms": _number(s4.get("time_to_converge_ms")),
            "phase2_burst_time_to_converge_p50_ms": _number(burst.get("time_to_converge_p50_ms")),
            "phase2_burst_time_to_converge_p99_ms": _number(burst.get("time_to_converge_p99_ms"))}


def read_plays(path: Path) -> list[dict[str, Any]]:
    try:
        plays = json.loads(path.read_text()).get("plays") or []
    except (OSError, ValueError, AttributeError):
        return []
    return [p for p in plays if isinstance(p, dict)]


def figures_from_evidence(evidence_dir: Path, plays: list[dict[str, Any]] | None = None,
                          teardown_seconds: float | None = None) -> dict[str, Any]:
    """Every figure an evidence directory gives. ``plays`` defaults to its plays.json, which the verdict play
    copies before it ends (so it has no verdict or teardown time): the benchmark passes the play_timer's own file,
    written when the run ends, and the teardown it measured apart."""
    plays = read_plays(evidence_dir / "plays.json") if plays is None else plays
    stages = stage_times(plays, teardown_seconds)
    checks = check_files(evidence_dir)
    try:
        summary = json.loads((evidence_dir / "campaign-summary.json").read_text())
    except (OSError, ValueError):
        summary = {}
    return {"stages_seconds": stages,
            "deploy_seconds": round(sum(stages[s] for s in DEPLOY), 3),
            "checks_seconds": stages["checks"],
            "plays_total_seconds": round(sum(stages.values()), 3),
            "unknown_plays": sorted({str(p.get("name")) for p in plays
                                     if stage_of(str(p.get("name") or "")) == "other"}),
            "failed_plays": [str(p.get("name")) for p in plays if p.get("failed")],
            "waiting": waiting_share(checks, stages["checks"]),
            "convergence": convergence(checks),
            "overall_pass": summary.get("overall_pass") if isinstance(summary, dict) else None,
            "checks": sorted(checks)}


def majority(n: int) -> int:
    return n // 2 + 1


def free_subnets(routes: Sequence[dict[str, Any]], vpc_template: str = "10.244.{}.0/24",
                 public_template: str = "198.18.{}.0/24", start: int = 128) -> list[str]:
    """-e arguments for a VPC and a public /24 that no route overlaps (another campaign may hold the defaults), as
    tests/integration/swarm.py picks them; from ``start`` on, so a test starting beside it picks others first."""
    taken = [ipaddress.ip_network(r["dst"], strict=False) for r in routes if r.get("dst") not in (None, "default")]
    chosen: list[str] = []
    for variable, template in (("campaign_vpc_subnet", vpc_template), ("campaign_public_subnet", public_template)):
        order = [*range(start, 256), *range(start)]
        net = next((n for n in (ipaddress.ip_network(template.format(i)) for i in order)
                    if not any(n.overlaps(t) for t in taken)), None)
        if net is None:
            raise SystemExit(f"no free /24 for {variable} in {template}")
        taken.append(net)
        chosen += ["-e", f"{variable}={net}"]
    return chosen


def parse_peers(text: str) -> list[int]:
    """``3,5,7`` -> [3, 5, 7]; refuses what the campaign refuses (N outside 3..7)."""
    try:
        peers = [int(p) for p in text.split(",") if p.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--peers takes numbers separated by commas, not {text!r}") from exc
    bad = [n for n in peers if not MIN_PEERS <= n <= MAX_PEERS]
    if not peers or bad:
        raise argparse.ArgumentTypeError(
            f"campaign_peers (N) must be {MIN_PEERS} to {MAX_PEERS} (the campaign refuses the others): {bad or text}")
    return peers


# ---------------------------------------------------------------------------------------------- memory
def short_id(campaign_id: str) -> str:
    """The local provider's label of a campaign (plugins/module_utils/_swarm/local.py)."""
    return hashlib.sha256(campaign_id.encode()).hexdigest()[:6]


def _parents() -> dict[int, int]:
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        out[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
    return out


def _descendants(root: int, children: dict[int, list[int]]) -> list[int]:
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _pss_rss(pids: Iterable[int]) -> tuple[int, int]:
    pss = rss = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
    return pss, rss


def machine_cgroup(machine: str, roots: Sequence[Path] = CGROUP_ROOTS) -> Path | None:
    """The host's own cgroup (systemd's unit ``machine-<name>.scope``, its ``-`` escaped as ``\\x2d``) when it has
    a memory figure; None when the host has none (``systemd-nspawn --register=no --keep-unit`` runs it in the
    cgroup of whoever started it)."""
    escaped = machine.replace("-", "\\x2d")
    for root in roots:
        with contextlib.suppress(OSError):
            for entry in root.iterdir():
                if (escaped in entry.name or machine in entry.name) and (
                        (entry / "memory.peak").exists() or (entry / "memory.current").exists()):
                    return entry
    return None


@dataclass
class HostPeak:
    method: str = ""
    peak_bytes: int = 0
    peak_rss_sum_bytes: int = 0
    samples: int = 0


@dataclass
class MemorySampler:
    """Samples the campaign's hosts and the controller's process tree every ``interval`` seconds, from a thread,
    until stopped or ``deadline`` (monotonic) passes. Hosts appear after provisioning and disappear at teardown:
    the peak is the largest sample seen."""
    campaign_id: str
    controller_pid: int
    deadline: float
    interval: float = 1.0
    hosts: dict[str, HostPeak] = field(default_factory=dict)
    all_hosts_peak_bytes: int = 0
    controller_tree_peak_pss_bytes: int = 0
    other_playbooks_max: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bench-memory", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self.deadline:
            with contextlib.suppress(Exception):  # a process or cgroup that vanished between two reads
                self.sample()
            self._stop.wait(self.interval)

    def _scan(self, parents: dict[int, int]) -> tuple[dict[str, int], set[int]]:
        """({machine: nspawn pid} of this campaign's running hosts, pids of every ansible-playbook process)."""
        prefix = f"aimem-{short_id(self.campaign_id)}-".encode()
        found, playbooks = {}, set()
        for pid in parents:
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(a.endswith(b"ansible-playbook") for a in argv[:2]):
                playbooks.add(pid)
            if argv and argv[0].endswith(b"systemd-nspawn") and b"-M" in argv[:-1]:
                machine = argv[argv.index(b"-M") + 1]
                if machine.startswith(prefix):
                    found[machine.decode()] = pid
        return found, playbooks

    def sample(self) -> None:
        parents = _parents()
        children: dict[int, list[int]] = {}
        for pid, parent in parents.items():
            children.setdefault(parent, []).append(pid)
        total = 0
        in_hosts: set[int] = set()
        machines, playbooks = self._scan(parents)
        for machine, nspawn in machines.items():
            name = machine.split("-", 2)[2]
            peak = self.hosts.setdefault(name, HostPeak())
            pids = _descendants(nspawn, children)
            in_hosts.update(pids)
            cgroup = machine_cgroup(machine)
            if cgroup is not None and (cgroup / "memory.peak").exists():
                now = int((cgroup / "memory.peak").read_text())
                peak.method = "cgroup memory.peak"
            elif cgroup is not None:
                now = int((cgroup / "memory.current").read_text())
                peak.method = "cgroup memory.current, sampled"
            else:
                now, rss = _pss_rss(pids)
                peak.method = "sum of the host's processes' PSS, sampled"
                peak.peak_rss_sum_bytes = max(peak.peak_rss_sum_bytes, rss)
            peak.peak_bytes = max(peak.peak_bytes, now)
            peak.samples += 1
            total += now
        self.all_hosts_peak_bytes = max(self.all_hosts_peak_bytes, total)
        controller = [p for p in _descendants(self.controller_pid, children) if p not in in_hosts]
        # another campaign's ansible-playbook (its own, and its forks, are this campaign's tree)
        self.other_playbooks_max = max(self.other_playbooks_max,
                                       len(playbooks - {self.controller_pid, *controller}))
        self.controller_tree_peak_pss_bytes = max(self.controller_tree_peak_pss_bytes,
                                                  _pss_rss([self.controller_pid, *controller])[0])


# ---------------------------------------------------------------------------------------------- one campaign
def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                         check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True, check=False).stdout.strip()
    return f"{out}{'-dirty' if dirty else ''}" if out else "?"


def other_playbooks() -> int:
    """ansible-playbook processes running on the machine (other campaigns share its two cores)."""
    out = subprocess.run(["pgrep", "-fc", "ansible-playbook"], capture_output=True, text=True, check=False).stdout
    return int(out.strip() or 0)


def wait_with_usage(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int | None, Any]:
    """(exit status, rusage of the child and its waited-for descendants), or (None, None) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage
        time.sleep(0.5)
    return None, None


def run_campaign(n: int, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    cid = f"bench-{n}-{int(time.time())}"
    subnets: list[str] = []
    if args.free_subnets:
        routes = subprocess.run(["ip", "-j", "route", "show"], capture_output=True, text=True, check=True).stdout
        subnets = free_subnets(json.loads(routes or "[]"))
    command = [PLAYBOOK, "campaign.yml", "-e", f"campaign_id={cid}", "-e", f"campaign_peers={n}",
               "-e", f"campaign_quorum_writes={majority(n)}", "-e", f"ai_memory_sut={args.sut}", *subnets, *extra]
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{cid}.log"
    plays_file = Path(tempfile.mkdtemp(prefix="bench-plays-")) / "plays.json"
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1",
           "AIMEMORY_PLAY_TIMES_FILE": str(plays_file)}
    context = {"campaign_id": cid, "peers": n, "quorum_writes": majority(n), "sut": args.sut,
               "image_warm": IMAGES.is_dir() and any(IMAGES.iterdir()), "other_playbooks_at_start": other_playbooks(),
               "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
               "started_at": datetime.now(UTC).isoformat(timespec="seconds"), "command": command[1:],
               "log": str(log)}
    print(f"N={n}: {' '.join(command[1:])} (log: {log})", flush=True)
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        sampler = MemorySampler(cid, proc.pid, deadline=time.monotonic() + args.timeout + 60)
        sampler.start()
        try:
            rc, usage = wait_with_usage(proc, args.timeout)
            if rc is None:
                proc.terminate()
                rc, usage = wait_with_usage(proc, 120)
                subprocess.run([PLAYBOOK, "playbooks/teardown.yml", "-e", f"campaign_id={cid}"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, check=False)
                context["timed_out_after_seconds"] = args.timeout
        finally:
            sampler.stop()
    total = time.perf_counter() - start
    ended = time.time()
    # ru_maxrss of this campaign's process tree (wait4's rusage: RUSAGE_CHILDREN scoped to this child), KiB
    controller_maxrss = usage.ru_maxrss * 1024 if usage is not None else None
    evidence = ROOT / "evidence" / cid
    plays = read_plays(plays_file) or None
    # the verdict play renders the report (index.html), then tears down: from the report to the play timer's
    # last write (the end of the verdict play) is the teardown
    teardown = None
    with contextlib.suppress(OSError):
        teardown = plays_file.stat().st_mtime - (evidence / "index.html").stat().st_mtime
    figures = figures_from_evidence(evidence, plays=plays, teardown_seconds=teardown)
    with contextlib.suppress(OSError):
        plays_file.unlink()
        plays_file.parent.rmdir()
    return {**context, "rc": rc, "command_seconds": round(total, 3),
            "ended_at": datetime.fromtimestamp(ended, UTC).isoformat(timespec="seconds"),
            "evidence_dir": str(evidence), "other_playbooks_max_during_run": sampler.other_playbooks_max, **figures,
            "memory": {
                "controller_peak_rss_bytes": controller_maxrss,
                "controller_peak_rss_note": "the largest single process of the campaign's process tree on the "
                                            "controller (ru_maxrss, as getrusage(RUSAGE_CHILDREN) gives it)",
                "controller_tree_peak_pss_bytes": sampler.controller_tree_peak_pss_bytes,
                "hosts": {k: vars(v) for k, v in sorted(sampler.hosts.items())},
                "all_hosts_peak_bytes": sampler.all_hosts_peak_bytes}}


# ---------------------------------------------------------------------------------------------- output
def mib(value: float | None) -> str:
    return "?" if value is None else f"{value / 2**20:.0f} MiB"


def report(result: dict[str, Any]) -> list[str]:
    """The printed figures of one N."""
    n = result["peers"]
    verdict = {True: "GREEN", False: "RED"}.get(result.get("overall_pass"), "NO VERDICT")
    lines = [f"N={n} W={result['quorum_writes']} sut={result['sut']} ({result['campaign_id']}): {verdict}, "
             f"rc {result['rc']}, image {'warm' if result['image_warm'] else 'cold'}, "
             f"{result['other_playbooks_at_start']} other ansible-playbook process(es) at start and up to "
             f"{result.get('other_playbooks_max_during_run', '?')} during the run, "
             f"load {result['load_average_at_start'][0]} at start"]
    stages = result["stages_seconds"]
    lines += [f"  {stage:<20} {stages.get(stage, 0.0):8.1f} s" for stage in (*STAGES, "other")
              if stage in STAGES or stages.get(stage)]
    lines.append(f"  {'deploy (PKI..client)':<20} {result['deploy_seconds']:8.1f} s")
    lines.append(f"  total: {result['plays_total_seconds']:.1f} s of plays, {result['command_seconds']:.1f} s "
                 f"around the command")
    w = result["waiting"]
    if w["waiting_share"] is not None:
        lines.append(f"  checks: {w['checks_wall_seconds']:.1f} s, of which {w['waiting_seconds']:.1f} s "
                     f"({100 * w['waiting_share']:.0f} %) waiting on the system under test, "
                     f"{w['rest_seconds']:.1f} s the rest")
        lines.append("    (the rest: Ansible, module start-up, the checks' set-up and judgement)")
        if w["checks_without_op_durations"]:
            lines.append(f"    (no op durations in {', '.join(w['checks_without_op_durations'])}: counted as rest)")
    c = result["convergence"]
    parts = [f"{label} {c[key]:.0f} ms" for key, label in (("s4_time_to_converge_ms", "S4"),
                                                          ("phase2_burst_time_to_converge_p50_ms", "phase 2 p50"),
                                                          ("phase2_burst_time_to_converge_p99_ms", "phase 2 p99"))
             if c.get(key) is not None]
    lines.append(f"  time to converge: {', '.join(parts) or 'not recorded'}")
    m = result["memory"]
    lines.append(f"  memory: controller peak RSS {mib(m['controller_peak_rss_bytes'])} (one process), "
                 f"controller tree {mib(m['controller_tree_peak_pss_bytes'])} PSS; all hosts together "
                 f"{mib(m['all_hosts_peak_bytes'])}")
    methods = sorted({h["method"] for h in m["hosts"].values()})
    lines.append("    " + ", ".join(f"{k} {mib(h['peak_bytes'])}" for k, h in m["hosts"].items())
                 + (f" ({'; '.join(methods)})" if methods else "no host sampled"))
    if result["unknown_plays"]:
        lines.append(f"  plays of no known stage: {', '.join(result['unknown_plays'])}")
    return lines


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Time to converge and deploy/check time against N, as an SVG: matplotlib's SVG output, text kept as text, on
    a Figure without pyplot, as verify/plots.py draws."""
    import matplotlib
    from matplotlib.figure import Figure

    ns = [r["peers"] for r in results]
    with matplotlib.rc_context(PLOT_RC):
        fig = Figure(figsize=(9, 3.4))
        left, right = fig.subplots(1, 2)
        for key, label in (("s4_time_to_converge_ms", "S4 after the heal"),
                           ("phase2_burst_time_to_converge_p99_ms", "phase 2 burst p99")):
            pts = [(n, r["convergence"][key]) for n, r in zip(ns, results, strict=True)
                   if r["convergence"].get(key) is not None]
            if pts:
                left.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
        left.set(xlabel="N (peers)", ylabel="time to converge (ms)", title="Time to converge", xticks=ns)
        left.set_ylim(bottom=0)
        if left.lines:
            left.legend(frameon=False)
        else:
            left.text(0.5, 0.5, "not recorded", transform=left.transAxes, ha="center")
        for key, label in (("deploy_seconds", "deploy (PKI, nodes, PostgreSQL, client)"),
                           ("checks_seconds", "checks")):
            right.plot(ns, [r[key] for r in results], marker="o", label=label)
        right.set(xlabel="N (peers)", ylabel="wall time (s)", title="Deploy and checks", xticks=ns)
        right.set_ylim(bottom=0)
        right.legend(frameon=False)
        fig.suptitle(f"benchmarks/campaign.py: W = majority, sut {results[0]['sut']}, "
                     f"commit {results[0].get('commit', '?')}")
        fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    parser.add_argument("--peers", type=parse_peers, default=[3], help="N, or Ns separated by commas (3 to 7)")
    parser.add_argument("--sut", choices=("real", "standin"), default="real", help="ai_memory_sut (default real)")
    parser.add_argument("--free-subnets", action="store_true",
                        help="pick a VPC and a public /24 that no route of this machine overlaps")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--svg", type=Path, help="draw time to converge and deploy/check time against N here")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per campaign (then teardown)")
    parser.add_argument("--log-dir", default=str(ROOT / ".state" / "bench"), help="where each campaign's output goes")
    args, extra = parser.parse_known_args()
    if extra[:1] == ["--"]:
        extra = extra[1:]
    if os.geteuid() != 0:
        sys.exit("benchmarks/campaign.py boots systemd-nspawn hosts: run it as root")
    commit = git_commit()
    results = []
    for n in args.peers:
        result = {**run_campaign(n, args, extra), "commit": commit}
        results.append(result)
        print("\n".join(report(result)), flush=True)
    if len(results) > 1:
        print("against N: " + "; ".join(f"N={r['peers']} deploy {r['deploy_seconds']:.1f} s, checks "
                                        f"{r['checks_seconds']:.1f} s, total {r['command_seconds']:.1f} s"
                                        for r in results))
    if args.json:
        args.json.write_text(json.dumps({"commit": commit, "results": results}, indent=2) + "\n")
    if args.svg:
        plot(results, args.svg)
    if any(r["rc"] != 0 for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
