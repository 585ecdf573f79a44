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

# MCP tools per profile, as `mcp --profile <p>` lists them (tools/list, memory_capabilities included), read on the
# built binaries of each release (the list is the release's, the order sorted)
_CORE_070 = [
    "memory_capabilities", "memory_get", "memory_list", "memory_load_family", "memory_recall", "memory_search",
    "memory_smart_load", "memory_store"]
_GRAPH_070 = [
    "memory_capabilities", "memory_entity_get_by_alias", "memory_entity_register", "memory_find_paths",
    "memory_get", "memory_get_links", "memory_get_taxonomy", "memory_kg_invalidate", "memory_kg_query",
    "memory_kg_timeline", "memory_link", "memory_list", "memory_load_family", "memory_recall", "memory_replay",
    "memory_search", "memory_smart_load", "memory_store", "memory_verify"]
_ADMIN_070 = [
    "memory_capabilities", "memory_capture_turn", "memory_delete", "memory_forget", "memory_gc", "memory_get",
    "memory_list", "memory_load_family", "memory_namespace_clear_standard", "memory_namespace_get_standard",
    "memory_namespace_set_standard", "memory_pending_approve", "memory_pending_list", "memory_pending_reject",
    "memory_promote", "memory_recall", "memory_search", "memory_smart_load", "memory_store", "memory_subscribe",
    "memory_unsubscribe", "memory_update"]
_POWER_070 = [
    "memory_atomise", "memory_auto_tag", "memory_calibrate_confidence", "memory_capabilities",
    "memory_check_agent_action", "memory_check_duplicate", "memory_consolidate",
    "memory_dependents_of_invalidated", "memory_deref", "memory_detect_contradiction", "memory_expand_query",
    "memory_export_reflection", "memory_get", "memory_inbox", "memory_ingest_multistep", "memory_list",
    "memory_load_family", "memory_offload", "memory_persona", "memory_persona_generate", "memory_quota_status",
    "memory_recall", "memory_reflect", "memory_reflection_origin", "memory_rule_list", "memory_search",
    "memory_share", "memory_smart_load", "memory_store", "memory_subscription_dlq_list",
    "memory_subscription_replay"]
_FULL_070 = [
    "memory_agent_list", "memory_agent_register", "memory_archive_list", "memory_archive_purge",
    "memory_archive_restore", "memory_archive_stats", "memory_atomise", "memory_auto_tag",
    "memory_calibrate_confidence", "memory_capabilities", "memory_capture_turn", "memory_check_agent_action",
    "memory_check_duplicate", "memory_consolidate", "memory_delete", "memory_dependents_of_invalidated",
    "memory_deref", "memory_detect_contradiction", "memory_entity_get_by_alias", "memory_entity_register",
    "memory_expand_query", "memory_export_reflection", "memory_find_paths", "memory_forget", "memory_gc",
    "memory_get", "memory_get_links", "memory_get_taxonomy", "memory_inbox", "memory_ingest_multistep",
    "memory_kg_invalidate", "memory_kg_query", "memory_kg_timeline", "memory_link", "memory_list",
    "memory_list_subscriptions", "memory_load_family", "memory_namespace_clear_standard",
    "memory_namespace_get_standard", "memory_namespace_set_standard", "memory_notify", "memory_offload",
    "memory_pending_approve", "memory_pending_list", "memory_pending_reject", "memory_persona",
    "memory_persona_generate", "memory_promote", "memory_quota_status", "memory_recall",
    "memory_recall_observations", "memory_reflect", "memory_reflection_origin", "memory_replay",
    "memory_rule_list", "memory_search", "memory_session_start", "memory_share",
    "memory_skill_compositional_context", "memory_skill_export", "memory_skill_get", "memory_skill_list",
    "memory_skill_promote_from_reflection", "memory_skill_register", "memory_skill_resource",
    "memory_smart_load", "memory_stats", "memory_store", "memory_subscribe", "memory_subscription_dlq_list",
    "memory_subscription_replay", "memory_unsubscribe", "memory_update", "memory_verify"]
_CORE_0100_ADDED: list[str] = []
_GRAPH_0100_ADDED = [
    "memory_lineage"]
