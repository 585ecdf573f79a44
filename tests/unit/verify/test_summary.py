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
# what the campaign pins for each (checks.yml's first play): the checker kind and w, n, the node list
DECLARED = {name: {"kind": "quorum_write", "params": {"w": 2, "n": 3, "nodes": ["node-a", "node-b", "node-c"]}}
            for name in CHECKS}


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
    assert cli.main(["init", "--evidence-dir", str(d), "--campaign-id", "c1", "--declare-json",
                     json.dumps(DECLARED)]) == 0
    hosts = [{"name": f"node-{x}", "groups": ["peers"], "public_ip": f"198.18.0.1{i}", "private_ip": f"10.250.0.1{i}"}
             for i, x in enumerate("abc")]
    facts = {"campaign_id": "c1", "provider": "local",
             "binary": {"kind": "stand-in", "version_output": "ai-memory 0.7.0 (stand-in)", "sha256": "a" * 64,
                        "faults": []},
             "topology": {"n": 3, "w": 2, "hosts": [*hosts, {"name": "client-1", "groups": ["client"],
                                                             "public_ip": "198.18.0.20",
                                                             "private_ip": "10.250.0.20"}]}}
    (tmp_path / "facts.json").write_text(json.dumps(facts))
    assert cli.main(["provenance", "--evidence-dir", str(d), "--facts", str(tmp_path / "facts.json")]) == 0
    for name in CHECKS:
        write_json_atomic(d / f"{name}.json", evidence(name, s1_history().ops))
    write_json_atomic(d / "check-errors.json", {})
    return d


def test_complete_green_set_passes(green: Path) -> None:
    doc = summarize(green)
    assert doc["overall_pass"] is True and doc["reasons"] == []
    assert cli.main(["summarize", "--evidence-dir", str(green)]) == 0
    assert cli.main(["report", "--evidence-dir", str(green)]) == 0
    assert (green.parent / "latest").resolve() == green.resolve()


FILES = ["campaign.json", "provenance.json", "check-errors.json", *(f"{c}.json" for c in CHECKS)]


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
        if doc:
            doc.pop(next(iter(sorted(doc))))
        path.write_text(json.dumps(doc or []))  # an object without a key it needs, or not an object at all
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
    pinned = {"phase2": {"kind": "federation", "params": {"w": 2, "n": 3, "nodes": P2["nodes"]}}}
    assert cli.main(["init", "--evidence-dir", str(d), "--campaign-id", "c2", "--declare-json",
                     json.dumps(pinned)]) == 0
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
                                       {"id": "never-seen", "check": "s5_*", "matches": [["x"], ["y", "z"]]},
                                       {"id": "a-race", "check": "s1_*", "matches": [["held again"]],
                                        "reproduced": "sometimes"}]}
    reasons = ["phase1-node-a: cli_recall_default_tier: `ai-memory recall x` did not return within 30 s (killed)",
               "phase1-node-a: figure assertions_passed = 14/15 = 0.9333 fails >= 1.0",
               "phase1-node-b: backup: failed {}", "s1_quorum_write: 1 acknowledged write(s) missing",
               "s1_quorum_write: figure acknowledged = 4/5 = 0.8000 fails >= 1.0"]
    reds = classify_reds(reasons, expectations)
    # the figure that fails because of the finding is the finding; other checks' figures are not
    assert reds["known"] == [{"finding": "hang", "check": "phase1-node-a", "reason": reasons[0]},
                             {"finding": "hang", "check": "phase1-node-a", "reason": reasons[1]}]
    assert reds["unexplained"] == reasons[2:]
    # a finding that always shows and did not is flagged; a race that did not show this time is only said
    assert reds["not_reproduced"] == ["never-seen"] and reds["not_seen_this_run"] == ["a-race"]
    assert classify_reds(reasons, None) == {"known": [], "unexplained": reasons, "not_reproduced": [],
                                            "not_seen_this_run": []}


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


# ---------------------------------------------------------------- the controller pins what it recomputes


def rewrite(green: Path, name: str, change: Any) -> None:
    doc = json.loads((green / name).read_text())
    change(doc)
    write_json_atomic(green / name, doc)


def test_the_declaration_is_recorded_and_the_pins_are_used(green: Path) -> None:
    campaign = json.loads((green / "campaign.json").read_text())
    assert campaign["declared_checks"] == CHECKS and campaign["checks"] == DECLARED
    entry = summarize(green)["checks"]["s1_quorum_write"]
    assert entry["status"] == "pass" and entry["pinned"] == DECLARED["s1_quorum_write"]


