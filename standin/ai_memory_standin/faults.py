"""Fault switches: off by default, on only through AI_MEMORY_STANDIN_FAULTS (comma-separated names)."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

FAULTS: dict[str, str] = {
    "drop_fanout": "post-quorum fan-out silently abandoned, never retried, hidden from catch-up (ship-gate r14)",
    "phantom_ack": "counts a peer acknowledgement that never arrived",
    "ack_without_quorum": "answers 201 when the write quorum was not met",
    "mtls_accept_any": "accepts client certificates that are not on the allowlist",
    "no_catchup": "never runs catch-up and never retries failed pushes",
    "migrate_drop_field": "migrate silently loses the tags field",
    "backup_no_snapshot": "backup reports success but writes no snapshot",
    # issue 17: what a replicated store can get wrong besides creates (receiver side: the node applying a
    # replicated change, by push or by catch-up)
    "update_not_applied": "acknowledges a replicated update of a memory it holds without applying it",
    "delete_not_applied": "acknowledges a replicated delete without deleting",
    "field_rewritten": "rewrites a replicated field (appends a tag) when it applies a memory from a peer",
    "ack_before_apply": "acknowledges a replicated write at once and applies it 3 s later",
    "lose_1_in_1000": "silently loses 1 in 1000 memories it receives from peers (push and catch-up alike)",
    "route_left_open": "enforces the allowlist per route and leaves /api/v1/sync/* open to any certificate of the CA",
}

ACK_BEFORE_APPLY_S = 3.0


def lost_in_a_thousand(mem_id: str) -> bool:
    """The 1 in 1000 memories lose_1_in_1000 loses: a fixed function of the id, so push and catch-up lose the
    same ones (a loss catch-up would repair is no loss)."""
    return int(hashlib.sha256(mem_id.encode()).hexdigest()[:8], 16) % 1000 == 0


def receive(store: Any, mem: dict[str, Any], faults: frozenset[str], hidden: bool = False) -> str:
    """Apply a memory from a peer (``store.apply_remote``) through the receiver-side faults: "applied" or
    "noop" as the store says, or as the fault pretends."""
    if "lose_1_in_1000" in faults and lost_in_a_thousand(str(mem.get("id"))):
        return "applied"  # FAULT: acknowledged, never stored
    if "update_not_applied" in faults and store.get(str(mem.get("id"))) is not None:
        return "applied"  # FAULT: an update of a memory it holds is acknowledged, not applied
    if "field_rewritten" in faults:
        mem = {**mem, "tags": [*(mem.get("tags") or []), "rewritten"]}  # FAULT: a replicated field rewritten
    if "ack_before_apply" in faults:
        timer = threading.Timer(ACK_BEFORE_APPLY_S, store.apply_remote, args=(mem,), kwargs={"hidden": hidden})
        timer.daemon = True  # owned by the daemon process: it dies with it
        timer.start()
        return "applied"  # FAULT: acknowledged before it is applied
    return str(store.apply_remote(mem, hidden=hidden))


class FaultError(ValueError):
    pass


FAULTS_FILE = "/etc/ai-memory/standin-faults"


def active_faults(environ: dict[str, str] | None = None) -> frozenset[str]:
    """AI_MEMORY_STANDIN_FAULTS when set (even empty); otherwise the host-wide file, so that every invocation of
    the installed stand-in on a host (daemon and CLI alike) has the same faults, as a faulty binary would."""
    env = environ if environ is not None else os.environ
    raw = env.get("AI_MEMORY_STANDIN_FAULTS")
    if raw is None:
        try:
            with open(env.get("AI_MEMORY_STANDIN_FAULTS_FILE", FAULTS_FILE)) as fh:
                raw = fh.read().replace("\n", ",")
        except OSError:
            raw = ""
    names = {n.strip() for n in raw.split(",") if n.strip()}
    unknown = sorted(names - FAULTS.keys())
    if unknown:
        raise FaultError(f"unknown stand-in fault(s) {unknown}; known: {sorted(FAULTS)}")
    return frozenset(names)


def drop_fanout_ratio(environ: dict[str, str] | None = None) -> float:
    raw = (environ if environ is not None else os.environ).get("AI_MEMORY_STANDIN_DROP_FANOUT_RATIO", "1.0")
    return min(1.0, max(0.0, float(raw)))
