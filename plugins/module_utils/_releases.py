# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""What each ai-memory release is expected to do, where releases differ: one table, read by the campaign
(``python -m verify expectations``), which pins the values into every check's parameters.

A value here is an expectation about the product, read in the release's published source and confirmed on its
built binary (``tests/integration/test_differential.py`` and the certification runs); never a value a check reads
back from the binary under test and then accepts. A release missing from the table runs with what its binary
reports about itself (schema version from capabilities, MCP tools from ``tools/list``), and the evidence says
so (``expectations.source: "reported by the binary"``): such a campaign can still fail on everything else, but
not on these values.

``known_findings`` are defects of the product itself that a campaign on that release shows as red (with the
cause a reader can match): documented in README's certification table, never waived.
"""

from __future__ import annotations

import re
from typing import Any

# MCP tools per profile, as the release's `mcp --profile <p>` lists them (tools/list), memory_capabilities included
_CORE_070 = ["memory_capabilities", "memory_get", "memory_list", "memory_load_family", "memory_recall",
             "memory_search", "memory_smart_load", "memory_store"]

# A finding: ``check`` is a pattern of check names, ``matches`` alternatives of texts a red reason of it contains
# (all the texts of one alternative).
DEFAULT_TIER_OFFLINE = {
    "id": "default-tier-recall-hangs-offline",
    "check": "phase1-*",
    "matches": [["cli_recall_default_tier:", "did not return within"]],
    "summary": "`ai-memory recall` with the product's default tier (semantic) on a host without network never "
               "returns and prints nothing: it waits for the MiniLM embedding model it cannot fetch (900 s tried). "
               "The daemon degrades to keyword; the CLI does not. Configure tier = \"keyword\" on offline hosts.",
}

DELETE_UNDONE = {
    "id": "delete-undone-by-replication",
    "check": "s1_quorum_write",
    "matches": [["deleted write(s) held again"]],
    "summary": "A delete acknowledged with 200 (and held by every node right after) comes back: the push "
               "dead-letter queue replays the memory's create to a peer that had not acked it in time (0.7.0 queues "
               "every peer not yet acked when the quorum is met), and catch-up copies it back to the others. "
               "There are no tombstones (seen on 45 of 100 deletes).",
}
UPDATE_PRIORITY_KEPT = {
    "id": "update-cannot-lower-priority",
    "check": "s1_quorum_write",
    "matches": [["present with other content than last written, differing in priority:"],
                ["update acknowledgement(s) held by fewer than W=", "other(priority)"]],
    "summary": "An update that lowers a memory's priority is acknowledged with 200 (the answer shows the new "
               "priority) but peers apply it through the upsert that keeps the greater priority (GREATEST, #1629), "
               "and catch-up brings the greater one back to the node that acknowledged it: every node ends with "
               "the old priority while content, tags and metadata did change.",
}

CATCHUP_CONFIDENCE_SOURCE = {
    "id": "catch-up-rewrites-confidence-source",
    "check": "*",
    "matches": [["whose nodes hold different records, differing in confidence_source:"]],
    "summary": "A memory that reaches a peer through catch-up or the push dead-letter replay (the peer was "
               "paused, partitioned or down when it was written) is stored there with confidence_source "
               "'caller_provided' where the node that took the write has 'default': replicas of one memory "
               "disagree, permanently.",
}

RELEASES: dict[str, dict[str, Any]] = {
    "0.7.0": {
        # src/storage/migrations.rs and src/store/postgres.rs: CURRENT_SCHEMA_VERSION = 57 in the published crate
        # (the release/v0.7.0 branch tip and the v0.7 contract say 54)
        "schema_version": 57,
        "mcp_profiles": {"core": _CORE_070},
        # HTTP direct writes need no agent attestation in 0.7.0
        "http_write_attestation": False,
        # times on the wire: chrono to_rfc3339 (AutoSi digits, "+00:00"); PostgreSQL keeps microseconds
        "cross_backend_time_precision": "microsecond",
        "known_findings": [DEFAULT_TIER_OFFLINE, DELETE_UNDONE, UPDATE_PRIORITY_KEPT, CATCHUP_CONFIDENCE_SOURCE],
    },
}

_VERSION = re.compile(r"\b(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)\b")


def release_of(version_output: str) -> str:
    """The release a ``--version`` line names ("ai-memory 0.7.0 ..." -> "0.7.0"), "" when none."""
    match = _VERSION.search(version_output or "")
    return match.group(1) if match else ""


def expectations(version_output: str) -> dict[str, Any]:
    """The expectations for the binary that printed ``version_output``, with where they come from."""
    release = release_of(version_output)
    known = RELEASES.get(release)
    if known is None:
        return {"release": release, "source": "reported by the binary", "schema_version": None,
                "mcp_profiles": {}, "http_write_attestation": None, "cross_backend_time_precision": "microsecond",
                "known_findings": []}
    return {"release": release, "source": "aimemory.swarm release table", **known}
