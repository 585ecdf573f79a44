"""The release table: what a campaign expects of the binary it certifies, and which reds are known findings."""

from __future__ import annotations

import fnmatch

from ansible_collections.aimemory.swarm.plugins.module_utils._releases import RELEASES, expectations, release_of


def test_the_release_is_read_from_the_version_line() -> None:
    assert release_of("ai-memory 0.7.0") == "0.7.0"
    assert release_of("ai-memory 0.11.0-rc.1 (abc)") == "0.11.0-rc.1"
    assert release_of("garbage") == ""


def test_a_tabled_release_brings_its_values_and_findings() -> None:
    exp = expectations("ai-memory 0.7.0")
    assert exp["source"] == "aimemory.swarm release table" and exp["schema_version"] == 57
    assert {f["id"] for f in exp["known_findings"]} >= {"update-cannot-lower-priority", "delete-undone-by-replication"}


def test_an_untabled_release_runs_on_what_it_reports_with_no_finding_excused() -> None:
    exp = expectations("ai-memory 9.9.9")
    assert exp["source"] == "reported by the binary" and exp["known_findings"] == [] and exp["schema_version"] is None


def test_the_stand_in_has_the_interface_of_its_release_but_none_of_its_findings() -> None:
    """docs/standin.md: the stand-in does not imitate the real release's defects, so none of its reds may be
    excused as a known finding of the real product."""
    exp = expectations("ai-memory 0.7.0 (stand-in for the ai-memory v0.7 contract, release/v0.7.0@ff8caac8)")
    assert exp["known_findings"] == [] and exp["schema_version"] == 57 and "stand-in" in exp["source"]


def test_every_finding_is_well_formed() -> None:
    for release, table in RELEASES.items():
        for finding in table["known_findings"]:
            assert set(finding) == {"id", "check", "matches", "summary"}, (release, finding)
            assert finding["matches"] and all(isinstance(m, list) and m and all(isinstance(t, str) and t for t in m)
                                              for m in finding["matches"]), finding
            # the pattern names checks the campaign can declare
            assert any(fnmatch.fnmatch(name, finding["check"]) for name in
                       ("s1_quorum_write", "phase1-node-a", "phase4")), finding
