# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: progress
type: aggregate
short_description: Say where a campaign is, one line per stage, play and check, with an ETA
description:
  - Prints one line when a campaign stage (an imported playbook of C(campaign.yml), such as build or checks)
    starts and ends, one per play, and one per check as its history is judged
    (C([checks 3/11] s4_partition_convergence ... PASS (12.4 s))), the count of declared checks coming from the
    evidence directory's C(campaign.json).
  - The ETA comes from the previous campaign's C(plays.json) (the newest under the evidence root), as the time
    its plays of the same names took.
  - A task that runs longer than O(heartbeat) seconds (image bake, cargo build, convergence polls, chaos cycles,
    async writers polled by C(async_status)) gets a line at least every O(heartbeat) seconds, from a thread this
    plugin owns and stops at the end of the run, naming the task, its hosts, its elapsed time and its last retry or
    poll.
  - At the end it prints the verdict (from C(verify summarize)) and where the report is.
  - Under ansible-runner (its stdout callback C(awx_display), or O(mode=json)) every line is one JSON object
    instead, for machines; O(mode=off) prints nothing.
version_added: 0.1.0
author: AI Memory Swarm Team (@aimemory)
options:
  mode:
    description:
      - V(text) for people, V(json) for one JSON object per line, V(off) for nothing; V(auto) is V(json) under
        ansible-runner and V(text) otherwise.
    type: str
    default: auto
    choices: [auto, text, json, 'off']
    env:
      - name: AIMEMORY_PROGRESS
    ini:
      - section: callback_progress
        key: mode
  heartbeat:
    description: Seconds without a line after which a running task is reported again.
    type: float
    default: 15
    env:
      - name: AIMEMORY_PROGRESS_HEARTBEAT
    ini:
      - section: callback_progress
        key: heartbeat
  evidence_root:
    description:
      - Where earlier campaigns' evidence is (their C(plays.json) give the ETA). Default C(evidence/) beside the
        playbook (or beside its C(playbooks/) directory).
    type: path
    env:
      - name: AIMEMORY_EVIDENCE_ROOT
    ini:
      - section: callback_progress
        key: evidence_root