_ADMIN_0100_ADDED: list[str] = []
_POWER_0100_ADDED = [
    "memory_action_add_edge", "memory_action_create", "memory_action_edges", "memory_action_frontier",
    "memory_action_get", "memory_action_list", "memory_action_next", "memory_action_transition",
    "memory_checkpoint_create", "memory_checkpoint_query", "memory_checkpoint_resolve",
    "memory_checkpoint_verify", "memory_lease_acquire", "memory_lease_get", "memory_lease_release",
    "memory_lease_renew", "memory_routine_create", "memory_routine_freeze", "memory_routine_list",
    "memory_routine_run", "memory_routine_status", "memory_signal_ack", "memory_signal_inbox",
    "memory_signal_read", "memory_signal_send", "memory_signal_thread"]
_FULL_0100_ADDED = [
    "memory_action_add_edge", "memory_action_create", "memory_action_edges", "memory_action_frontier",
    "memory_action_get", "memory_action_list", "memory_action_next", "memory_action_transition",
    "memory_checkpoint_create", "memory_checkpoint_query", "memory_checkpoint_resolve",
    "memory_checkpoint_verify", "memory_lease_acquire", "memory_lease_get", "memory_lease_release",
    "memory_lease_renew", "memory_lineage", "memory_routine_create", "memory_routine_freeze",
    "memory_routine_list", "memory_routine_run", "memory_routine_status", "memory_signal_ack",
    "memory_signal_inbox", "memory_signal_read", "memory_signal_send", "memory_signal_thread"]

# A finding: ``check`` is a pattern of check names, ``matches`` alternatives of texts a red reason of it contains
# (all the texts of one alternative); ``reproduced``: "always" (every campaign that runs its check shows it, the
# default: a campaign that does not is flagged not_reproduced) or "sometimes" (a race: a campaign may miss it).
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
    # a race between the delete and the dead-letter replay: 45 of 100 deletes in one campaign, none in another
    "reproduced": "sometimes",
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

ATTESTATION_NOT_RELAYED = {
    "id": "signed-write-attestation-not-relayed",
    "check": "attestation",
    "matches": [["signed_body_only through", "the attestation did not replicate",
                 "the signature was sent in the body"]],
    "summary": "A write signed as the HTTP API documents it (`signature` and `created_at` in the body of "
               "POST /api/v1/memories) is verified by the node that takes it and stamped "
               "metadata.attest_level = \"agent_attested\" there, but the node does not relay the signature to its "
               "quorum peers (the sender-side emit of metadata.write_signature is not in the release), so every "
               "peer re-stamps its replica \"claimed\" and the replicas disagree about who wrote the memory, for "
               "good: catch-up keeps the receiver's level. A client that also copies the signature into "
               "metadata.write_signature gets \"agent_attested\" on every node whose binding holds the key.",
}

# 0.10.0 (read in its source, seen in the campaigns of 2026-12-02). ``fields``: the fields in which the release's
# replicas are known to differ; a divergence reason naming only such fields is these findings (verify/summary.py)
VERSION_VECTOR_WRITER_ONLY = {
    "id": "version-vector-on-the-writer-only",
    "check": "*",
    "fields": ["metadata.version_vector"],
    "summary": "Every memory's per-memory vector clock (metadata.version_vector, #1757) is stamped only on the node "
               "that took the write: db::insert stamps a clone of the metadata after the quorum fan-out copy was "
               "taken, and the receive paths must not stamp (src/storage/mod.rs), so a peer that received the "
               "memory through the fan-out holds it without the clock (one that got it through catch-up merges the "
               "writer's clock in): the replicas of every memory disagree in its metadata, although "
               "src/models/crdt_merge.rs says the clock must join by per-peer max.",
}
UPDATE_TAGS_UNIONED = {
    "id": "update-cannot-remove-tags-on-peers",
    "check": "s1_quorum_write",
    "fields": ["tags"],
    "summary": "An update (PUT) that removes tags is acknowledged with 200 and the node that took it holds the new "
               "tags, but its peers merge the update into their replica with the CRDT rule 'tags union' "
               "(src/models/crdt_merge.rs merge_tags), so they keep the removed tags for good: replicas of the "
               "memory disagree in tags (the leader ['delta'], its peers ['alpha', 'beta', 'gamma', 'delta']).",
}
UPDATE_DROPS_SERVER_METADATA = {
    "id": "update-rewrites-server-metadata-on-the-leader",
    "check": "s1_quorum_write",
    "fields": ["metadata.attest_level", "metadata.kind_provenance", "metadata.write_signature"],
    "summary": "An update (PUT) with client metadata replaces the metadata of the memory on the node that takes it, "
               "dropping the keys the server stamped at creation (attest_level, kind_provenance, write_signature, "
               "version_vector), while its peers deep-merge the update's metadata into theirs and keep them: after "
               "an update the replicas disagree in who wrote the memory and how it was attested.",
}
DELETE_UNDONE_0100 = {
    **DELETE_UNDONE,
    "reproduced": "sometimes",
    "summary": "A delete acknowledged with 200 comes back: at S1's last read (after phases 2 and 4 restarted and "
               "partitioned nodes) 102 (memory, node) pairs of S1's 100 deletes were held again in the campaign of "
               "2026-12-02, although 0.10.0 keeps tombstones (src/handlers/federation_receive.rs); the path that "
               "brings them back is not traced yet (0.7.0's is the push dead-letter replay).",
}
UPDATE_PRIORITY_KEPT_0100 = {
    **UPDATE_PRIORITY_KEPT,
    "fields": ["priority"],
    "summary": (UPDATE_PRIORITY_KEPT["summary"] + " 0.10.0: the same upserts (src/storage/mod.rs priority = "
                "MAX(memories.priority, excluded.priority), src/store/postgres.rs GREATEST)."),
}
CATCHUP_CONFIDENCE_SOURCE_0100 = {
    **CATCHUP_CONFIDENCE_SOURCE,
    "fields": ["confidence_source"],
}

