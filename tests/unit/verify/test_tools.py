"""The evidence tools: ``verify diff`` (regressions between two campaigns), ``verify import-shipgate`` (the
ship-gate harness's artifacts, in the spec's shapes, judged by this project's rules) and ``verify soak``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.unit.verify.campaign_builder import LATENCIES, build
from verify import __main__ as cli
from verify import shipgate

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "shipgate"


def judged(tmp_path: Path, name: str, **kwargs: object) -> Path:
    d = build(tmp_path, name, **kwargs)  # type: ignore[arg-type]
    cli.main(["summarize", "--evidence-dir", str(d)])
    return d


# ---------------------------------------------------------------------------------------------- diff


def test_diff_of_a_campaign_with_itself_has_no_regression(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = judged(tmp_path, "a"), judged(tmp_path, "b")
    assert cli.main(["diff", str(a), str(b)]) == 0
    assert "RESULT: no regression" in capsys.readouterr().out


def test_diff_names_the_verdict_and_the_checks_that_turned_red(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    green, red = judged(tmp_path, "green"), judged(tmp_path, "red", red=True)
    out_json, out_html = tmp_path / "diff.json", tmp_path / "diff.html"
    assert cli.main(["diff", str(green), str(red), "--json", str(out_json), "--html", str(out_html)]) == 1
    text = capsys.readouterr().out
    assert "REGRESSION   verdict GREEN -> RED" in text
    for check in ("s4_partition_convergence", "phase2", "phase4"):
        assert f"REGRESSION   {check}: status pass -> fail" in text
    assert "REGRESSION   s4_partition_convergence: writes never seen everywhere 0 -> 1" in text
    assert "REGRESSION   phase4: bound partition_minority 1 -> 0.5  (2/2 -> 1/2)" in text
    result = json.loads(out_json.read_text())
    assert result["regressions"] == sum(1 for c in result["changes"] if c["kind"] == "regression") >= 6
    assert 'id="diff"' in out_html.read_text() and "<script" not in out_html.read_text()
    # and the other way round it is an improvement, not a regression
    assert cli.main(["diff", str(red), str(green)]) == 0
    assert "IMPROVEMENT  verdict RED -> GREEN" in capsys.readouterr().out


def test_diff_flags_latency_beyond_the_tolerance_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = judged(tmp_path, "base")
    slower = judged(tmp_path, "slower", latencies=[ms * 3 for ms in LATENCIES])  # p99 120 -> 360 ms
    noisy = judged(tmp_path, "noisy", latencies=[ms + 10 for ms in LATENCIES])  # p99 +10 ms: under the slack
    assert cli.main(["diff", str(base), str(slower)]) == 1
    assert "REGRESSION   s4_partition_convergence: latency p99 ms 120 -> 360" in capsys.readouterr().out
    assert cli.main(["diff", str(base), str(noisy)]) == 0
    capsys.readouterr()
    assert cli.main(["diff", str(base), str(slower), "--tolerance", "3"]) == 0


def test_diff_as_a_section_of_the_report(tmp_path: Path) -> None:
    green, red = judged(tmp_path, "green"), judged(tmp_path, "red", red=True)
    assert cli.main(["report", "--evidence-dir", str(red), "--against", str(green)]) == 0
    page = (red / "index.html").read_text()
    assert 'id="diff" data-regressions="' in page and "Changes since green" in page
    assert page.index('id="red-causes"') < page.index('id="diff"') < page.index('id="checks"')


def test_diff_refuses_what_is_not_a_campaign(tmp_path: Path) -> None:
    assert cli.main(["diff", str(tmp_path), str(judged(tmp_path, "b"))]) == 2


# ---------------------------------------------------------------------------------------------- import-shipgate

RUNS = {  # fixture: (our verdict, the harness's, a reason ours must give)
    "ship-gate-v0.6.3-rc1-r2": (True, True, ""),
    "soak-v0.6.0-r84": (False, True, "phase1-node-a.json is missing"),
    "v0.6.0.0-final-r13": (False, True, "phase2.json is empty (0 bytes)"),
    "v0.6.0.0-final-r16": (False, True, "phase4.json is not JSON"),
    "v0.6.0.0-final-r14": (False, False, "acknowledged writes not counted on every node: {'b': 166, 'c': 164}"),
    "v0.6.0.0-final-r24": (False, False, "partition_minority: bound 0.2 < 1.0"),
    "timed-out-classes": (False, True, "convergence_by_fault is None"),
    "v0.6.0.0-final-r18": (False, True, "bound 6.286 > 1 is impossible"),
}


@pytest.mark.parametrize("run", sorted(RUNS))
def test_shipgate_runs_judged_by_this_projects_rules(run: str, capsys: pytest.CaptureFixture[str]) -> None:
    ours, harness, reason = RUNS[run]
    result = shipgate.judge_run(FIXTURES / run)
    assert (result["pass"], result["harness_overall_pass"]) == (ours, harness), result["reasons"]
    assert result["disagrees"] == (harness and not ours)
    if reason:
        assert any(reason in r for r in result["reasons"]), result["reasons"]
    assert cli.main(["import-shipgate", str(FIXTURES / run)]) == (0 if ours else 1)
    out = capsys.readouterr().out
    assert ("the harness said PASS; by this project's rules: FAIL" in out) == result["disagrees"]
    assert out.rstrip().splitlines()[-1].startswith(f"VERDICT {'PASS' if ours else 'FAIL'}")
    assert "unverifiable: no provenance" in out  # never a silent PASS: what could not be judged is said


@pytest.mark.parametrize("phase", shipgate.PHASE_FILES)
@pytest.mark.parametrize("damage", ["missing", "empty"])
def test_a_missing_or_empty_phase_file_is_fail_where_the_harness_said_pass(tmp_path: Path, phase: str,
                                                                           damage: str) -> None:
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "ship-gate-v0.6.3-rc1-r2", run)
    if damage == "missing":
        (run / phase).unlink()
    else:
        (run / phase).write_text("")
    summary = json.loads((run / "campaign-summary.json").read_text())
    summary["phases"] = [p for p in summary["phases"] if not (  # as the harness's aggregator would have it
        p["phase"] == int(phase[5]) and (p["phase"] != 1 or p["host"].endswith(phase[-6])))]
    (run / "campaign-summary.json").write_text(json.dumps(summary))
    result = shipgate.judge_run(run)
    assert result["harness_overall_pass"] is True and result["pass"] is False and result["disagrees"]
    assert result["phases"][phase]["status"] == damage


def test_declared_fault_classes_must_all_have_a_result() -> None:
    run = FIXTURES / "ship-gate-v0.6.3-rc1-r2"
    assert shipgate.judge_run(run, ["kill_primary_mid_write"])["pass"] is True
    result = shipgate.judge_run(run, ["kill_primary_mid_write", "partition_minority"])
    assert result["pass"] is False
    assert any("partition_minority: declared but has no result" in r for r in result["reasons"])


# ---------------------------------------------------------------------------------------------- soak


def test_soak_of_green_runs_is_green(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = [judged(tmp_path, f"r{i}") for i in range(2)]
    out = tmp_path / "soak.json"
    assert cli.main(["soak", *map(str, runs), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (result["green"], result["runs"], result["flake_rate"]) == (True, 2, 0.0)
    assert result["per_check"]["phase4"] == {"passed": 2, "runs": 2, "pass_rate": 1.0}
    assert result["wall_seconds"]["p50"] == 63.5 and result["write_latency_ms"]["pooled"]["count"] > 0
    assert "SOAK GREEN: every run green" in capsys.readouterr().out


def test_soak_counts_a_run_without_evidence_as_a_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    green, red = judged(tmp_path, "green"), judged(tmp_path, "red", red=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "soak.json"
    args = [str(green), str(red), str(empty), str(tmp_path / "never-written"),
            str(FIXTURES / "ship-gate-v0.6.3-rc1-r2"), str(FIXTURES / "soak-v0.6.0-r84")]
    assert cli.main(["soak", *args, "--json", str(out)]) == 1
    result = json.loads(out.read_text())
    assert (result["runs"], result["green_runs"], result["no_evidence_runs"]) == (6, 2, 2)
    assert result["flake_rate"] == round(4 / 6, 6)
    # phase2 passed in the green campaign and the green ship-gate run
    assert result["per_check"]["phase2"] == {"passed": 2, "runs": 6, "pass_rate": round(2 / 6, 6)}
    assert "phase2" in result["flaky_checks"]
    text = capsys.readouterr().out
    assert "SOAK RED: 4 of 6 runs red" in text and "no evidence: the directory is missing or empty" in text
    # a stored summary that claims green does not make a run green
    summary = json.loads((red / "campaign-summary.json").read_text())
    (red / "campaign-summary.json").write_text(json.dumps({**summary, "overall_pass": True, "reasons": []}))
    assert cli.main(["soak", str(red)]) == 1
    assert "its campaign-summary.json says green; judged again from the evidence: red" in capsys.readouterr().out


def test_diff_of_stored_summaries_and_exit_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A directory holding only a campaign-summary.json (kept without its evidence) is read as stored and said so;
    --exit-zero makes the diff a report rather than a gate (for release matrices)."""
    green, red = judged(tmp_path, "green"), judged(tmp_path, "red", red=True)
    kept = tmp_path / "kept"
    kept.mkdir()
    shutil.copy(green / "campaign-summary.json", kept / "campaign-summary.json")
    assert cli.main(["diff", str(kept), str(red)]) == 1
    text = capsys.readouterr().out
    assert f"(only {kept}/campaign-summary.json: read as stored, not judged again)" in text
    assert "REGRESSION   verdict GREEN -> RED" in text
    assert cli.main(["diff", str(kept), str(red), "--exit-zero"]) == 0
