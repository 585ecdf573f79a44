"""Evidence directories of whole campaigns, built from the unit tests' history builders and judged by the real
checkers: S4 (a partition), phase 2 (a burst and the probes) and phase 4 (every chaos class), green or red, and
with hostile text in the campaign id, a node name and the binary's version (the report must escape them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._checker.registry import check

from tests.unit.plugins.module_utils.history_builder import H
from tests.unit.plugins.module_utils.test_phases import P2, P4, chaos_history, p2_history
from verify import __main__ as cli
from verify.evidence import write_json_atomic

NODES = ["node-a", "node-b", "node-c"]
HOSTILE_NODE = "node-<b>c</b>"
HOSTILE_ID = "esc-<script>alert(1)</script>"
HOSTILE_VERSION = 'ai-memory 0.7.0 <img src=x onerror="alert(2)">'
LATENCIES = [3.1, 4.7, 6.2, 9.9, 14.0, 22.5, 35.0, 120.0]


def s4_history(nodes: list[str], lose: bool = False, latencies: list[float] | None = None) -> H:
    """Partition the last node, eight writes through the majority with known latencies, heal, then reads: the
    majority holds every write at once, the isolated node half of them first and then (unless ``lose``) all."""
    h = H("s4")
    isolated = nodes[-1]
    h.event("partition", {"nodes": [isolated], "from": nodes[:-1]}, node=isolated)
    titles = []
    for i, ms in enumerate(latencies or LATENCIES):
        title = f"s4-{i:05d}"
        h.write(title, node=nodes[i % 2])
        h.ops[-1]["latency_ms"] = ms
        titles.append(title)
    h.event("heal", node=isolated)
    for node in nodes[:-1]:
        h.read(node, titles)
    h.read(isolated, titles[:4])
    h.read(isolated, titles[:-1] if lose else titles)
    return h


def evidence(name: str, kind: str, ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    result = check(kind, ops, params)
    details = {k: v for k, v in result.items() if k not in ("valid", "reasons", "figures")}
    doc = {"check": name, "kind": kind, "params": params, "pass": result["valid"], "reasons": result["reasons"],
           "figures": result["figures"], "started_at": "2026-11-22T10:00:00Z", "ended_at": "2026-11-22T10:01:00Z",
           "history": ops, "details": details}
    return {**doc, **(result.get("shipgate") or {})}


def build(root: Path, name: str, *, red: bool = False, hostile: bool = False,
          latencies: list[float] | None = None) -> Path:
    """evidence/<name>/ with campaign.json, provenance.json, plays.json and three checks' evidence, judged (but
    not summarized: the caller runs ``verify summarize`` and ``verify report`` as the campaign does)."""
    d = root / name
    campaign_id = HOSTILE_ID if hostile else name
    nodes = [*NODES[:-1], HOSTILE_NODE] if hostile else NODES
    # the declaration pins each check's kind and parameters, as playbooks/tasks/declare_checks.yml does
    params = {"s4_partition_convergence": {"nodes": nodes}, "phase2": {**P2, "observed_faults": True},
              "phase4": {**P4, "w": 2, "n": 3}}
    kinds = {"s4_partition_convergence": "partition_convergence", "phase2": "federation", "phase4": "chaos"}
    declared = {c: {"kind": kinds[c], "params": params[c]} for c in kinds}
    assert cli.main(["init", "--evidence-dir", str(d), "--campaign-id", campaign_id, "--declare-json",
                     json.dumps(declared)]) == 0
    facts = {"campaign_id": campaign_id, "provider": "local",
             "binary": {"kind": "stand-in", "version_output": HOSTILE_VERSION if hostile else "ai-memory 0.7.0",
                        "sha256": "a" * 64, "faults": ["no_catchup"] if red else []},
             "settings": {"sut": "standin", "chaos_profile": "fast"},
             "topology": {"n": 3, "w": 2, "hosts": [{"name": n, "groups": ["peers"], "private_ip": f"10.250.0.{i}",
                                                     "public_ip": f"198.18.0.{i}"} for i, n in enumerate(nodes)]}}
    (root / f"{name}-facts.json").write_text(json.dumps(facts))
    assert cli.main(["provenance", "--evidence-dir", str(d), "--facts", str(root / f"{name}-facts.json")]) == 0
    write_json_atomic(d / "s4_partition_convergence.json",
                      evidence("s4_partition_convergence", "partition_convergence",
                               s4_history(nodes, lose=red, latencies=latencies).ops,
                               params["s4_partition_convergence"]))
    write_json_atomic(d / "phase2.json", evidence("phase2", "federation", p2_history(lose_in_burst=red).ops,
                                                  params["phase2"]))
    chaos = chaos_history(partition_minority={"lose": True} if red else {})
    write_json_atomic(d / "phase4.json", evidence("phase4", "chaos", chaos.ops, params["phase4"]))
    write_json_atomic(d / "check-errors.json", {})
    write_json_atomic(d / "plays.json", {"plays": [
        {"name": "Validate the campaign inputs", "started_at": "2026-11-22T09:58:00+00:00", "wall_seconds": 2.5,
         "failed": False},
        {"name": "Run the T4 scenarios from the client host", "started_at": "2026-11-22T10:00:00+00:00",
         "wall_seconds": 61.0, "failed": red}]})
    return d