# How a node answers a write it committed locally but could not replicate to W nodes (both keep the local write):
# ``status``, ``retry_after`` (the header, None: not required), the body's exact ``keys``, the ``marker`` values
# that say "quorum not met", and the key holding the acks counted (local commit included)
SHORTFALL_503 = {"status": 503, "retry_after": "2", "keys": ["error", "got", "needed", "reason"],
                 "marker": {"error": "quorum_not_met"}, "acks_key": "got", "text": "503 quorum_not_met"}
SHORTFALL_202 = {"status": 202, "retry_after": None, "keys": ["acks", "durability", "needed", "quorum_met", "reason"],
                 "marker": {"quorum_met": False, "durability": "local"}, "acks_key": "acks",
                 "text": "202 quorum_met=false durability=local"}

# the environment variable of the write-attestation posture (0.7: "1" requires it; 0.9+: tri-state, "0" opts out)
ATTESTATION_ENV = "AI_MEMORY_REQUIRE_AGENT_ATTESTATION"
POSTURES = ("attested", "permissive")

RELEASES: dict[str, dict[str, Any]] = {
    "0.7.0": {
        # src/storage/migrations.rs and src/store/postgres.rs: CURRENT_SCHEMA_VERSION = 57 in the published crate
        # (the release/v0.7.0 branch tip and the v0.7 contract say 54)
        "schema_version": 57,
        "mcp_profiles": {"core": _CORE_070, "graph": _GRAPH_070, "admin": _ADMIN_070, "power": _POWER_070,
                         "full": _FULL_070},
        # HTTP direct writes need no agent attestation by default in 0.7.0 (AI_MEMORY_REQUIRE_AGENT_ATTESTATION=1
        # requires it on every surface); a signed write is verified (src/identity/attest.rs, handlers/create.rs)
        "http_write_attestation": False,
        # src/identity/sign.rs canonical_cbor_write: the six fields in a BTreeMap (lexical keys), no domain tag
        "http_write_signature": "ai-memory/write/v0",
        # times on the wire: chrono to_rfc3339 (AutoSi digits, "+00:00"); PostgreSQL keeps microseconds
        "cross_backend_time_precision": "microsecond",
        # scopes of another agent's memory a reader sees (src/storage/mod.rs is_visible: every non-private scope)
        "cross_agent_scopes": ["team", "unit", "org", "collective"],
        # the v0.7 contract §3.7 and the release's handlers: 503, Retry-After: 2, {error, got, needed, reason}
        "quorum_shortfall": SHORTFALL_503,
        "known_findings": [DEFAULT_TIER_OFFLINE, DELETE_UNDONE, UPDATE_PRIORITY_KEPT, CATCHUP_CONFIDENCE_SOURCE],
    },
    "0.10.0": {
        # src/storage/migrations.rs: CURRENT_SCHEMA_VERSION = 80 (S5 reads 80 from the PostgreSQL-backed node)
        "schema_version": 80,
        "mcp_profiles": {"core": _CORE_070 + _CORE_0100_ADDED, "graph": sorted(_GRAPH_070 + _GRAPH_0100_ADDED),
                         "admin": _ADMIN_070 + _ADMIN_0100_ADDED, "power": sorted(_POWER_070 + _POWER_0100_ADDED),
                         "full": sorted(_FULL_070 + _FULL_0100_ADDED)},
        # src/identity/attest.rs require_agent_attestation_for (#1985): with the env unset, POST /api/v1/memories
        # and /memories/bulk refuse an unsigned write (403 ATTESTATION_FAILED); MCP and CLI stay permissive;
        # AI_MEMORY_REQUIRE_AGENT_ATTESTATION=0 is the permissive posture everywhere
        "http_write_attestation": True,
        # src/identity/sign.rs canonical_cbor_write (#1931): RFC 8949 deterministic map with "_dst" =
        # "ai-memory/write/v1"; handlers/federation_receive.rs re-verifies metadata.write_signature on a peer
        "http_write_signature": "ai-memory/write/v1",
        "cross_backend_time_precision": "microsecond",
        # src/visibility.rs (#1921, 0.9.0): team/unit/org are visible only within the reader's namespace subtree
        # (its agent id is its namespace prefix), private to the owner; only collective is seen across agents
        "cross_agent_scopes": ["collective"],
        # src/handlers/parity.rs under_replicated_response (v0.8.1 W3): the local write is durable, so 202 Accepted
        # with {quorum_met: false, acks, needed, reason, durability: "local"}, no Retry-After
        "quorum_shortfall": SHORTFALL_202,
        "known_findings": [DEFAULT_TIER_OFFLINE, ATTESTATION_NOT_RELAYED, VERSION_VECTOR_WRITER_ONLY,
                           CATCHUP_CONFIDENCE_SOURCE_0100, UPDATE_PRIORITY_KEPT_0100, UPDATE_TAGS_UNIONED,
                           UPDATE_DROPS_SERVER_METADATA, DELETE_UNDONE_0100],
    },
}

