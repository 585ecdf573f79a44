"""The verdict: every declared check present, valid and passing, and its history agreeing with its claim."""

from __future__ import annotations

import fnmatch
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from verify.evidence import Loaded, load, write_json_atomic

COMPARE = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "==": lambda a, b: a == b,
           ">": lambda a, b: a > b, "<": lambda a, b: a < b}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def registry() -> Any:
    """The collection's checker registry, the same pure functions the check modules ran."""
    root = Path(__file__).resolve().parent.parent / ".collections"
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from ansible_collections.aimemory.swarm.plugins.module_utils._checker import registry as reg

    return reg


def figure_problems(name: str, fig: dict[str, Any]) -> list[str]:
    num, den, value, threshold = fig["numerator"], fig["denominator"], fig["value"], fig["threshold"]
    if den == 0:
        return [f"figure {name} has denominator 0: a measurement of nothing cannot pass"]
    if value is None or abs(value - num / den) > 1e-6:
        return [f"figure {name}: value {value} is not {num}/{den}"]
    if threshold is not None and not COMPARE[fig["comparison"]](value, threshold):
        return [f"figure {name} = {num}/{den} = {value:.4f} fails {fig['comparison']} {threshold}"]
    return []


def judge_check(name: str, loaded: Loaded, reg: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"file": f"{name}.json", "sha256": loaded.sha256, "status": loaded.status,
                             "reasons": [loaded.reason] if loaded.reason else [], "figures": {}}
    if loaded.status != "ok":
        return entry
    doc = loaded.data
    entry["figures"] = doc["figures"]
    reasons: list[str] = []
    if doc["check"] != name:
        reasons.append(f"{name}.json holds the evidence of {doc['check']!r}")
    if not doc["pass"]:
        reasons += doc["reasons"] or ["the check reported a failure without a reason"]
    elif doc["reasons"]:
        reasons.append(f"claims pass but lists reasons {doc['reasons']}")
    recomputed = reg.check(doc["kind"], doc["history"], doc["params"])
    if recomputed["valid"] != doc["pass"]:
        reasons.append(f"recomputed verdict disagrees: the history says valid={recomputed['valid']} "
                       f"({'; '.join(recomputed['reasons'][:3])})")
        entry["status"] = "recomputed_mismatch"
    shipgate = recomputed.get("shipgate")
    if isinstance(shipgate, dict):
        # a ship-gate artifact: its ship-gate keys (read by the ship-gate's dashboards) must be what its history says
        claimed = {k: doc.get(k) for k in shipgate}
        if claimed != shipgate:
            wrong = sorted(k for k in shipgate if claimed[k] != shipgate[k])
            reasons.append(f"ship-gate keys {wrong} disagree with the history")
            entry["status"] = "recomputed_mismatch"
        entry["shipgate"] = shipgate
    for fname, fig in doc["figures"].items():
        reasons += figure_problems(fname, fig) if fig["threshold"] is not None or fig["denominator"] == 0 else []
    if reasons and entry["status"] == "ok":
        entry["status"] = "fail"
    elif entry["status"] == "ok":
        entry["status"] = "pass"
    entry["reasons"] = reasons
    return entry


def classify_reds(reasons: list[str], expectations: dict[str, Any] | None) -> dict[str, Any]:
    """Which red reasons are known findings of the release under test (its expectations' ``known_findings``: a
    check pattern and a text every matching reason contains), and which are not. Known findings stay red: this
    only says which reds a reader has already seen documented (README, certification table)."""
    findings = (expectations or {}).get("known_findings") or []
    known: list[dict[str, str]] = []
    unexplained: list[str] = []
    for reason in reasons:
        check = reason.split(":", 1)[0]
        hit = next((f for f in findings if fnmatch.fnmatchcase(check, f.get("check", "")) and
                    any(all(part in reason for part in alternative)
                        for alternative in f.get("matches") or [f.get("match") or []])), None)
        if hit:
            known.append({"finding": hit["id"], "check": check, "reason": reason})
        else:
            unexplained.append(reason)
    # a check's figure that fails only because of its known finding (assertions_passed 14/15) is that finding too
    by_check = {k["check"]: k["finding"] for k in known}
    for reason in list(unexplained):
        check, _sep, rest = reason.partition(": ")
        if check in by_check and rest.startswith("figure "):
            unexplained.remove(reason)
            known.append({"finding": by_check[check], "check": check, "reason": reason})
    seen = {k["finding"] for k in known}
    return {"known": known, "unexplained": unexplained,
            "not_reproduced": sorted(f["id"] for f in findings if f["id"] not in seen)}


LOSS_RATE = 0.001  # the peer the campaign must catch: it loses 1 replicated write in 1000
POWER_TARGET = 0.95
VOLUME_CHECK = "s1_quorum_write"  # the check sized for the detection power (docs/checks.md)


