"""Fault switches: off by default, on only through AI_MEMORY_STANDIN_FAULTS (comma-separated names)."""

from __future__ import annotations

import os

FAULTS: dict[str, str] = {
    "drop_fanout": "post-quorum fan-out silently abandoned, never retried, hidden from catch-up (ship-gate r14)",
    "phantom_ack": "counts a peer acknowledgement that never arrived",
    "ack_without_quorum": "answers 201 when the write quorum was not met",
    "mtls_accept_any": "accepts client certificates that are not on the allowlist",
    "no_catchup": "never runs catch-up and never retries failed pushes",
    "migrate_drop_field": "migrate silently loses the tags field",
    "backup_no_snapshot": "backup reports success but writes no snapshot",
    "accept_unsigned": "takes unsigned HTTP writes although its release (posture) requires agent attestation",
}


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