_VERSION = re.compile(r"\b(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)\b")


def release_of(version_output: str) -> str:
    """The release a ``--version`` line names ("ai-memory 0.7.0 ..." -> "0.7.0"), "" when none."""
    match = _VERSION.search(version_output or "")
    return match.group(1) if match else ""


# how the stand-in's --version names itself (standin/ai_memory_standin/cli.py)
STANDIN_MARK = "(stand-in for "


def expectations(version_output: str) -> dict[str, Any]:
    """The expectations for the binary that printed ``version_output``, with where they come from."""
    release = release_of(version_output)
    known = RELEASES.get(release)
    if known is None:
        return {"release": release, "source": "reported by the binary", "schema_version": None,
                "mcp_profiles": {}, "http_write_attestation": None, "http_write_signature": None,
                "cross_backend_time_precision": "microsecond", "cross_agent_scopes": None,
                "quorum_shortfall": None, "known_findings": []}
    if STANDIN_MARK in version_output:
        # the stand-in speaks the release's interface but does not imitate its findings (docs/standin.md): a red
        # of a stand-in campaign is never excused as a known finding of the real product
        return {"release": release, "source": "aimemory.swarm release table (stand-in: no known findings)",
                **known, "known_findings": []}
    return {"release": release, "source": "aimemory.swarm release table", **known}


def default_posture(expect: dict[str, Any]) -> str | None:
    """The write-attestation posture the release runs in when nobody sets its variable (None: not known)."""
    required = expect.get("http_write_attestation")
    return None if required is None else ("attested" if required else "permissive")


def posture(expect: dict[str, Any], wanted: str = "") -> dict[str, Any]:
    """The posture a campaign runs (``wanted``, or the release's default when empty) and what makes the nodes run
    it: ``env`` (the variable, only when the posture is not the release's default), ``signed`` (whether the
    workloads sign their writes: in the attested posture), ``judged`` (whether the attestation scenario can run:
    the release's signature scheme is known), ``label`` for the reports."""
    default = default_posture(expect)
    chosen = wanted or default
    if chosen is not None and chosen not in POSTURES:
        raise ValueError(f"posture {chosen!r} is not one of {', '.join(POSTURES)}")
    if chosen is None:
        return {"posture": None, "default": None, "env": {}, "signed": False, "judged": False,
                "label": "release default (not known for an unknown release)"}
    scheme = expect.get("http_write_signature")
    if chosen == "attested" and not scheme:
        raise ValueError(f"the attested posture needs the release's signature scheme, which the release table does "
                         f"not know for {expect.get('release') or 'this binary'}")
    env = {} if chosen == default else {ATTESTATION_ENV: "1" if chosen == "attested" else "0"}
    if chosen == default:
        label = f"{chosen} (the release's default)"
    else:
        label = f"{chosen} ({ATTESTATION_ENV}={env[ATTESTATION_ENV]}, not the release's default {default})"
    return {"posture": chosen, "default": default, "env": env, "signed": chosen == "attested",
            "judged": bool(scheme), "label": label}
