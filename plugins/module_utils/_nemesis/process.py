# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Process faults on a systemd service's main process: SIGKILL, SIGSTOP (pause), SIGCONT (resume).

Each fault is verified, not assumed (ship-gate defect 13: faults that were no-ops): a kill waits until the old
main process is gone; a pause waits until the kernel reports the process stopped (``T`` in ``/proc/<pid>/stat``);
a resume until it is running again. Every wait has a deadline. ``applied_at_ns`` is when the fault was verified,
and ``observed`` what was seen (``{gone: true}`` for a kill: the old main PID no longer exists or is a zombie;
``{paused: true}``, ``{running: true}``), for the history's nemesis op.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Runner = Callable[[list[str]], "tuple[int, str, str]"]
ACTIONS = ("kill", "pause", "resume")
EFFECTS = {"kill": "gone", "pause": "paused", "resume": "running"}
SIGNALS = {"kill": "SIGKILL", "pause": "SIGSTOP", "resume": "SIGCONT"}


class ProcessFaultError(RuntimeError):
    """The fault could not be applied or verified."""


def proc_state(pid: int, proc: str = "/proc") -> str | None:
    """The kernel's one-letter state of a process (R, S, T, Z, ...), or None when it does not exist."""
    try:
        with open(f"{proc}/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


class ProcessNemesis:
    def __init__(self, run: Runner, systemctl: str, proc: str = "/proc", poll_s: float = 0.05) -> None:
        self.run, self.systemctl, self.proc, self.poll_s = run, systemctl, proc, poll_s

    def main_pid(self, unit: str) -> int:
        rc, out, err = self.run([self.systemctl, "show", "--property", "MainPID", "--value", unit])
        if rc != 0:
            raise ProcessFaultError(f"systemctl show {unit} failed: {err.strip() or out.strip()}")
        try:
            return int(out.strip() or 0)
        except ValueError as exc:
            raise ProcessFaultError(f"systemctl show {unit}: unexpected MainPID {out.strip()!r}") from exc

    def _signal(self, unit: str, action: str) -> None:
        argv = [self.systemctl, "kill", "--kill-whom=main", f"--signal={SIGNALS[action]}", unit]
        rc, out, err = self.run(argv)
        if rc != 0:
            raise ProcessFaultError(f"{' '.join(argv)} failed: {err.strip() or out.strip()}")

    def _wait(self, done: Callable[[], bool], deadline_s: float, what: str) -> None:
        stop_at = time.monotonic() + deadline_s
        while not done():
            if time.monotonic() >= stop_at:
                raise ProcessFaultError(f"{what} not observed within {deadline_s:g} s")
            time.sleep(self.poll_s)

    def apply(self, unit: str, action: str, deadline_s: float = 10.0, check_mode: bool = False,
              freeze_s: float = 0.0) -> dict[str, object]:
        """Apply the fault and verify it. ``freeze_s`` (kill only): SIGSTOP first and hold the process frozen that
        long, so the requests its clients send queue at it unanswered, then SIGKILL: the kill certainly lands
        while requests are in flight, some of them stopped anywhere inside the write path."""
        if action not in ACTIONS:
            raise ProcessFaultError(f"action must be one of {ACTIONS}, got {action!r}")
        if freeze_s and action != "kill":
            raise ProcessFaultError("freeze applies to action=kill only")
        pid = self.main_pid(unit)
        if pid <= 0:
            raise ProcessFaultError(f"{unit} has no main process to {action}")
        before = proc_state(pid, self.proc)
        if check_mode:
            return {"pid": pid, "state_before": before, "state_after": before, "applied_at_ns": time.time_ns(),
                    "frozen_at_ns": None, "observed": None}
        frozen_at = None
        if freeze_s > 0:
            self._signal(unit, "pause")
            self._wait(lambda: proc_state(pid, self.proc) in ("T", "t"), deadline_s,
                       f"{unit}'s main process {pid} stopped by SIGSTOP before the kill")
            frozen_at = time.time_ns()
            time.sleep(freeze_s)  # the fault's own duration, not a settle: requests pile up at the frozen process
        self._signal(unit, action)
        if action == "kill":
            self._wait(lambda: proc_state(pid, self.proc) in (None, "Z", "X"), deadline_s,
                       f"the end of {unit}'s main process {pid} after SIGKILL")
        elif action == "pause":
            self._wait(lambda: proc_state(pid, self.proc) in ("T", "t"), deadline_s,
                       f"{unit}'s main process {pid} stopped by SIGSTOP")
        else:
            self._wait(lambda: proc_state(pid, self.proc) not in ("T", "t"), deadline_s,
                       f"{unit}'s main process {pid} running again after SIGCONT")
        after = proc_state(pid, self.proc)
        seen = {"kill": after in (None, "Z", "X"), "pause": after in ("T", "t"), "resume": after not in ("T", "t")}
        observed = {EFFECTS[action]: seen[action], "pid": pid, "state": after,
                    "method": f"{self.proc}/{pid}/stat after {SIGNALS[action]}"}
        return {"pid": pid, "state_before": before, "state_after": after, "applied_at_ns": time.time_ns(),
                "frozen_at_ns": frozen_at, "observed": observed}