def test_evidence_that_rewrites_w_to_1_is_red(green: Path) -> None:
    """W rewritten to 1 (with a history whose acks are 1: valid for W=1) stayed green when the evidence judged
    itself; the pinned W=2 makes the file red, and the recomputation at W=2 names why."""
    ops = s1_history(acks=1).ops
    doc = evidence("s1_quorum_write", ops)
    params = {**S1, "w": 1}
    result = check("quorum_write", ops, params)
    assert result["valid"]  # as the forged file says
    write_json_atomic(green / "s1_quorum_write.json", {**doc, "params": params, "pass": True, "reasons": [],
                                                        "figures": result["figures"]})
    summary = summarize(green)
    entry = summary["checks"]["s1_quorum_write"]
    assert not summary["overall_pass"] and entry["status"] == "pin_mismatch"
    assert "s1_quorum_write.json claims w=1; the campaign declared w=2 (recomputed as declared)" in entry["reasons"]
    assert any("recomputed verdict disagrees" in r and "quorum_acks 1 < W=2" in r for r in entry["reasons"])
    # the same number as text is the same number (templated params)
    rewrite(green, "s1_again.json", lambda d: d["params"].update({"w": "2", "n": "3"}))
    assert summarize(green)["checks"]["s1_again"]["status"] == "pass"


def test_evidence_that_changes_its_kind_is_red(green: Path) -> None:
    rewrite(green, "s1_again.json", lambda d: d.update({"kind": "convergence"}))
    assert check("convergence", json.loads((green / "s1_again.json").read_text())["history"], S1)["valid"]
    entry = summarize(green)["checks"]["s1_again"]
    assert entry["status"] == "pin_mismatch"
    assert ("s1_again.json claims checker kind 'convergence'; the campaign declared 'quorum_write' "
            "(recomputed as declared)") in entry["reasons"]


def test_evidence_that_drops_a_node_or_a_pinned_parameter_is_red(green: Path) -> None:
    rewrite(green, "s1_again.json", lambda d: d["params"].update({"nodes": ["node-a", "node-b"], "n": 2}))
    reasons = summarize(green)["checks"]["s1_again"]["reasons"]
    assert 's1_again.json claims nodes=["node-a", "node-b"]; the campaign declared nodes=["node-a", "node-b", ' \
           '"node-c"] (recomputed as declared)' in reasons
    assert "s1_again.json claims n=2; the campaign declared n=3 (recomputed as declared)" in reasons
    rewrite(green, "s1_quorum_write.json", lambda d: d["params"].pop("w"))
    assert "s1_quorum_write.json lacks the pinned parameter w (declared 2)" in \
        summarize(green)["checks"]["s1_quorum_write"]["reasons"]


def test_a_check_without_a_pinned_declaration_is_red(tmp_path: Path, green: Path) -> None:
    campaign = json.loads((green / "campaign.json").read_text())
    del campaign["checks"]["s1_again"]
    campaign["checks"]["ghost"] = {"kind": "quorum_write", "params": {}}
    write_json_atomic(green / "campaign.json", campaign)
    summary = summarize(green)
    assert not summary["overall_pass"]
    assert summary["checks"]["s1_again"]["reasons"] == [
        "campaign.json pins no checker kind and parameters for it: the evidence would judge itself"]
    assert "campaign.json pins ghost, which it does not declare" in summary["reasons"]


def test_a_declaration_that_is_not_the_deployed_topology_is_red(green: Path) -> None:
    campaign = json.loads((green / "campaign.json").read_text())
    for decl in campaign["checks"].values():
        decl["params"]["w"] = 1
    write_json_atomic(green / "campaign.json", campaign)
    summary = summarize(green)
    assert "s1_again: the campaign declared w=1 but provenance.json records w=2 as deployed" in summary["reasons"]
    prov = json.loads((green / "provenance.json").read_text())
    prov["topology"]["hosts"] = prov["topology"]["hosts"][1:]
    write_json_atomic(green / "provenance.json", prov)
    assert any('declared nodes=["node-a", "node-b", "node-c"] but provenance.json records nodes=["node-b", '
               '"node-c"]' in r for r in summarize(green)["reasons"])


# ---------------------------------------------------------------- every file accounted for


@pytest.mark.parametrize("content", ["", "{\"plays\": [{\"name\": \"x\"", "[]", "{\"plays\": [{\"name\": 1}]}"])
def test_a_garbled_plays_json_is_red(green: Path, content: str) -> None:
    (green / "plays.json").write_text(content)
    summary = summarize(green)
    assert not summary["overall_pass"] and any(r.startswith("plays.json ") for r in summary["reasons"])
    (green / "plays.json").write_text(json.dumps({"plays": [{"name": "Checks", "started_at": "2026-11-22T10:00:00Z",
                                                              "wall_seconds": 3.5, "failed": False}]}))
    assert summarize(green)["overall_pass"]


@pytest.mark.parametrize(("content", "cause"), [("", "not valid JSON"), ("[1]", "not an object"),
                                                ("{\"s1_again\": ", "not valid JSON")])
