"""Every subprocess has a deadline: a command past it is killed with its whole process group and reported with
its command line; and no module or module_util starts a process any other way (AST scan)."""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path

from ansible_collections.aimemory.swarm.plugins.module_utils import _process
from ansible_collections.aimemory.swarm.plugins.module_utils._process import Background, run, runner

PLUGINS = Path(__file__).resolve().parents[4] / "plugins"


def test_a_command_that_never_returns_is_killed_at_its_deadline_with_its_children(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    start = time.monotonic()
    done = run(["sh", "-c", f"sleep 300 & echo $! > {marker}; echo started; sleep 300"], timeout=0.5)
    assert time.monotonic() - start < 0.5 + 2 * _process.KILL_GRACE_S
    assert done.timed_out and done.rc is None and not done.ok
    assert done.stdout == "started\n"
    assert "did not return within 0.5 s" in done.why() and "sleep 300" in done.why()
    child = int(marker.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{child}").exists() and \
            Path(f"/proc/{child}/stat").read_text().split()[2] != "Z":
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists() or Path(f"/proc/{child}/stat").read_text().split()[2] == "Z"
    assert done.record()["timed_out"] is True and done.record()["command"].startswith("sh -c")


def test_output_exit_code_stdin_and_a_missing_binary() -> None:
    done = run(["sh", "-c", "cat; echo err >&2; exit 3"], timeout=5, stdin="hello")
    assert (done.rc, done.stdout, done.stderr, done.timed_out) == (3, "hello", "err\n", False)
    assert "exited 3: err" in done.why()
    missing = run(["/nonexistent/ai-memory", "--version"], timeout=5)
    assert missing.rc == 127 and "cannot start" in missing.stderr


def test_runner_answers_124_with_the_command_line_when_killed() -> None:
    rc, out, err = runner(0.3)(["sleep", "30"])
    assert rc == 124 and out == "" and "`sleep 30` did not return within 0.3 s" in err


def test_background_daemon_is_stopped_when_its_owner_leaves(tmp_path: Path) -> None:
    with Background(["sleep", "300"], log_path=str(tmp_path / "log"), grace=1) as daemon:
        pid = daemon.proc.pid  # type: ignore[union-attr]
        assert daemon.alive()
    assert not daemon.alive() and daemon.returncode is not None
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def _process_calls(path: Path) -> list[str]:
    """Calls that start a process without _process: subprocess.*, os.system/popen/exec*/spawn*, run_command."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            if "subprocess" in names:
                found.append(f"{path.name}:{node.lineno} imports subprocess")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
            os_spawn = owner == "os" and (attr in ("system", "popen") or attr.startswith(("exec", "spawn")))
            if attr == "run_command" or os_spawn:
                found.append(f"{path.name}:{node.lineno} calls {owner or '?'}.{attr}")
    return found


def test_no_module_starts_a_process_without_a_deadline() -> None:
    offenders = []
    for path in sorted(PLUGINS.rglob("*.py")):
        if path.name == "_process.py":
            continue
        offenders += _process_calls(path)
    assert offenders == [], "use plugins/module_utils/_process.py (run with a timeout, Background, spawn_detached)"


def test_the_scan_catches_a_direct_call(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import subprocess\nsubprocess.run(['x'])\n\ndef f(m):\n    m.run_command(['y'])\n")
    assert len(_process_calls(bad)) == 2
    assert os.path.exists(str(PLUGINS / "module_utils" / "_process.py"))
