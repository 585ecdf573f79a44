"""The MCP tool catalogue of ai-memory 0.7.0 as its `mcp --profile <p>` lists it (tools/list, in order), and
its profiles: tool names and families observed on the published 0.7.0 binary (tests/integration/test_differential.py
compares them). The stand-in serves the tools phase 1 and the differential test call; the others are listed and
answer a tool error naming the stand-in (docs/standin.md)."""

from __future__ import annotations

FAMILIES: dict[str, tuple[str, ...]] = {
    "core": (
        "memory_store", "memory_recall", "memory_search", "memory_list", "memory_load_family", "memory_smart_load",
        "memory_get", "memory_capabilities",
    ),
    "lifecycle": (
        "memory_delete", "memory_promote", "memory_forget", "memory_update", "memory_capture_turn", "memory_gc",
    ),
    "graph": (
        "memory_get_taxonomy", "memory_entity_register", "memory_entity_get_by_alias", "memory_kg_timeline",
        "memory_kg_invalidate", "memory_kg_query", "memory_find_paths", "memory_link", "memory_get_links",
        "memory_verify", "memory_replay",
    ),
    "governance": (
        "memory_namespace_set_standard", "memory_namespace_get_standard", "memory_namespace_clear_standard",
        "memory_pending_list", "memory_pending_approve", "memory_pending_reject", "memory_subscribe",
        "memory_unsubscribe",
    ),
    "power": (
        "memory_check_duplicate", "memory_reflect", "memory_export_reflection", "memory_persona",
        "memory_persona_generate", "memory_reflection_origin", "memory_dependents_of_invalidated",
        "memory_consolidate", "memory_ingest_multistep", "memory_atomise", "memory_share",
        "memory_calibrate_confidence", "memory_expand_query", "memory_auto_tag", "memory_detect_contradiction",
        "memory_inbox", "memory_subscription_replay", "memory_subscription_dlq_list", "memory_quota_status",
        "memory_check_agent_action", "memory_rule_list", "memory_offload", "memory_deref",
    ),
    "meta": (
        "memory_recall_observations", "memory_stats", "memory_session_start", "memory_agent_register",
        "memory_agent_list",
    ),
    "archive": (
        "memory_archive_list", "memory_archive_restore", "memory_archive_purge", "memory_archive_stats",
    ),
    "other": (
        "memory_notify", "memory_list_subscriptions", "memory_skill_register", "memory_skill_list",
        "memory_skill_get", "memory_skill_resource", "memory_skill_export", "memory_skill_promote_from_reflection",
        "memory_skill_compositional_context",
    ),
}
# the order of tools/list for every profile (the registry walk); a profile lists its tools in this order
ORDER: tuple[str, ...] = (
    "memory_store", "memory_recall", "memory_recall_observations", "memory_search", "memory_list",
    "memory_load_family", "memory_smart_load", "memory_get_taxonomy", "memory_check_duplicate",
    "memory_entity_register", "memory_entity_get_by_alias", "memory_kg_timeline", "memory_kg_invalidate",
    "memory_kg_query", "memory_find_paths", "memory_delete", "memory_promote", "memory_forget", "memory_stats",
    "memory_update", "memory_get", "memory_link", "memory_get_links", "memory_verify", "memory_replay",
    "memory_reflect", "memory_export_reflection", "memory_persona", "memory_persona_generate",
    "memory_reflection_origin", "memory_dependents_of_invalidated", "memory_consolidate", "memory_ingest_multistep",
    "memory_atomise", "memory_share", "memory_calibrate_confidence", "memory_capabilities", "memory_capture_turn",
    "memory_expand_query", "memory_auto_tag", "memory_detect_contradiction", "memory_archive_list",
    "memory_archive_restore", "memory_archive_purge", "memory_archive_stats", "memory_gc", "memory_session_start",
    "memory_namespace_set_standard", "memory_namespace_get_standard", "memory_namespace_clear_standard",
    "memory_pending_list", "memory_pending_approve", "memory_pending_reject", "memory_agent_register",
    "memory_agent_list", "memory_notify", "memory_inbox", "memory_subscribe", "memory_unsubscribe",
    "memory_list_subscriptions", "memory_subscription_replay", "memory_subscription_dlq_list", "memory_quota_status",
    "memory_check_agent_action", "memory_rule_list", "memory_skill_register", "memory_skill_list",
    "memory_skill_get", "memory_skill_resource", "memory_skill_export", "memory_skill_promote_from_reflection",
    "memory_skill_compositional_context", "memory_offload", "memory_deref",
)
# named profiles (src/profile.rs): a family name alone also loads core
PROFILES: dict[str, tuple[str, ...]] = {"core": ("core",), "graph": ("core", "graph"),
                                        "admin": ("core", "lifecycle", "governance"), "power": ("core", "power"),
                                        "full": tuple(FAMILIES)}
