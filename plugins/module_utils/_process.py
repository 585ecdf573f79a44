# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Every subprocess a module starts, with a deadline.

``run(argv, timeout=...)`` starts the command in its own process group, feeds it ``stdin``, collects its output
and, when the deadline passes, kills the whole group (SIGTERM, then SIGKILL after a short grace) and returns what
it printed so far with ``timed_out=True``. A command that never returns (ai-memory's default-tier ``recall`` on a
host with no network, for one) is then an error the caller records with its command line, never a hung campaign.
A test (``tests/unit/plugins/module_utils/test_process.py``) keeps every module on this path: no module or
module_util may call ``subprocess`` or ``AnsibleModule.run_command`` directly.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

KILL_GRACE_S = 3.0
OUTPUT_TAIL = 4000


@dataclass(frozen=True)
class Completed:
    """What a command did: exit code (None when it was killed at the deadline), output, and how long it ran."""

    argv: tuple[str, ...]
    rc: int | None
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float
    timeout: float

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def why(self) -> str:
        """One line saying how the command ended, for a history op or an error message."""
        if self.timed_out:
            return f"`{self.command}` did not return within {self.timeout:g} s (killed)"
        if self.rc != 0:
            tail = self.stderr.strip().splitlines()[-1:] or [""]
            return f"`{self.command}` exited {self.rc}: {tail[0][-300:]}"
        return f"`{self.command}` exited 0"

    def record(self) -> dict[str, object]:
        """The fields a history op carries about this command (never the whole output)."""
        return {"command": self.command, "rc": self.rc, "timed_out": self.timed_out,
                "seconds": round(self.seconds, 3), "timeout_s": self.timeout,
                "stderr_tail": self.stderr[-500:]}


def document(text: str) -> tuple[object, str]:
    """The JSON document a ``--json`` command printed: the whole stdout (pretty-printed over several lines or
    not), never one line of it. Returns (document, "") or (None, why not)."""
    if not text.strip():
        return None, "printed nothing on stdout"
    try:
        return json.loads(text), ""
    except ValueError as exc:
        return None, f"stdout is not one JSON document ({exc}): {text.strip()[:200]!r}"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, KILL_GRACE_S)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(argv: Sequence[str], *, timeout: float, stdin: str | bytes | None = None,
        env: Mapping[str, str] | None = None, cwd: str | None = None) -> Completed:
    """Run ``argv`` with a deadline of ``timeout`` seconds; never raises for the command's own failures.

    ``env`` replaces the environment when given (callers pass ``dict(os.environ, ...)`` to extend it). A command
    that cannot be started at all (missing binary) is returned with ``rc`` 127 and the reason in ``stderr``.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, not {timeout!r}")
    argv = tuple(str(a) for a in argv)
    data = stdin.encode() if isinstance(stdin, str) else stdin
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(env) if env else None,
                                cwd=cwd, start_new_session=True)
    except OSError as exc:
        return Completed(argv, 127, "", f"cannot start {argv[0]}: {exc.strerror or exc}", False,
                         time.monotonic() - start, timeout)
    timed_out = False
    try:
        out, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        try:  # what it printed before the kill; a grandchild that left the group cannot hold us here
            out, err = proc.communicate(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            out, err = b"", b""
    rc = None if timed_out else proc.returncode
    return Completed(argv, rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), timed_out,
                     time.monotonic() - start, timeout)


Runner = Callable[..., tuple[int, str, str]]


def runner(timeout: float, *, env: Mapping[str, str] | None = None, cwd: str | None = None) -> Runner:
    """A ``run(argv, stdin=None) -> (rc, stdout, stderr)`` callable for code written against that shape.

    A command killed at the deadline answers rc 124 (as timeout(1) does) and says so, with its command line, in
    stderr."""

    def call(argv: Sequence[str], stdin: str | bytes | None = None) -> tuple[int, str, str]:
        done = run(argv, timeout=timeout, stdin=stdin, env=env, cwd=cwd)
        if done.timed_out:
            return 124, done.stdout, f"{done.why()}\n{done.stderr[-OUTPUT_TAIL:]}"
        return int(done.rc if done.rc is not None else 1), done.stdout, done.stderr

    return call


class Background:
    """A daemon the caller owns for the length of a ``with`` block: started in its own process group, stopped on
    exit with ``stop_signal`` (SIGINT: ai-memory's graceful path), then SIGKILL after ``grace`` seconds."""

    def __init__(self, argv: Sequence[str], *, log_path: str, env: Mapping[str, str] | None = None,
                 cwd: str | None = None, stop_signal: int = signal.SIGINT, grace: float = 30.0) -> None:
        self.argv = tuple(str(a) for a in argv)
        self.log_path, self.env, self.cwd = log_path, env, cwd
        self.stop_signal, self.grace = stop_signal, grace
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    def __enter__(self) -> Background:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=dict(self.env) if self.env else None, cwd=self.cwd,
                                         start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                proc.send_signal(self.stop_signal)
                proc.wait(self.grace)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
            except ProcessLookupError:
                pass
        self.returncode = proc.poll()
        return self.returncode

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn_detached(argv: Sequence[str], *, log_path: str) -> int:
    """Start a process that outlives the calling module (a booted host of the local swarm) and return its pid.
    Its owner is whatever the caller records the pid in (the local swarm's state, which teardown, the reaper and
    the sweep read); nothing else may use this."""
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
    return proc.pid
