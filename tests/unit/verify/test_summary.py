"""The verdict is red unless every declared piece of evidence is present, valid, passing and honest."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.registry import check

from tests.unit.plugins.module_utils.test_checkers import S1, s1_history
from verify import __main__ as cli
from verify.evidence import write_json_atomic
from verify.summary import summarize

CHECKS = ["s1_quorum_write", "s1_again"]


SIZED = {"replicated_observations": {"node-a": 3000, "node-b": 3000, "node-c": 3000}}


def evidence(name: str, builder_ops: list[dict[str, Any]], details: dict[str, Any] | None = None) -> dict[str, Any]:
    result = check("quorum_write", builder_ops, S1)
    return {"check": name, "kind": "quorum_write", "params": S1, "pass": result["valid"],
            "reasons": result["reasons"], "figures": result["figures"], "started_at": "2026-11-22T10:00:00Z",
            "ended_at": "2026-11-22T10:01:00Z", "history": builder_ops,
            "details": SIZED if details is None else details}


@pytest.fixture
def green(tmp_path: Path) -> Path:
    d = tmp_path / "evidence" / "c1"
    assert cli.main(["init", "--evidence-dir", str(d), "--campaign-id", "c1", "--declare", ",".join(CHECKS)]) == 0
    facts = {"campaign_id": "c1", "provider": "local",
             "binary": {"kind": "stand-in", "version_output": "ai-memory 0.7.0 (stand-in)", "sha256": "a" * 64,
                        "faults": []},
             "topology": {"n": 3, "w": 2, "hosts": [{"name": "node-a", "groups": ["peers"], "public_ip": "198.18.0.10",
                                                     "private_ip": "10.250.0.10"}]}}
    (tmp_path / "facts.json").write_text(json.dumps(facts))
    assert cli.main(["provenance", "--evidence-dir", str(d), "--facts", str(tmp_path / "facts.json")]) == 0
    for name in CHECKS:
        write_json_atomic(d / f"{name}.json", evidence(name, s1_history().ops))
    return d


def test_complete_green_set_passes(green: Path) -> None:
    doc = summarize(green)
    assert doc["overall_pass"] is True and doc["reasons"] == []
    assert cli.main(["summarize", "--evidence-dir", str(green)]) == 0
    assert cli.main(["report", "--evidence-dir", str(green)]) == 0
    assert (green.parent / "latest").resolve() == green.resolve()


FILES = ["campaign.json", "provenance.json", *(f"{c}.json" for c in CHECKS)]


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("damage", ["delete", "empty", "truncate", "schema"])
def test_any_damaged_file_turns_the_summary_red(green: Path, name: str, damage: str) -> None:
    path = green / name
    if damage == "delete":
        path.unlink()
    elif damage == "empty":
        path.write_text("")
    elif damage == "truncate":
        path.write_text(path.read_text()[: len(path.read_text()) // 2])
    else:
        doc = json.loads(path.read_text())
        doc.pop(next(iter(sorted(doc))))
        path.write_text(json.dumps(doc))
    summary = summarize(green)
    assert summary["overall_pass"] is False
    assert any(name.removesuffix(".json") in r or name in r for r in summary["reasons"]), summary["reasons"]
    assert cli.main(["summarize", "--evidence-dir", str(green)]) == 1


def test_a_claimed_pass_the_history_does_not_support_is_red(green: Path) -> None:
    lying = evidence("s1_quorum_write", s1_history(lose="node-c").ops)
    lying.update({"pass": True, "reasons": [], "figures": evidence("x", s1_history().ops)["figures"]})
    write_json_atomic(green / "s1_quorum_write.json", lying)
    summary = summarize(green)
    assert not summary["overall_pass"]
    assert summary["checks"]["s1_quorum_write"]["status"] == "recomputed_mismatch"


def test_vacuous_figure_and_empty_reason_are_red(green: Path) -> None:
    doc = json.loads((green / "s1_again.json").read_text())
    doc["figures"]["writes_present_on_every_node"].update({"numerator": 0, "denominator": 0, "value": None})
    write_json_atomic(green / "s1_again.json", doc)
    assert any("denominator 0" in r for r in summarize(green)["reasons"])
    doc = json.loads((green / "s1_quorum_write.json").read_text())
    doc["reasons"] = [""]
    write_json_atomic(green / "s1_quorum_write.json", doc)
    assert not summarize(green)["overall_pass"]


def test_nothing_declared_is_red(tmp_path: Path) -> None:
    d = tmp_path / "c2"
    assert cli.main(["init", "--evidence-dir", str(d), "--campaign-id", "c2", "--declare", ""]) == 0
    assert not summarize(d)["overall_pass"]


def test_evidence_is_never_overwritten(green: Path) -> None:
    assert cli.main(["init", "--evidence-dir", str(green), "--campaign-id", "c1", "--declare", "x"]) == 2


def test_atomic_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.json"
    write_json_atomic(target, {"old": True})

    def boom(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_json_atomic(target, {"new": True})
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_errors_of_checks_that_could_not_complete_are_reasons(green: Path) -> None:
    (green / "check-errors.json").write_text(json.dumps({"s1_again": "node-b unreachable"}))
    summary = summarize(green)
    assert not summary["overall_pass"]
    assert "s1_again: could not complete: node-b unreachable" in summary["reasons"]


def test_shipgate_phases_come_from_the_history_and_lying_keys_are_red(tmp_path: Path) -> None:
    from tests.unit.plugins.module_utils.test_phases import P2, p2_history

    d = tmp_path / "evidence" / "c2"
    assert cli.main(["init", "--evidence-dir", str(d), "--campaign-id", "c2", "--declare", "phase2"]) == 0
    ops = p2_history().ops
    result = check("federation", ops, P2)
    doc = {"check": "phase2", "kind": "federation", "params": P2, "pass": True, "reasons": [],
           "figures": result["figures"], "started_at": "2026-11-22T10:00:00Z", "ended_at": "2026-11-22T10:01:00Z",
           "history": ops, "details": {"shipgate": result["shipgate"]}, **result["shipgate"]}
    write_json_atomic(d / "phase2.json", doc)
    summary = summarize(d)
    assert summary["checks"]["phase2"]["status"] == "pass", summary["checks"]["phase2"]
    assert summary["phases"] == [{**result["shipgate"], "pass": True, "reasons": []}]
    write_json_atomic(d / "phase2.json", {**doc, "counts": {"a": 200, "b": 200, "c": 200}})
    summary = summarize(d)
    entry = summary["checks"]["phase2"]
    assert entry["status"] == "recomputed_mismatch"
    assert any("ship-gate keys ['counts'] disagree with the history" in r for r in entry["reasons"])
    assert summary["phases"][0]["pass"] is False


def test_reds_that_are_known_findings_of_the_release_are_named_and_stay_red() -> None:
    from verify.summary import classify_reds

    expectations = {"known_findings": [{"id": "hang", "check": "phase1-*",
                                        "matches": [["cli_recall_default_tier:", "did not return within"]]},
                                       {"id": "never-seen", "check": "s5_*", "matches": [["x"], ["y", "z"]]}]}
    reasons = ["phase1-node-a: cli_recall_default_tier: `ai-memory recall x` did not return within 30 s (killed)",
               "phase1-node-a: figure assertions_passed = 14/15 = 0.9333 fails >= 1.0",
               "phase1-node-b: backup: failed {}", "s1_quorum_write: 1 acknowledged write(s) missing",
               "s1_quorum_write: figure acknowledged = 4/5 = 0.8000 fails >= 1.0"]
    reds = classify_reds(reasons, expectations)
    # the figure that fails because of the finding is the finding; other checks' figures are not
    assert reds["known"] == [{"finding": "hang", "check": "phase1-node-a", "reason": reasons[0]},
                             {"finding": "hang", "check": "phase1-node-a", "reason": reasons[1]}]
    assert reds["unexplained"] == reasons[2:]
    assert reds["not_reproduced"] == ["never-seen"]
    assert classify_reds(reasons, None) == {"known": [], "unexplained": reasons, "not_reproduced": []}


def test_a_campaign_too_small_to_catch_a_one_in_a_thousand_loss_is_red(green: Path) -> None:
    """docs/checks.md: S1 is sized so that a peer losing 1 replicated write in 1000 is caught with p >= 0.95; a
    campaign whose checks verified fewer replicated writes cannot certify that."""
    assert summarize(green)["detection_power"]["power"] >= 0.95
    write_json_atomic(green / "s1_quorum_write.json", evidence("s1_quorum_write", s1_history().ops,
                                                               {"replicated_observations": {"node-a": 1000,
                                                                                            "node-b": 2990}}))
    doc = summarize(green)
    assert doc["detection_power"]["observations_per_node"] == {"node-a": 4000, "node-b": 5990, "node-c": 3000}
    write_json_atomic(green / "s1_again.json", evidence("s1_again", s1_history().ops, {}))
    doc = summarize(green)
    assert doc["overall_pass"] is False and doc["detection_power"]["power"] < 0.95
    assert any(r.startswith("detection power 0.63") for r in doc["reasons"]), doc["reasons"]
