# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""What a write asks for and what a node holds, as records a checker can compare whole.

*Intent*: the fields a client chooses (title, content, namespace, tier, tags, priority, source, scope, the owner
agent id, and the client's own metadata keys, which all start with ``w_``). A node holding a memory with another
intent than the last acknowledged write of it says so, field by field.

*Replicated record*: everything the API returns except the node-local access statistics (``access_count``,
``last_accessed_at``): ai-memory replicates the whole row, server-stamped times and the ``version`` counter
included, so every node must hold the same replicated record of a memory. A record's vector clock
(``metadata.version_vector``, 0.10.0 on: ``src/models/crdt_merge.rs``) is digested apart from the rest
(``clock_digest``): a list read then tells a disagreement of clocks alone from one of content, and names it, without
reading every record by id; ``agreement`` names metadata keys one by one (``metadata.version_vector``).

``Varied`` generates the writes of a workload from a seed (tags, metadata, priorities, tiers, scopes, namespaces,
agents), so a failing run can be replayed with the seed the evidence records.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

LOCAL_FIELDS = ("access_count", "last_accessed_at")
CLIENT_META_PREFIX = "w_"
TIERS = ("short", "mid", "long")
SHARED_SCOPES = ("team", "unit", "org", "collective")
TAGS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa")


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def short_hash(value: Any) -> str:
    return hashlib.sha256(_canon(value).encode()).hexdigest()[:16]


def intent_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The client-chosen fields of a memory (a request body or a memory the API returned)."""
    meta = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    return {
        "title": record.get("title"),
        "content": record.get("content"),
        "namespace": record.get("namespace"),
        "tier": record.get("tier"),
        "tags": list(record.get("tags") or []),
        "priority": record.get("priority"),
        "source": record.get("source"),
        "scope": record.get("scope") or meta.get("scope"),
        "agent_id": record.get("agent_id") or meta.get("agent_id"),
        "metadata": {k: v for k, v in sorted(meta.items()) if k.startswith(CLIENT_META_PREFIX)},
    }


def intent_digest(record: dict[str, Any]) -> str:
    return short_hash(intent_fields(record))


CLOCK_KEY = "version_vector"  # in metadata


def replicated(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in LOCAL_FIELDS}


def replicated_digest(record: dict[str, Any]) -> str:
    """Digest of the replicated record without its vector clock (``clock_digest`` holds that)."""
    rows = replicated(record)
    meta = rows.get("metadata")
    if isinstance(meta, dict) and CLOCK_KEY in meta:
        rows["metadata"] = {k: v for k, v in meta.items() if k != CLOCK_KEY}
    return short_hash(rows)


def clock_digest(record: dict[str, Any]) -> str | None:
    """Digest of the record's vector clock (``metadata.version_vector``); None when it has none."""
    meta = record.get("metadata")
    return short_hash(meta[CLOCK_KEY]) if isinstance(meta, dict) and CLOCK_KEY in meta else None


def differing(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """Names of the intent fields in which ``found`` differs from ``expected`` (both full records or bodies)."""
    a, b = intent_fields(expected), intent_fields(found)
    return sorted(k for k in a if a[k] != b[k])


def agreement(records: dict[str, dict[str, Any]]) -> list[str]:
    """Replicated fields in which the nodes' records of one memory disagree ({node: record}); metadata by key
    (``metadata.version_vector``)."""
    if len(records) < 2:
        return []
    rows = [replicated(r) for r in records.values()]
    keys = sorted({k for r in rows for k in r})
    fields = []
    for key in keys:
        values = [r.get(key) for r in rows]
        if len({_canon(v) for v in values}) < 2:
            continue
        if key == "metadata" and all(isinstance(v, dict) for v in values):  # name the metadata keys
            sub = sorted({k for v in values for k in v})
            fields += [f"metadata.{k}" for k in sub if len({_canon(v.get(k)) for v in values}) > 1]
        else:
            fields.append(key)
    return fields


class Varied:
    """Deterministic varied writes: ``body(n)`` is the same for the same seed, whoever asks."""

    def __init__(self, seed: int, namespaces: list[str], agents: list[str], scopes: tuple[str, ...] = SHARED_SCOPES,
                 tiers: tuple[str, ...] = TIERS) -> None:
        if not namespaces or not agents:
            raise ValueError("Varied needs at least one namespace and one agent")
        self.seed, self.namespaces, self.agents = int(seed), list(namespaces), list(agents)
        self.scopes, self.tiers = tuple(scopes), tuple(tiers)

    def _rng(self, n: int, salt: str = "") -> random.Random:
        return random.Random(f"{self.seed}/{n}/{salt}")

    def body(self, n: int, prefix: str) -> tuple[str, str, dict[str, Any]]:
        """(namespace, agent, request body) of write ``n``."""
        rng = self._rng(n)
        namespace = self.namespaces[n % len(self.namespaces)]
        agent = self.agents[(n // len(self.namespaces)) % len(self.agents)]
        tags = sorted(rng.sample(TAGS, rng.randint(0, 3)))
        meta: dict[str, Any] = {"w_seq": n, "w_seed": self.seed}
        if rng.random() < 0.6:
            meta["w_note"] = rng.choice(["plain", "unicode: é ß 漢", "quote \" and \\ slash", ""])
        if rng.random() < 0.4:
            meta["w_nested"] = {"depth": rng.randint(1, 3), "list": [rng.randint(0, 9) for _i in range(3)]}
        body = {"title": f"{prefix}-{n:05d}", "content": f"{prefix} write {n} seed {self.seed} r{rng.random():.6f}",
                "namespace": namespace, "tier": rng.choice(self.tiers), "tags": tags,
                "priority": rng.randint(1, 10), "source": "api", "scope": rng.choice(self.scopes), "metadata": meta}
        return namespace, agent, body

    def update(self, n: int, version: int, current: dict[str, Any]) -> dict[str, Any]:
        """A PUT body changing content, tags, priority and a metadata key of memory ``n`` (``version``: which
        update of it this is)."""
        rng = self._rng(n, f"update{version}")
        meta = {k: v for k, v in (current.get("metadata") or {}).items() if k.startswith(CLIENT_META_PREFIX)}
        meta["w_update"] = version
        return {"content": f"{current.get('title')} update {version} r{rng.random():.6f}",
                "tags": sorted(rng.sample(TAGS, rng.randint(1, 3))), "priority": rng.randint(1, 10),
                "metadata": meta}
