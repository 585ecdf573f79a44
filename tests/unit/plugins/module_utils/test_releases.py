"""The per-release table: every value in it is used by a check (the campaign pins it into the check's parameters),
its postures resolve to what the nodes need, and a release the table does not know runs on what its binary says."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils import _releases

ROOT = Path(__file__).resolve().parents[4]

# every key a release entry has -> (file, text) that pins it into a check (or, for the findings, the verdict)
USED_BY = {
    "schema_version": ("inventory/group_vars/all/scenarios.yml", "campaign_expect.schema_version"),
    "mcp_profiles": ("playbooks/tasks/phase1.yml", "campaign_expect.mcp_profiles[campaign_mcp_profile]"),
    # the release's default posture (release_expectations resolves it) is what the attestation check judges
    "http_write_attestation": ("inventory/group_vars/all/scenarios.yml",
                               "posture: \"{{ campaign_posture.posture }}\""),
    "http_write_signature": ("playbooks/checks.yml", "campaign_expect.http_write_signature"),
    "cross_backend_time_precision": ("playbooks/tasks/phase3.yml", "campaign_expect.cross_backend_time_precision"),
    "known_findings": ("verify/summary.py", '.get("known_findings")'),
    "cross_agent_scopes": ("playbooks/tasks/check_s1.yml", "campaign_expect.cross_agent_scopes"),
    # S2 reads its declaration; phase 2 and phase 4 pass the same value
    "quorum_shortfall": ("playbooks/tasks/declare_checks.yml",
                         "_shortfall: \"{{ campaign_expect.quorum_shortfall }}\""),
}


def test_every_entry_of_every_release_is_used_by_a_check() -> None:
    keys = {key for entry in _releases.RELEASES.values() for key in entry}
    assert keys == set(USED_BY), keys ^ set(USED_BY)
    for key, (path, text) in USED_BY.items():
        assert text in (ROOT / path).read_text(), (key, path)
    # the posture the attestation check is told comes from http_write_attestation (and the scheme from the table)
    for release, entry in _releases.RELEASES.items():
        expect = _releases.expectations(f"ai-memory {release}")
        assert _releases.posture(expect)["posture"] == ("attested" if entry["http_write_attestation"]
                                                        else "permissive")
    assert "campaign_posture: \"{{ _release.posture }}\"" in (
        ROOT / "playbooks/tasks/release_expectations.yml").read_text()
    assert "_scheme: \"{{ hostvars['localhost'].campaign_expect.http_write_signature }}\"" in (
        ROOT / "playbooks/checks.yml").read_text()


def test_every_release_knows_the_same_things() -> None:
    entries = list(_releases.RELEASES.values())
    assert all(set(e) == set(entries[0]) for e in entries)
    for release, entry in _releases.RELEASES.items():
        assert "core" in entry["mcp_profiles"] and "memory_capabilities" in entry["mcp_profiles"]["core"]
        assert entry["http_write_signature"] in ("ai-memory/write/v1", "ai-memory/write/v0"), release
        ids = [f["id"] for f in entry["known_findings"]]
        assert len(ids) == len(set(ids))
        for finding in entry["known_findings"]:
            allowed = {"id", "check", "matches", "fields", "summary", "reproduced"}
            assert {"id", "check", "summary"} <= set(finding) <= allowed, finding["id"]
            # matched by its texts, or by the fields in which the release's replicas differ (or both)
            assert finding.get("matches") or finding.get("fields"), finding["id"]
            assert finding.get("reproduced", "always") in ("always", "sometimes"), finding["id"]
            assert all(isinstance(alt, list) and alt for alt in finding.get("matches") or []), finding["id"]
            assert all(isinstance(f, str) and f for f in finding.get("fields") or []), finding["id"]


def test_0100_is_what_its_binary_and_source_say() -> None:
    expect = _releases.expectations("ai-memory 0.10.0")
    assert expect["source"] == "aimemory.swarm release table" and expect["release"] == "0.10.0"
    assert expect["schema_version"] == 80
    assert len(expect["mcp_profiles"]["core"]) == 8 and len(expect["mcp_profiles"]["full"]) == 101
    assert set(_releases.RELEASES["0.7.0"]["mcp_profiles"]["graph"]) < set(expect["mcp_profiles"]["graph"])
    assert expect["http_write_attestation"] is True and expect["http_write_signature"] == "ai-memory/write/v1"
    assert "signed-write-attestation-not-relayed" in {f["id"] for f in expect["known_findings"]}


@pytest.mark.parametrize(("release", "wanted", "posture", "env", "signed"), [
    ("0.10.0", "", "attested", {}, True),
    ("0.10.0", "permissive", "permissive", {"AI_MEMORY_REQUIRE_AGENT_ATTESTATION": "0"}, False),
    ("0.7.0", "", "permissive", {}, False),
    ("0.7.0", "attested", "attested", {"AI_MEMORY_REQUIRE_AGENT_ATTESTATION": "1"}, True),
])
def test_a_posture_is_what_the_nodes_run_and_a_non_default_one_says_so(
        release: str, wanted: str, posture: str, env: dict[str, str], signed: bool) -> None:
    got = _releases.posture(_releases.expectations(f"ai-memory {release}"), wanted)
    assert (got["posture"], got["env"], got["signed"], got["judged"]) == (posture, env, signed, True)
    default = _releases.default_posture(_releases.expectations(f"ai-memory {release}"))
    assert got["label"].endswith("(the release's default)") is (posture == default)
    if posture != default:
        assert f"not the release's default {default}" in got["label"] and "AI_MEMORY_REQUIRE" in got["label"]


def test_an_unknown_release_runs_on_what_its_binary_reports_and_says_so() -> None:
    expect = _releases.expectations("ai-memory 0.11.0-rc1")
    assert expect["source"] == "reported by the binary" and expect["release"] == "0.11.0-rc1"
    assert expect["schema_version"] is None and expect["http_write_signature"] is None
    got = _releases.posture(expect)
    assert got["posture"] is None and not got["judged"] and not got["signed"] and got["env"] == {}
    assert _releases.posture(expect, "permissive")["env"] == {"AI_MEMORY_REQUIRE_AGENT_ATTESTATION": "0"}
    with pytest.raises(ValueError, match="signature scheme"):
        _releases.posture(expect, "attested")
    with pytest.raises(ValueError, match="not one of"):
        _releases.posture(_releases.expectations("ai-memory 0.10.0"), "strict")


def test_the_release_is_read_from_the_version_line() -> None:
    assert _releases.release_of("ai-memory 0.7.0") == "0.7.0"
    assert _releases.release_of("ai-memory 0.11.0-rc.1 (abc)") == "0.11.0-rc.1"
    assert _releases.release_of("garbage") == ""


def test_a_tabled_release_brings_its_values_and_findings() -> None:
    exp = _releases.expectations("ai-memory 0.7.0")
    assert exp["source"] == "aimemory.swarm release table" and exp["schema_version"] == 57
    assert {f["id"] for f in exp["known_findings"]} >= {"update-cannot-lower-priority", "delete-undone-by-replication"}


def test_the_stand_in_has_the_interface_of_its_release_but_none_of_its_findings() -> None:
    """docs/standin.md: the stand-in does not imitate the real release's defects, so none of its reds may be
    excused as a known finding of the real product (whichever release it impersonates)."""
    for release in _releases.RELEASES:
        exp = _releases.expectations(f"ai-memory {release} (stand-in for the ai-memory v0.7 contract, x)")
        assert exp["known_findings"] == [] and "stand-in" in exp["source"]
        assert exp["schema_version"] == _releases.RELEASES[release]["schema_version"]
