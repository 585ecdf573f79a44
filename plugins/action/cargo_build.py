# Copyright: (c) 2026, ai-memory swarm certification team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of aimemory.swarm.cargo_build: start the build job on the build host, watch it, print its
progress on the controller, stop it when the task ends early (interrupt, deadline)."""

from __future__ import annotations

import time
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()
POLL_S = 5.0
GRACE_S = 90.0  # beyond the build's own deadline: the job's timeout fires first


def _minutes(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s"


class ActionModule(ActionBase):
    _VALID_ARGS = frozenset(("tree", "bin", "features", "toolchain", "offline", "profile_env", "target_dir",
                             "job_dir", "cargo_home", "rustup_home", "host_triple", "timeout", "report_every",
                             "mode"))

    def _call(self, task_vars: dict[str, Any], mode: str) -> dict[str, Any]:
        args = {**self._task.args, "mode": mode}
        return self._execute_module(module_name="aimemory.swarm.cargo_build", module_args=args,
                                    task_vars=task_vars)

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        if self._play_context.check_mode or self._task.args.get("mode", "start") != "start":
            result.update(self._call(task_vars, self._task.args.get("mode", "start")))
            return result
        host = task_vars.get("inventory_hostname", "?")
        report_every = float(self._task.args.get("report_every", 15))
        deadline = time.monotonic() + float(self._task.args.get("timeout", 3600)) + GRACE_S
        started = self._call(task_vars, "start")
        if started.get("failed"):
            return {**result, **started}
        what = "attached to the running build" if started.get("attached") else "started"
        display.display(f"cargo build on {host}: {what}, {started.get('total') or '?'} crates to compile")
        last_report = time.monotonic()
        state: dict[str, Any] = started
        try:
            while True:
                state = self._call(task_vars, "status")
                if state.get("failed") or state.get("finished"):
                    break
                if time.monotonic() - last_report >= report_every:
                    last_report = time.monotonic()
                    display.display(f"cargo build on {host}: {state.get('compiled')}/{state.get('total') or '?'}"
                                    f" crates, {_minutes(state.get('elapsed_s') or 0)}"
                                    f"{', now ' + state['last'] if state.get('last') else ''}")
                if time.monotonic() > deadline:
                    self._call(task_vars, "stop")
                    return {**result, "failed": True, **state,
                            "msg": "the build outlived its deadline and was stopped"}
                time.sleep(POLL_S)
        except BaseException:
            self._call(task_vars, "stop")  # an interrupted play leaves no compiler running
            raise
        result.update(state)
        result["changed"] = True
        if state.get("failed"):
            return result
        if state.get("rc") != 0:
            result["failed"] = True
            limit = self._task.args.get("timeout", 3600)
            why = f"killed at its deadline of {limit} s" if state.get("timed_out") else f"exited {state.get('rc')}"
            errors = "\n".join(state.get("errors") or []) or state.get("log_tail", "")[-1500:]
            result["msg"] = f"cargo build {why} after {_minutes(state.get('elapsed_s') or 0)}:\n{errors}"
            return result
        display.display(f"cargo build on {host}: done, {state.get('compiled')}/{state.get('total') or '?'} crates"
                        f" in {_minutes(state.get('elapsed_s') or 0)}")
        result["seconds"] = state.get("elapsed_s")
        return result
