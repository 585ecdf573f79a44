"""The progress callback (aimemory.swarm.progress): fed fake plays, tasks and results, then in a real
ansible-playbook run of a miniature campaign on localhost (text, JSON, and under ansible-runner)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from ansible import constants as C

from tests.unit.plugins.module_utils.test_checkers import s1_history

ROOT = Path(__file__).resolve().parents[4]
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def progress(tmp_path: Path, mode: str = "text", heartbeat: float = 0.3) -> tuple[Any, list[str]]:
    """The plugin as the loader makes it: its documented options registered, then set."""
    from ansible_collections.aimemory.swarm.plugins.callback import progress as plugin

    name = "aimemory.swarm.progress"
    C.config.initialize_plugin_configuration_definitions("callback", name,
                                                         yaml.safe_load(plugin.DOCUMENTATION)["options"])
    cb = plugin.CallbackModule()
    cb._load_name = name
    cb.set_options(direct={"mode": mode, "heartbeat": heartbeat, "evidence_root": str(tmp_path / "evidence")})
    lines: list[str] = []
    cb._display = SimpleNamespace(display=lambda msg, **_kw: lines.append(msg))
    return cb, lines


def named(name: str, **more: Any) -> SimpleNamespace:
    return SimpleNamespace(get_name=lambda: name, **more)


def result(action: str, res: dict[str, Any], host: str = "client-1") -> SimpleNamespace:
    return SimpleNamespace(_task=named(action, action=action), _host=named(host), _result=res)


def wait_for(lines: list[str], text: str, deadline_s: float = 10.0) -> str:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        found = [line for line in lines if text in line]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no line with {text!r} within {deadline_s} s: {lines}")


def test_the_campaign_stages_come_from_its_imports() -> None:
    from ansible_collections.aimemory.swarm.plugins.callback.progress import stage_plan

    plan = stage_plan(str(ROOT / "campaign.yml"))
    stages = list(dict.fromkeys(stage for stage, _play in plan))
    assert stages == ["validate", "build", "provision", "deploy", "checks", "verdict"]
    assert ("checks", "Run the scenarios that run from the client host (the T4 and attestation scenarios, "
                      "ship-gate phases 2 and 4)") in plan
    assert plan[-1] == ("verdict", "Judge the campaign and tear down")
    # the installed collection's aimemory.swarm.campaign has the same stages as the root file that imports it
    assert stage_plan(str(ROOT / "playbooks" / "campaign.yml")) == plan


def test_stages_checks_heartbeat_eta_and_verdict_from_fake_events(tmp_path: Path) -> None:
    previous = tmp_path / "evidence" / "last-week"
    previous.mkdir(parents=True)
    (previous / "plays.json").write_text(json.dumps({"plays": [
        {"name": "Prepare the miniature campaign", "started_at": "x", "wall_seconds": 30.0, "failed": False},
        {"name": "Run the miniature checks", "started_at": "x", "wall_seconds": 90.0, "failed": False}]}))
    evidence = tmp_path / "evidence" / "now"
    evidence.mkdir()
    (evidence / "campaign.json").write_text(json.dumps({"declared_checks": ["s4_partition_convergence", "phase2"]}))
    cb, lines = progress(tmp_path)
    cb.started_wall -= 3600  # the checks' spans below lie within the run
    playbook = SimpleNamespace(_file_name=str(PLAYBOOKS / "campaign.yml"),
                               get_plays=lambda: [named("Prepare the miniature campaign"),
                                                  named("Run the miniature checks")])
    cb.v2_playbook_on_start(playbook)
    assert "[campaign] 2 stage(s), 2 plays; the previous campaign (last-week) took 2 min 00 s" in lines[0]
    cb.v2_playbook_on_play_start(named("Prepare the miniature campaign"))
    assert lines[1] == "[prepare 1/2] prepare started; ETA 2 min 00 s (by last-week)"
    assert lines[2] == "[prepare 1/2] play: Prepare the miniature campaign (last time 30 s)"
    init = ["python", "-m", "verify", "init", "--evidence-dir", str(evidence)]
    cb.v2_runner_on_ok(result("ansible.builtin.command", {"cmd": init, "rc": 0}))
    assert "2 checks declared: s4_partition_convergence, phase2" in lines[-1]
    cb.v2_playbook_on_play_start(named("Run the miniature checks"))
    assert lines[-3].startswith("[prepare 1/2] prepare done in ")
    assert lines[-2] == "[checks 0/2] checks started; ETA 1 min 30 s (by last-week)"
    # a long task: a heartbeat at least every `heartbeat` seconds, with its retries
    cb.v2_playbook_on_task_start(named("S4 | read every peer until converged"), False)
    cb.v2_runner_on_start(named("client-1"), None)
    cb.v2_runner_retry(result("ansible.builtin.async_status", {"attempts": 3, "retries": 60}))
    beat = wait_for(lines, "still running")
    assert beat.startswith("[checks 0/2] still running: S4 | read every peer until converged on client-1 for ")
    assert "attempt 3 of 60 on client-1" in beat and "; ETA 1 min " in beat
    cb.v2_runner_on_ok(result("aimemory.swarm.history_check", {
        "check": "s4_partition_convergence", "pass": True, "reasons": [],
        "started_at": "2026-11-22T10:00:00Z", "ended_at": "2026-11-22T10:00:12.400000Z"}))
    assert [line for line in lines if "s4_partition" in line][-1].startswith(
        "[checks 1/2] s4_partition_convergence ... PASS (12.4 s)")
    cb.v2_runner_on_ok(result("aimemory.swarm.history_check", {
        "check": "phase2", "pass": False, "reasons": ["burst: 1 acknowledged write(s) missing", "figure x"],
        "started_at": "2026-11-22T10:00:00Z", "ended_at": "2026-11-22T10:00:30Z"}))
    assert [line for line in lines if "phase2 ..." in line][-1].startswith(
        "[checks 2/2] phase2 ... FAIL (30.0 s): burst: 1 acknowledged write(s) missing (+1 more)")
    summarize = ["python", "-m", "verify", "summarize", "--evidence-dir", str(evidence)]
    cb.v2_runner_on_ok(result("ansible.builtin.command", {"cmd": summarize, "rc": 1}))
    cb.v2_playbook_on_stats(None)
    assert cb._thread is None  # the heartbeat thread is stopped at the end
    assert lines[-1].startswith("[verdict] RED in ") and lines[-1].endswith(f"open {evidence}/index.html")
    count = len(lines)
    time.sleep(0.6)
    assert len(lines) == count  # nothing after the end


def test_json_mode_prints_only_json_and_off_prints_nothing(tmp_path: Path) -> None:
    for mode in ("json", "off"):
        cb, lines = progress(tmp_path, mode=mode)
        cb.v2_playbook_on_start(SimpleNamespace(_file_name=str(PLAYBOOKS / "campaign.yml"),
                                                get_plays=lambda: [named("Prepare the miniature campaign")]))
        cb.v2_playbook_on_play_start(named("Prepare the miniature campaign"))
        cb.v2_runner_on_ok(result("aimemory.swarm.history_check", {"check": "c", "pass": True, "reasons": []}))
        cb.v2_playbook_on_stats(None)
        if mode == "off":
            assert lines == []
        else:
            events = [json.loads(line) for line in lines]
            kinds = [e["aimemory_progress"] for e in events]
            assert kinds == ["start", "stage", "play", "check", "stage_done", "end"]
            assert events[3]["check"] == "c" and events[3]["verdict"] == "PASS"


def run_mini(tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    history = tmp_path / "s_demo.jsonl"
    history.write_text("".join(json.dumps(op) + "\n" for op in s1_history().ops))
    evidence = tmp_path / "evidence" / "mini"
    extra = {"evidence_dir": str(evidence), "repo_root": str(ROOT), "history": str(history),
             "long_task_seconds": 5}
    full_env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
                "AIMEMORY_PROGRESS_HEARTBEAT": "2", "AIMEMORY_EVIDENCE_ROOT": str(tmp_path / "evidence"),
                "AIMEMORY_PLAY_TIMES_FILE": str(tmp_path / "plays.json"), **(env or {})}
    full_env.pop("AIMEMORY_PROGRESS", None) if "AIMEMORY_PROGRESS" not in (env or {}) else None
    return subprocess.run([str(PLAYBOOK), str(PLAYBOOKS / "campaign.yml"), "-e", json.dumps(extra)], cwd=ROOT,
                          env=full_env, capture_output=True, text=True, timeout=300, check=False)


def test_a_real_playbook_run_prints_progress(tmp_path: Path) -> None:
    previous = tmp_path / "evidence" / "earlier"
    previous.mkdir(parents=True)
    (previous / "plays.json").write_text(json.dumps({"plays": [
        {"name": "Prepare the miniature campaign", "started_at": "x", "wall_seconds": 3.0, "failed": False},
        {"name": "Run the miniature checks", "started_at": "x", "wall_seconds": 20.0, "failed": False}]}))
    run = run_mini(tmp_path, {"AIMEMORY_PROGRESS": "text"})
    assert run.returncode == 0, run.stdout[-3000:]
    out = run.stdout
    assert "[campaign] 2 stage(s), 2 plays; the previous campaign (earlier) took 23 s" in out
    assert "[prepare 1/2] prepare started; ETA 23 s (by earlier)" in out
    assert "[prepare 1/2] play: Prepare the miniature campaign (last time 3 s)" in out
    assert "[prepare 1/2] 1 checks declared: s_demo" in out
    assert "still running: Wait like a long convergence poll on localhost for " in out
    assert "[checks 1/1] s_demo ... PASS (" in out
    assert "[campaign] ended in " in out


@pytest.mark.parametrize("how", ["AIMEMORY_PROGRESS=json", "ansible-runner"])
def test_machine_readable_progress(tmp_path: Path, how: str) -> None:
    if how == "ansible-runner":
        import ansible_runner

        history = tmp_path / "s_demo.jsonl"
        history.write_text("".join(json.dumps(op) + "\n" for op in s1_history().ops))
        extra = {"evidence_dir": str(tmp_path / "evidence" / "mini"), "repo_root": str(ROOT),
                 "history": str(history), "long_task_seconds": 3}
        env = {"ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"), "ANSIBLE_NOCOLOR": "1",
               "AIMEMORY_PROGRESS_HEARTBEAT": "2", "AIMEMORY_EVIDENCE_ROOT": str(tmp_path / "evidence"),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               "AIMEMORY_PLAY_TIMES_FILE": str(tmp_path / "plays.json")}
        (tmp_path / "runner").mkdir()
        saved = os.environ.pop("AIMEMORY_PROGRESS", None)
        try:
            runner = ansible_runner.run(private_data_dir=str(tmp_path / "runner"), project_dir=str(ROOT),
                                        playbook=str(PLAYBOOKS / "campaign.yml"), extravars=extra, envvars=env,
                                        quiet=True, timeout=300)
        finally:
            if saved is not None:
                os.environ["AIMEMORY_PROGRESS"] = saved
        assert runner.rc == 0, runner.stdout.read()[-3000:]
        out = "\n".join(e.get("stdout", "") for e in runner.events)
    else:
        run = run_mini(tmp_path, {"AIMEMORY_PROGRESS": "json"})
        assert run.returncode == 0, run.stdout[-3000:]
        out = run.stdout
    assert "[checks " not in out and "still running" not in out  # no text for people
    events = [json.loads(line) for line in out.splitlines() if line.startswith('{"aimemory_progress"')]
    kinds = [e["aimemory_progress"] for e in events]
    assert kinds[0] == "start" and "check" in kinds and kinds[-1] == "end"
    assert "heartbeat" in kinds
    check = next(e for e in events if e["aimemory_progress"] == "check")
    assert (check["check"], check["verdict"], check["index"], check["total"]) == ("s_demo", "PASS", 1, 1)


def test_a_playbook_that_is_no_campaign_ends_without_talk_of_a_verdict(tmp_path: Path) -> None:
    cb, lines = progress(tmp_path)
    playbook = SimpleNamespace(_file_name=str(PLAYBOOKS / "build_release.yml"),
                               get_plays=lambda: [named("Build an ai-memory release on the controller")])
    cb.v2_playbook_on_start(playbook)
    cb.v2_playbook_on_play_start(named("Build an ai-memory release on the controller"))
    cb.v2_playbook_on_stats(None)
    assert lines[-1].startswith("[playbook] ended in ") and "verdict" not in lines[-1]