def test_a_garbled_check_errors_json_is_red(green: Path, content: str, cause: str) -> None:
    (green / "check-errors.json").write_text(content)
    assert any(r.startswith("check-errors.json") and cause in r for r in summarize(green)["reasons"])
    (green / "check-errors.json").write_text("{}")
    assert summarize(green)["overall_pass"]


@pytest.mark.parametrize("name", ["s9_undeclared.json", "notes.txt", ".campaign-summary.json.x1y2", "extra"])
def test_any_other_file_in_the_evidence_directory_is_red(green: Path, name: str) -> None:
    if name == "extra":
        (green / name).mkdir()
    else:
        (green / name).write_text("{}")
    summary = summarize(green)
    assert not summary["overall_pass"] and summary["undeclared_files"] == [name]
    assert (f"{name} is in the evidence directory but is neither a declared check's evidence nor a known "
            "non-verdict file") in summary["reasons"]


def test_the_known_non_verdict_files_are_accounted_for(green: Path) -> None:
    assert cli.main(["summarize", "--evidence-dir", str(green)]) == 0
    assert cli.main(["report", "--evidence-dir", str(green)]) == 0
    (green / "check-errors.json").write_text("{}")
    (green / "cost.json").write_text("{}")
    summary = summarize(green)
    assert summary["overall_pass"], summary["reasons"]
    assert set(summary["non_verdict_files"]) == {"campaign.json", "provenance.json", "campaign-summary.json",
                                                 "index.html", "report-data.json", "check-errors.json",
                                                 "cost.json"}


def test_init_takes_declarations_as_json_or_a_file_and_refuses_a_mismatch(tmp_path: Path) -> None:
    decl = tmp_path / "decl.json"
    decl.write_text(json.dumps(DECLARED))
    assert cli.main(["init", "--evidence-dir", str(tmp_path / "a"), "--campaign-id", "a", "--declare-json",
                     str(decl)]) == 0
    assert json.loads((tmp_path / "a" / "campaign.json").read_text())["checks"] == DECLARED
    assert cli.main(["init", "--evidence-dir", str(tmp_path / "b"), "--campaign-id", "b", "--declare", "s1_again",
                     "--declare-json", str(decl)]) == 2
    assert cli.main(["init", "--evidence-dir", str(tmp_path / "c"), "--campaign-id", "c", "--declare-json",
                     '{"s1": {"kind": "quorum_write"}}']) == 2
    assert cli.main(["init", "--evidence-dir", str(tmp_path / "d"), "--campaign-id", "d"]) == 2
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_a_divergence_is_a_known_finding_only_when_every_field_it_names_is_one() -> None:
    from verify.summary import classify_reds

    expectations = {"known_findings": [
        {"id": "clock", "check": "*", "fields": ["metadata.version_vector"]},
        {"id": "tags", "check": "s1_*", "fields": ["tags"]},
        {"id": "priority", "check": "s1_*", "fields": ["priority"], "matches": [["differing in priority:"]]}]}
    covered = ["s1_quorum_write: 3 write(s) whose nodes hold different records, differing in metadata.version_vector, "
               "tags: s1-1 on node-a, node-b",
               "s1_quorum_write: 2 write(s) present with other content than last written, differing in priority, "
               "tags: s1-2@node-a",
               "s1_quorum_write: 4 update acknowledgement(s) held by fewer than W=2 node(s) right after the ack, the "
               "others holding other(content,metadata,tags) or other(priority,tags): s1-3 held by ['node-a']",
               "s4_partition_convergence: 20 write(s) after heal whose nodes hold different records, differing in "
               "metadata.version_vector: s4-1 on node-a"]
    uncovered = ["s1_quorum_write: 1 write(s) whose nodes hold different records, differing in content, tags: s1-4",
                 "s1_quorum_write: 1 write(s) whose nodes hold different records, differing in fields not read, "
                 "metadata.version_vector: s1-5 on node-a",
                 "s4_partition_convergence: 1 write(s) whose nodes hold different records, differing in tags: s4-2",
                 "s1_quorum_write: 2 update acknowledgement(s) held by fewer than W=2 node(s) right after the ack, "
                 "the others holding other(content,tags) or absent: s1-6 held by ['node-a']",
                 "s1_quorum_write: 1 acknowledged write(s) missing at the last read (never converged): s1-7@node-b"]
    reds = classify_reds(covered + uncovered, expectations)
    assert reds["unexplained"] == uncovered  # a finding of fields only never matches by text
    assert [(k["finding"], k["reason"]) for k in reds["known"]] == [
        ("clock", covered[0]), ("tags", covered[0]), ("priority", covered[1]), ("tags", covered[1]),
        ("priority", covered[2]), ("tags", covered[2]), ("clock", covered[3])]
    assert reds["not_reproduced"] == []
