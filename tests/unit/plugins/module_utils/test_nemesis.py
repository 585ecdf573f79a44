"""Process and clock nemeses: verified effects, idempotent heals, clear errors (fake systemctl, real /proc)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._nemesis.clock import (
    ClockSkew,
    ClockSkewError,
    dropin_text,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._nemesis.process import (
    ProcessFaultError,
    ProcessNemesis,
    proc_state,
)


class FakeSystemctl:
    """``systemctl show MainPID`` answers a real child process; ``systemctl kill`` signals it for real."""

    def __init__(self, pid: int) -> None:
        self.pid, self.calls = pid, []

    def __call__(self, argv: list[str]) -> tuple[int, str, str]:
        self.calls.append(argv)
        if argv[1] == "show":
            return 0, f"{self.pid}\n", ""
        if argv[1] == "kill":
            sig = argv[3].split("=", 1)[1]
            os.kill(self.pid, getattr(signal, sig))
            return 0, "", ""
        return 0, "", ""


@pytest.fixture
def child() -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_pause_resume_kill_are_verified_in_proc(child: subprocess.Popen[bytes]) -> None:
    fake = FakeSystemctl(child.pid)
    nemesis = ProcessNemesis(fake, "systemctl")
    paused = nemesis.apply("ai-memory.service", "pause", 5)
    assert paused["state_after"] == "T" and proc_state(child.pid) == "T"
    resumed = nemesis.apply("ai-memory.service", "resume", 5)
    assert resumed["state_after"] not in ("T", "t")
    killed = nemesis.apply("ai-memory.service", "kill", 5)
    assert killed["state_after"] in (None, "Z", "X") and killed["applied_at_ns"] > 0
    # what each fault's op records as its observation
    assert paused["observed"]["paused"] is True and paused["observed"]["pid"] == child.pid
    assert resumed["observed"]["running"] is True
    assert killed["observed"]["gone"] is True and killed["observed"]["pid"] == child.pid
    assert nemesis.apply("ai-memory.service", "kill", 5, check_mode=True)["observed"] is None
    assert ["systemctl", "kill", "--kill-whom=main", "--signal=SIGKILL", "ai-memory.service"] in fake.calls


def test_a_kill_after_a_freeze_leaves_requests_frozen_first(child: subprocess.Popen[bytes]) -> None:
    fake = FakeSystemctl(child.pid)
    killed = ProcessNemesis(fake, "systemctl").apply("ai-memory.service", "kill", 5, freeze_s=0.2)
    assert killed["state_after"] in (None, "Z", "X")
    assert killed["frozen_at_ns"] is not None and killed["applied_at_ns"] - killed["frozen_at_ns"] >= 0.2e9
    signals = [c[3] for c in fake.calls if c[1] == "kill"]
    assert signals == ["--signal=SIGSTOP", "--signal=SIGKILL"]
    with pytest.raises(ProcessFaultError, match="freeze applies to action=kill only"):
        ProcessNemesis(fake, "systemctl").apply("ai-memory.service", "pause", 5, freeze_s=0.2)


def test_a_fault_that_does_not_take_effect_fails(child: subprocess.Popen[bytes]) -> None:
    def ignoring(argv: list[str]) -> tuple[int, str, str]:  # systemctl "succeeds" but signals nothing
        return (0, f"{child.pid}\n", "") if argv[1] == "show" else (0, "", "")

    with pytest.raises(ProcessFaultError, match="stopped by SIGSTOP"):
        ProcessNemesis(ignoring, "systemctl", poll_s=0.01).apply("ai-memory.service", "pause", 0.3)
    with pytest.raises(ProcessFaultError, match="no main process"):
        ProcessNemesis(lambda argv: (0, "0\n", ""), "systemctl").apply("ai-memory.service", "kill", 1)


def test_clock_skew_dropin_is_idempotent_and_healed(tmp_path: Path) -> None:
    lib = tmp_path / "libfaketime.so.1"
    lib.write_bytes(b"")
    calls: list[list[str]] = []

    def run(argv: list[str]) -> tuple[int, str, str]:
        calls.append(argv)
        return 0, "", ""

    skew = ClockSkew(run, "systemctl", unit_dir=str(tmp_path / "units"))
    first = skew.apply("ai-memory.service", 300, str(lib), check_mode=False)
    assert first["changed"] is True
    text = Path(first["dropin"]).read_text()
    assert text == dropin_text(str(lib), 300) and "FAKETIME=+300" in text and "DONT_FAKE_MONOTONIC=1" in text
    assert calls == [["systemctl", "daemon-reload"], ["systemctl", "restart", "ai-memory.service"]]
    assert skew.apply("ai-memory.service", 300, str(lib), check_mode=False)["changed"] is False
    assert len(calls) == 2
    assert skew.heal("ai-memory.service", check_mode=True)["changed"] is True
    assert os.path.exists(first["dropin"])
    assert skew.heal("ai-memory.service", check_mode=False)["changed"] is True
    assert not os.path.exists(first["dropin"])
    assert skew.heal("ai-memory.service", check_mode=False)["changed"] is False


def test_clock_skew_without_libfaketime_is_a_clear_error(tmp_path: Path) -> None:
    skew = ClockSkew(lambda argv: (0, "", ""), "systemctl", unit_dir=str(tmp_path))
    with pytest.raises(ClockSkewError, match="libfaketime not found"):
        skew.apply("ai-memory.service", 300, str(tmp_path / "missing.so"), check_mode=False)
