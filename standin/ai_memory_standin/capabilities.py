"""GET /api/v1/capabilities: the document ai-memory 0.7.0 answers, kept as a fixture of the binary's output
(capabilities-0.7.0.json, captured from the real daemon at tier semantic on SQLite with no config and no
embedder), with the values that depend on the running daemon filled in: tier (and the recall features the tier
switches), storage_backend, db_schema_version. The checks read storage_backend and db_schema_version."""

from __future__ import annotations

import copy
import json
import pkgutil
from functools import cache
from typing import Any

FIXTURE = "capabilities-0.7.0.json"
# what the real reports at tier keyword where the fixture (tier semantic) says otherwise
KEYWORD_TIER = {"features": {"hybrid_recall": False, "recall_mode_active": "disabled", "semantic_search": False},
                "models": {"embedding": "none", "embedding_dim": 0}}


@cache
def _fixture() -> dict[str, Any]:
    raw = pkgutil.get_data("ai_memory_standin", FIXTURE)  # works inside the zipapp too
    if raw is None:
        raise FileNotFoundError(FIXTURE)
    doc: dict[str, Any] = json.loads(raw)
    return doc


def capabilities_document(*, tier: str, storage_backend: str, db_schema_version: int) -> dict[str, Any]:
    doc = copy.deepcopy(_fixture())
    doc.update(tier=tier, storage_backend=storage_backend, db_schema_version=db_schema_version)
    if tier == "keyword":
        for section, values in KEYWORD_TIER.items():
            doc[section].update(values)
    return doc