"""

import json
import os
import threading
import time
from datetime import datetime

from ansible.plugins.callback import CallbackBase

try:
    import yaml
except ImportError:  # pragma: no cover (ansible-core requires PyYAML)
    yaml = None

IMPORTS = ("import_playbook", "ansible.builtin.import_playbook")
HISTORY_CHECK = ("history_check", "aimemory.swarm.history_check")


def minutes(seconds):  # type: (float) -> str
    seconds = round(max(seconds, 0))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def stage_plan(playbook_file):  # type: (str) -> list
    """[(stage, play name)] in playbook order: each imported playbook of the top-level file is a stage named after
    its import (``- name: Build`` -> build); a playbook without imports is one stage named after its file."""
    if yaml is None or not playbook_file or not os.path.isfile(playbook_file):
        return []

    def plays_of(path, stage, depth):
        try:
            with open(path) as fh:
                entries = yaml.safe_load(fh) or []
        except (OSError, yaml.YAMLError):
            return []
        out = []
        # a file that only imports one playbook (the root campaign.yml -> playbooks/campaign.yml) is no stage
        wrapper = isinstance(entries, list) and len(entries) == 1
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            target = next((entry[k] for k in IMPORTS if k in entry), None)
            if target is not None:
                sub = os.path.join(os.path.dirname(path), str(target))
                name = stage or str(entry.get("name") or os.path.splitext(os.path.basename(sub))[0])
                if depth < 4:
                    out += plays_of(sub, stage if wrapper else name.strip().lower(), depth + 1)
            else:
                out.append((stage or os.path.splitext(os.path.basename(playbook_file))[0],
                            str(entry.get("name") or "")))
        return out

    return plays_of(playbook_file, "", 0)


def previous_plays(root, exclude=""):  # type: (str, str) -> tuple
    """(campaign name, [(play name, wall seconds)]) of the newest plays.json under ``root``."""
    best = None
    try:
        names = os.listdir(root)
    except OSError:
        return "", []
    for name in names:
        path = os.path.join(root, name, "plays.json")
        if name in ("latest", exclude) or not os.path.isfile(path):
            continue
        mtime = os.path.getmtime(path)
        if best is None or mtime > best[0]:
            best = (mtime, name, path)
    if best is None:
        return "", []
    try:
        with open(best[2]) as fh:
            plays = json.load(fh).get("plays") or []
    except (OSError, ValueError, AttributeError):
        return "", []
    return best[1], [(str(p.get("name")), float(p.get("wall_seconds") or 0)) for p in plays if isinstance(p, dict)]


def _stamp(text):  # type: (object) -> float | None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "aimemory.swarm.progress"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):  # type: () -> None
        super().__init__()
        self.mode = "text"
        self.heartbeat = 15.0
        self.root = ""
        self.plan = []  # [(stage, play name)]
        self.stages = []  # stage names in order
        self.previous = ""  # the previous campaign's name
        self.expected = []  # per play of this run, its previous wall seconds (None: unknown)
        self.play_index = -1
        self.play_started = 0.0
        self.stage = ""
        self.stage_started = 0.0
        self.started = time.monotonic()
        self.started_wall = time.time()
        self.last_judged = time.monotonic()
        self.declared = []
        self.judged = 0
        self.evidence_dir = ""
        self.verdict = None
        self.task = None  # (name, started, hosts, note)
        self.last_line = time.monotonic()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread = None

    # ------------------------------------------------------------------ options, output
    def set_options(self, task_keys=None, var_options=None, direct=None):  # type: ignore[no-untyped-def]
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        mode = str(self.get_option("mode") or "auto")
        if mode == "auto":
            mode = "json" if os.environ.get("ANSIBLE_STDOUT_CALLBACK") == "awx_display" else "text"
        self.mode = mode
        self.heartbeat = max(float(self.get_option("heartbeat") or 15), 0.1)
        self.root = self.get_option("evidence_root") or ""

    def emit(self, event, text, **fields):  # type: (str, str, object) -> None
        with self._lock:
            self.last_line = time.monotonic()
            if self.mode == "off":
                return
            if self.mode == "json":
                payload = {"aimemory_progress": event, "elapsed_s": round(time.monotonic() - self.started, 1)}
                payload.update(fields)
                self._display.display(json.dumps(payload, sort_keys=True, default=str))
            else:
                self._display.display(text)

    # ------------------------------------------------------------------ where the campaign is
    def _where(self):  # type: () -> str
        if self.stage == "checks" and self.declared:
            return f"checks {self.judged}/{len(self.declared)}"
        if self.stage in self.stages:
            return f"{self.stage} {self.stages.index(self.stage) + 1}/{len(self.stages)}"
        return self.stage or "campaign"

    def _eta(self):  # type: () -> float | None
        """Seconds left by the previous campaign's play times: the rest of this play, then the plays after it."""
        if not self.previous or self.play_index < 0:
            return None
        left = 0.0
        current = self.expected[self.play_index] if self.play_index < len(self.expected) else None
        if current is not None:
            left += max(current - (time.monotonic() - self.play_started), 0.0)
        left += sum(v for v in self.expected[self.play_index + 1:] if v is not None)
        return left

    def _eta_text(self):  # type: () -> str
        eta = self._eta()
        return f"; ETA {minutes(eta)} (by {self.previous})" if eta is not None else ""

    # ------------------------------------------------------------------ playbook and plays
    def v2_playbook_on_start(self, playbook):  # type: ignore[no-untyped-def]
        path = os.path.abspath(getattr(playbook, "_file_name", "") or "")
        self.plan = stage_plan(path)
        self.stages = []
        for stage, _name in self.plan:
            if stage not in self.stages:
                self.stages.append(stage)
        base = os.path.dirname(path)
        if os.path.basename(base) == "playbooks":
            base = os.path.dirname(base)
        self.root = self.root or os.path.join(base, "evidence")
        self.previous, before = previous_plays(self.root)
        pool = {}
        for name, wall in before:
            pool.setdefault(name, []).append(wall)
        plays = [p.get_name() for p in playbook.get_plays()] if hasattr(playbook, "get_plays") else \
            [n for _s, n in self.plan]
        self.expected = [(pool.get(name) or [None]).pop(0) if pool.get(name) else None for name in plays]
        total = sum(v for v in self.expected if v is not None)
        prev = f"; the previous campaign ({self.previous}) took {minutes(total)} without its verdict play" \
            if self.previous else "; no previous campaign's plays.json: no ETA"
        self.emit("start", f"[campaign] {len(self.stages)} stage(s), {len(plays)} plays{prev}",
                  stages=self.stages, plays=len(plays), previous=self.previous or None,
                  previous_seconds=round(total, 1) if self.previous else None)
        self._start_heartbeat()

    def _stage_of(self, name):  # type: (str) -> str
        for index in range(max(self.play_index, 0), len(self.plan)):
            if self.plan[index][1] == name:
                return self.plan[index][0]
        return self.stage or (self.plan[0][0] if self.plan else "campaign")

    def _close_stage(self):  # type: () -> None
        if self.stage:
            self.emit("stage_done", f"[{self._where()}] {self.stage} done in "
                                    f"{minutes(time.monotonic() - self.stage_started)}",
                      stage=self.stage, seconds=round(time.monotonic() - self.stage_started, 1))

    def v2_playbook_on_play_start(self, play):  # type: ignore[no-untyped-def]
        name = play.get_name()
        with self._lock:
            self.play_index += 1
            self.play_started = time.monotonic()
            self.task = None
            stage = self._stage_of(name)
            if stage != self.stage:
                self._close_stage()
                self.stage, self.stage_started = stage, time.monotonic()
                self.emit("stage", f"[{self._where()}] {stage} started{self._eta_text()}", stage=stage,
                          eta_s=self._eta())
            expected = self.expected[self.play_index] if self.play_index < len(self.expected) else None
            last = f" (last time {minutes(expected)})" if expected is not None else ""
            self.emit("play", f"[{self._where()}] play: {name}{last}", stage=stage, play=name,
                      previous_s=expected)

    # ------------------------------------------------------------------ tasks, retries, polls
    def v2_playbook_on_task_start(self, task, is_conditional):  # type: ignore[no-untyped-def]
        with self._lock:
            self.task = {"name": task.get_name(), "started": time.monotonic(), "hosts": set(), "note": ""}
            self.last_line = time.monotonic()

    def v2_playbook_on_handler_task_start(self, task):  # type: ignore[no-untyped-def]
        self.v2_playbook_on_task_start(task, False)

    def v2_runner_on_start(self, host, task):  # type: ignore[no-untyped-def]
        with self._lock:
            if self.task is not None:
                self.task["hosts"].add(host.get_name())

    def v2_runner_retry(self, result):  # type: ignore[no-untyped-def]
        res = result._result
        with self._lock:
            if self.task is not None:
                self.task["note"] = (f"attempt {res.get('attempts')} of {res.get('retries') or '?'} on "
                                     f"{result._host.get_name()}")

    def v2_runner_on_async_poll(self, result):  # type: ignore[no-untyped-def]
        with self._lock:
            if self.task is not None:
                self.task["note"] = f"async job {result._result.get('ansible_job_id')} polled"

    def _start_heartbeat(self):  # type: () -> None
        if self._thread is not None or self.mode == "off":
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="aimemory-progress", daemon=True)
        self._thread.start()

    def _beat(self):  # type: () -> None
        while not self._stop.wait(min(1.0, self.heartbeat / 4)):
            with self._lock:
                task = self.task
                if task is None or time.monotonic() - self.last_line < self.heartbeat:
                    continue
                running = time.monotonic() - task["started"]
                hosts = ", ".join(sorted(task["hosts"])) or "-"
                note = f"; {task['note']}" if task["note"] else ""
                self.emit("heartbeat", f"[{self._where()}] still running: {task['name']} on {hosts} for "
                                       f"{minutes(running)}{note}{self._eta_text()}",
                          task=task["name"], hosts=sorted(task["hosts"]), running_s=round(running, 1),
                          note=task["note"] or None, eta_s=self._eta())

    def stop_heartbeat(self):  # type: () -> None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # ------------------------------------------------------------------ results
    def _verify(self, result):  # type: ignore[no-untyped-def]
        """(subcommand, evidence dir) of a ``python -m verify ...`` command task, else (None, None)."""
        cmd = result._result.get("cmd")
        if not isinstance(cmd, list) or "verify" not in cmd:
            return None, None
        at = cmd.index("verify")
        sub = cmd[at + 1] if at + 1 < len(cmd) else None
        where = cmd[cmd.index("--evidence-dir") + 1] if "--evidence-dir" in cmd[:-1] else None
        return sub, where

    def v2_runner_on_ok(self, result):  # type: ignore[no-untyped-def]
        action = getattr(result._task, "action", "")
        if action in HISTORY_CHECK:
            self._judged(result, failed=False)
            return
        sub, where = self._verify(result)
        if sub == "init" and where:
            self.evidence_dir = where
            try:
                with open(os.path.join(where, "campaign.json")) as fh:
                    self.declared = list(json.load(fh).get("declared_checks") or [])
            except (OSError, ValueError, AttributeError):
                self.declared = []
            self.emit("declared", f"[{self._where()}] {len(self.declared)} checks declared: "
                                  f"{', '.join(self.declared)}", checks=self.declared, evidence_dir=where)
        elif sub == "summarize":
            self.evidence_dir = where or self.evidence_dir
            self.verdict = {0: "GREEN", 1: "RED"}.get(result._result.get("rc"), "NO VERDICT")

    def v2_runner_on_failed(self, result, ignore_errors=False):  # type: ignore[no-untyped-def]
        if getattr(result._task, "action", "") in HISTORY_CHECK:
            self._judged(result, failed=True)

    def _judged(self, result, failed):  # type: ignore[no-untyped-def]
        res = result._result
        with self._lock:
            self.judged += 1
            check = res.get("check") or (res.get("evidence") or {}).get("check") or result._task.get_name()
            start, end = _stamp(res.get("started_at")), _stamp(res.get("ended_at"))
            # the check's own span (its history's first op to its judgement), unless that is not of this run
            seconds = end - start if start is not None and end is not None else None
            if seconds is None or not 0 <= seconds <= time.time() - self.started_wall + 1:
                seconds = time.monotonic() - max(self.last_judged, self.play_started)
            self.last_judged = time.monotonic()
            word = "ERROR" if failed else ("PASS" if res.get("pass") else "FAIL")
            why = ""
            if failed:
                why = f": {str(res.get('msg') or '')[:160]}"
            elif not res.get("pass"):
                reasons = res.get("reasons") or []
                why = f": {str(reasons[0])[:160]}" + (f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else "") \
                    if reasons else ""
            took = f" ({seconds:.1f} s)" if seconds is not None else ""
            total = len(self.declared) or "?"
            self.emit("check", f"[checks {self.judged}/{total}] {check} ... {word}{took}{why}{self._eta_text()}",
                      check=check, verdict=word, seconds=round(seconds, 1) if seconds is not None else None,
                      index=self.judged, total=len(self.declared) or None, host=result._host.get_name(),
                      reason=why[2:] or None)

    def v2_playbook_on_stats(self, stats):  # type: ignore[no-untyped-def]
        self.stop_heartbeat()
        with self._lock:
            self._close_stage()
            took = minutes(time.monotonic() - self.started)
            if self.verdict:
                report = os.path.join(self.evidence_dir, "index.html") if self.evidence_dir else "?"
                self.emit("verdict", f"[verdict] {self.verdict} in {took}: open {report}", verdict=self.verdict,
                          evidence_dir=self.evidence_dir or None, report=report)
            elif self.declared:  # a campaign that declared checks and reached no verdict
                self.emit("end", f"[campaign] ended in {took} without a verdict", verdict=None)
            else:  # a playbook that is no campaign (build_release, teardown, sweep)
                self.emit("end", f"[playbook] ended in {took}", verdict=None)
