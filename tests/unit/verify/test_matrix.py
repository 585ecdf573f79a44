"""The release matrix and the diff between two releases' campaigns, from campaign summaries as verify writes them:
every column's verdict with its known findings and failing figures, the posture, build and wall times, the README
table updated in place (other releases' rows kept), and what changed between two campaigns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from verify import __main__ as cli
from verify import matrix

FIG = {"numerator": 15, "denominator": 15, "value": 1.0, "threshold": 1.0, "comparison": ">="}


def fig(n: int, d: int) -> dict[str, Any]:
    return {"numerator": n, "denominator": d, "value": round(n / d, 6), "threshold": 1.0, "comparison": ">="}


def campaign(tmp: Path, cid: str, release: str, checks: dict[str, tuple[str, dict[str, Any]]],
             known: list[tuple[str, str]] = (), unexplained: list[str] = (), posture: str | None = None,
             cached: bool = True, not_judged: dict[str, str] | None = None) -> Path:
    d = tmp / cid
    d.mkdir(parents=True)
    summary = {
        "campaign_id": cid, "completed_at": "2026-12-02T11:00:00Z",
        "overall_pass": all(s == "pass" for s, _ in checks.values()) and not unexplained,
        "declared_checks": list(checks),
        "checks": {n: {"status": s, "figures": f, "reasons": []} for n, (s, f) in checks.items()},
        "reds": {"known": [{"finding": f, "check": c, "reason": f"{c}: ..."} for f, c in known],
                 "unexplained": list(unexplained), "not_reproduced": []},
        "posture": posture, "not_judged": not_judged or {},
        "provenance": {
            "binary": {"kind": "real", "version_output": f"ai-memory {release}", "sha256": "a" * 64},
            "expectations": {"release": release, "source": "aimemory.swarm release table",
                             "schema_version": 80 if release == "0.10.0" else 57,
                             "mcp_profiles": {"graph": ["memory_get"] + (["memory_lineage"] if release == "0.10.0"
                                                                         else [])}},
            "build": {"features": ["sal-postgres"], "profile": {"name": "fast"},
                      "toolchain": {"release": "1.97.0-nightly"}, "cached": cached, "build_seconds": 881.4,
                      "crates_compiled": 383, "crates_total": 383},
            "not_judged": not_judged or {}},
        "plays": {"plays": [{"name": "Build ai-memory on the controller", "wall_seconds": 22.0},
                            {"name": "Run the T4 scenarios from the client host", "wall_seconds": 500.0}]},
    }
    (d / "campaign-summary.json").write_text(json.dumps(summary))
    return d


def both(tmp_path: Path) -> tuple[Path, Path]:
    old = campaign(tmp_path, "m-070", "0.7.0", {
        "s1_quorum_write": ("pass", {"writes": FIG}), "attestation": ("pass", {"refused_as_required": fig(6, 6)}),
        "phase1-node-a": ("fail", {"assertions_passed": fig(14, 15)}),
        "phase1-node-b": ("fail", {"assertions_passed": fig(14, 15)})},
        known=[("default-tier-recall-hangs-offline", "phase1-node-a"),
               ("default-tier-recall-hangs-offline", "phase1-node-b")],
        posture="permissive (the release's default)")
    new = campaign(tmp_path, "m-0100", "0.10.0", {
        "s1_quorum_write": ("fail", {"writes": fig(9, 10)}),
        "attestation": ("fail", {"refused_as_required": fig(12, 12), "attested_replicas": fig(12, 18)}),
        "phase1-node-a": ("pass", {"assertions_passed": FIG}), "phase1-node-b": ("pass", {"assertions_passed": FIG})},
        known=[("signed-write-attestation-not-relayed", "attestation")],
        unexplained=["s1_quorum_write: 1 write lost on node-c"], posture="attested (the release's default)")
    return old, new


def test_a_row_holds_every_column_with_its_findings_and_failing_figures(tmp_path: Path) -> None:
    old, new = both(tmp_path)
    r = matrix.row(new, {"campaign_wall_seconds": 612.3, "build_cold_seconds": 881.4, "build_cached_seconds": 21.7})
    assert r["release"] == "0.10.0" and r["posture"] == "attested (the release's default)"
    assert r["checks"]["attestation"]["verdict"] == "red: known"
    assert r["checks"]["attestation"]["known"] == ["signed-write-attestation-not-relayed"]
    assert r["checks"]["attestation"]["figures"] == {"attested_replicas": "12/18"}
    assert r["checks"]["S1"]["verdict"] == "red" and "lost on node-c" in r["checks"]["S1"]["reason"]
    assert r["checks"]["phase 1 (\u00d73)"]["verdict"] == "pass" and r["checks"]["S5"]["verdict"] == "not run"
    assert r["verdict"] == "RED" and (r["build"]["cold_seconds"], r["build"]["cached_seconds"]) == (881.4, 21.7)
    assert r["wall_seconds"] == 612.3 and r["wall_measured"] == "around the command"
    o = matrix.row(old)
    assert not o["overall_pass"] and o["verdict"] == "RED: known findings only"
    assert o["checks"]["phase 1 (\u00d73)"]["verdict"] == "red: known"
    assert (o["build"]["cached_seconds"], o["wall_seconds"], o["wall_measured"]) == (22.0, 522.0, "sum of the plays")
    line = matrix.markdown_row(r)
    assert line.startswith("| 0.10.0 (crates.io, `sal-postgres`, 1.97.0-nightly, profile fast); posture attested")
    assert "| 14 min 41 s / 22 s | 10 min 12 s |" in line
    assert "red: known (signed-write-attestation-not-relayed), attested_replicas 12/18" in line
    assert line.count("|") == len(matrix.COLUMNS) + 6


def test_a_check_the_release_cannot_be_judged_on_says_so(tmp_path: Path) -> None:
    d = campaign(tmp_path, "m-x", "0.11.0", {"s1_quorum_write": ("pass", {"writes": FIG})},
                 not_judged={"attestation": "the release table does not say how 0.11.0 signs a write"})
    cell = matrix.row(d)["checks"]["attestation"]
    assert cell["verdict"] == "not judged" and "0.11.0" in cell["reason"]


def test_the_readme_table_gets_these_releases_rows_and_keeps_the_others(tmp_path: Path) -> None:
    old, new = both(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{matrix.BEGIN}\n| release | old header |\n|---|\n| 0.5.0 (older) | kept |\n"
                      f"| 0.7.0 (stale) | replaced |\n{matrix.END}\n\nafter\n")
    matrix.update_readme(readme, matrix.matrix([new, old]))
    text = readme.read_text()
    body = text.split(matrix.BEGIN)[1].split(matrix.END)[0].strip().splitlines()
    assert body[0] == matrix.HEADER and body[2] == "| 0.5.0 (older) | kept |"
    assert body[3].startswith("| 0.7.0 (crates.io") and body[4].startswith("| 0.10.0 (crates.io")
    assert "replaced" not in text and text.endswith("\n\nafter\n")
    plain = tmp_path / "plain.md"
    plain.write_text("no table here\n")
    with pytest.raises(ValueError, match="certification-table"):
        matrix.update_readme(plain, matrix.matrix([new]))


def test_diff_names_what_changed_between_two_releases(tmp_path: Path) -> None:
    old, new = both(tmp_path)
    d = matrix.diff(old, new)
    assert d["verdicts_changed"] == {"attestation": {"from": "pass", "to": "fail"},
                                     "phase1-node-a": {"from": "fail", "to": "pass"},
                                     "phase1-node-b": {"from": "fail", "to": "pass"},
                                     "s1_quorum_write": {"from": "pass", "to": "fail"}}
    assert d["figures_moved"]["s1_quorum_write.writes"] == {"from": "15/15", "to": "9/10", "value_from": 1.0,
                                                            "value_to": 0.9}
    assert d["known_findings_appeared"] == ["signed-write-attestation-not-relayed"]
    assert d["known_findings_gone"] == ["default-tier-recall-hangs-offline"]
    assert d["expectations_changed"]["schema_version"] == {"from": 57, "to": 80}
    assert d["mcp_tools"] == {"graph": {"added": ["memory_lineage"], "removed": []}}
    text = matrix.diff_text(d)
    assert "0.7.0 (RED: known findings only) -> 0.10.0 (RED)" in text
    assert "posture: permissive (the release's default) -> attested (the release's default)" in text
    assert "verdict attestation: pass -> fail" in text and "figure s1_quorum_write.writes: 15/15 -> 9/10" in text


def test_the_commands_write_json_markdown_and_the_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = both(tmp_path)
    runs = tmp_path / "runs.json"
    runs.write_text(json.dumps({"m-0100": {"campaign_wall_seconds": 600.0}}))
    assert cli.main(["matrix", str(old), str(new), "--runs", str(runs), "--json", str(tmp_path / "m.json"),
                     "--markdown", str(tmp_path / "m.md")]) == 0
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["schema"] == matrix.SCHEMA and [r["release"] for r in doc["rows"]] == ["0.7.0", "0.10.0"]
    assert doc["rows"][1]["wall_seconds"] == 600.0
    assert (tmp_path / "m.md").read_text().startswith(matrix.HEADER)
    # a release change that turns checks red is a regression (exit 1); --exit-zero for a report that is not a gate
    assert cli.main(["diff", str(old), str(new), "--json", str(tmp_path / "d.json")]) == 1
    assert cli.main(["diff", "--exit-zero", str(old), str(new)]) == 0
    assert "known finding appeared: signed-write-attestation-not-relayed" in capsys.readouterr().out
    assert cli.main(["matrix", str(tmp_path / "nothing")]) == 2  # no summary: a clear error, not a traceback