def detection_power(docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Probability that the campaign catches a peer losing ``LOSS_RATE`` of the writes it receives by
    replication: per node, the replicated writes its checks verified (each check's
    ``details.replicated_observations``), summed; the weakest node decides: 1 - (1 - rate) ** observations."""
    per_node: dict[str, int] = {}
    for doc in docs.values():
        for node, count in ((doc.get("details") or {}).get("replicated_observations") or {}).items():
            per_node[node] = per_node.get(node, 0) + int(count)
    weakest = min(per_node.values()) if per_node else 0
    return {"loss_rate": LOSS_RATE, "target": POWER_TARGET, "observations_per_node": dict(sorted(per_node.items())),
            "weakest_node_observations": weakest, "power": round(1 - (1 - LOSS_RATE) ** weakest, 6)}


def summarize(evidence_dir: Path, reg: Any = None) -> dict[str, Any]:
    reasons: list[str] = []
    campaign = load(evidence_dir / "campaign.json", "campaign")
    provenance = load(evidence_dir / "provenance.json", "provenance")
    for item in (campaign, provenance):
        if item.status != "ok":
            reasons.append(item.reason)
    declared: list[str] = campaign.data["declared_checks"] if campaign.status == "ok" else []
    if campaign.status == "ok" and not declared:
        reasons.append("no check was declared")
    try:
        reg = reg or registry()
    except ImportError as exc:
        reg = None
        reasons.append(f"the checker registry cannot be imported: {exc}")
    checks: dict[str, Any] = {}
    for name in declared:
        loaded = load(evidence_dir / f"{name}.json", "check")
        if reg is None:
            checks[name] = {"file": f"{name}.json", "status": "fail", "reasons": ["no checker to recompute"],
                            "figures": {}}
        else:
            checks[name] = judge_check(name, loaded, reg)
        reasons += [f"{name}: {r}" for r in checks[name]["reasons"]]
    docs = {name: load(evidence_dir / f"{name}.json", "check").data for name in declared
            if checks.get(name, {}).get("status") == "pass" or checks.get(name, {}).get("status") == "fail"}
    power = detection_power({k: v for k, v in docs.items() if isinstance(v, dict)})
    if VOLUME_CHECK in declared and power["power"] < POWER_TARGET:
        reasons.append(f"detection power {power['power']:.4f} < {POWER_TARGET} for a peer losing 1 replicated write "
                       f"in {round(1 / LOSS_RATE)}: the weakest node verified {power['weakest_node_observations']} "
                       f"replicated writes (about {3000} are needed); the workloads are too small to certify")
    known = {"campaign.json", "provenance.json", "plays.json", "campaign-summary.json", "check-errors.json",
             "report-data.json"}  # report-data.json: the plots' series (verify report), no verdict
    errors_file = evidence_dir / "check-errors.json"
    check_errors = {}
    if errors_file.is_file():
        try:
            check_errors = json.loads(errors_file.read_text() or "{}")
        except ValueError:
            reasons.append("check-errors.json is not valid JSON")
    for name, error in sorted(check_errors.items()):
        reasons.append(f"{name}: could not complete: {error}")
    undeclared = sorted(p.name for p in evidence_dir.glob("*.json")
                        if p.name not in known and p.stem not in declared)
    plays = load(evidence_dir / "plays.json", "plays") if (evidence_dir / "plays.json").exists() else None
    overall = not reasons and bool(declared)
    campaign_id = campaign.data["campaign_id"] if campaign.status == "ok" else evidence_dir.name
    prov = provenance.data if provenance.status == "ok" else None
    return {
        "schema": "aimemory.swarm/campaign-summary/v1",
        "campaign_id": campaign_id,
        "ai_memory_git_ref": (prov or {}).get("binary", {}).get("git_ref", "unknown"),
        "completed_at": now(),
        "overall_pass": overall,
        "reasons": reasons,
        "reds": classify_reds(reasons, (prov or {}).get("expectations")),
        "declared_checks": declared,
        "detection_power": power,
        "checks": checks,
        "undeclared_files": undeclared,
        "provenance": prov,
        "plays": plays.data if plays is not None and plays.status == "ok" else None,
        # the ship-gate's own view, for its readers: one object per phase artifact, with our verdict
        "phases": [{**entry["shipgate"], "pass": entry["status"] == "pass", "reasons": entry["reasons"]}
                   for entry in checks.values() if "shipgate" in entry],
    }


def main_summarize(evidence_dir: Path) -> int:
    summary = summarize(evidence_dir)
    write_json_atomic(evidence_dir / "campaign-summary.json", summary)
    known = {k["check"]: k["finding"] for k in summary["reds"]["known"]}
    for name, entry in summary["checks"].items():
        line = f"{'PASS' if entry['status'] == 'pass' else 'FAIL'}  {name}"
        if entry["reasons"]:
            line += "  — " + "; ".join(entry["reasons"])[:400]
        if name in known:
            line += f"  [known finding of this release: {known[name]}]"
        print(line)
    for reason in summary["reasons"]:
        if not any(reason.startswith(f"{n}:") for n in summary["checks"]):
            print(f"FAIL  {reason}")
    print(f"VERDICT {'GREEN' if summary['overall_pass'] else 'RED'}: {evidence_dir / 'campaign-summary.json'}")
    return 0 if summary["overall_pass"] else 1


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)
