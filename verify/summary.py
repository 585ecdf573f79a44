"""The verdict: every declared check present, valid and passing, and its history agreeing with its claim."""

from __future__ import annotations

import fnmatch
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from verify.evidence import Loaded, load, write_json_atomic

COMPARE = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "==": lambda a, b: a == b,
           ">": lambda a, b: a > b, "<": lambda a, b: a < b}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def collections_root() -> Path:
    """The directory holding ``ansible_collections/aimemory/swarm`` with this very code: the installed collection's
    collections path (verify/ ships inside the collection), else a checkout's ``.collections`` link."""
    here = Path(__file__).resolve().parent.parent
    if (here.name, here.parent.name, here.parent.parent.name) == ("swarm", "aimemory", "ansible_collections"):
        return here.parent.parent.parent
    return here / ".collections"


def registry() -> Any:
    """The collection's checker registry, the same pure functions the check modules ran."""
    root = collections_root()
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


def canonical(value: Any) -> Any:
    """A parameter as the comparison sees it: templated text and native values alike ("2" is 2, "True" is true)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        try:
            return int(text)
        except ValueError:
            return text
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    return value


def same(a: Any, b: Any) -> bool:
    return (json.dumps(canonical(a), sort_keys=True, default=str)
            == json.dumps(canonical(b), sort_keys=True, default=str))


def pin_problems(name: str, doc: dict[str, Any], pinned: dict[str, Any]) -> list[str]:
    """Where the evidence file departs from what the campaign declared for it: its checker kind, and each pinned
    parameter (missing or of another value)."""
    problems = []
    if doc["kind"] != pinned["kind"]:
        problems.append(f"{name}.json claims checker kind {doc['kind']!r}; the campaign declared "
                        f"{pinned['kind']!r} (recomputed as declared)")
    for key, want in sorted(pinned["params"].items()):
        if key not in doc["params"]:
            problems.append(f"{name}.json lacks the pinned parameter {key} (declared {json.dumps(want)})")
        elif not same(doc["params"][key], want):
            problems.append(f"{name}.json claims {key}={json.dumps(doc['params'][key])}; the campaign declared "
                            f"{key}={json.dumps(want)} (recomputed as declared)")
    return problems


def _fraction(fig: dict[str, Any]) -> list[Any]:
    return [fig.get("numerator"), fig.get("denominator"), fig.get("threshold"), fig.get("comparison")]


def _fraction_text(fig: dict[str, Any] | None) -> str:
    return "no such figure" if fig is None else f"{fig.get('numerator')}/{fig.get('denominator')}"


def judge_check(name: str, loaded: Loaded, reg: Any, pinned: dict[str, Any] | None = None) -> dict[str, Any]:
    """One declared check. ``pinned``: its declaration (``{kind, params}`` from campaign.json), which the
    recomputation uses whatever the evidence file says; a file that says otherwise is red (``pin_mismatch``)."""
    entry: dict[str, Any] = {"file": f"{name}.json", "sha256": loaded.sha256, "status": loaded.status,
                             "reasons": [loaded.reason] if loaded.reason else [], "figures": {}}
    if loaded.status != "ok":
        return entry
    doc = loaded.data
    entry["figures"] = doc["figures"]
    reasons: list[str] = []
    if doc["check"] != name:
        reasons.append(f"{name}.json holds the evidence of {doc['check']!r}")
    if pinned is None:
        reasons.append("campaign.json pins no checker kind and parameters for it: the evidence would judge itself")
        kind, params = doc["kind"], doc["params"]
    else:
        mismatch = pin_problems(name, doc, pinned)
        if mismatch:
            reasons += mismatch
            entry["status"] = "pin_mismatch"
        kind, params = pinned["kind"], {**doc["params"], **pinned["params"]}
        entry["pinned"] = pinned
    if not doc["pass"]:
        reasons += doc["reasons"] or ["the check reported a failure without a reason"]
    elif doc["reasons"]:
        reasons.append(f"claims pass but lists reasons {doc['reasons']}")
    recomputed = reg.check(kind, doc["history"], params)
    if recomputed["valid"] != doc["pass"]:
        reasons.append(f"recomputed verdict disagrees: the history says valid={recomputed['valid']} "
                       f"({'; '.join(recomputed['reasons'][:3])})")
        if entry["status"] == "ok":
            entry["status"] = "recomputed_mismatch"
    elif not recomputed["valid"] and entry["status"] == "pin_mismatch":
        reasons += [f"recomputed as declared: {r}" for r in recomputed["reasons"][:3]]
    # every figure the file claims is the figure its history gives (a measurement without a threshold included)
    claimed_figures, history_figures = doc["figures"], recomputed.get("figures") or {}
    for fname in sorted(set(claimed_figures) | set(history_figures)):
        mine, theirs = claimed_figures.get(fname), history_figures.get(fname)
        if mine is None or theirs is None or not same(_fraction(mine), _fraction(theirs)):
            reasons.append(f"figure {fname}: the file claims {_fraction_text(mine)}, its history gives "
                           f"{_fraction_text(theirs)}")
            if entry["status"] == "ok":
                entry["status"] = "recomputed_mismatch"
    shipgate = recomputed.get("shipgate")
    if isinstance(shipgate, dict):
        # a ship-gate artifact: its ship-gate keys (read by the ship-gate's dashboards) must be what its history says
        claimed = {k: doc.get(k) for k in shipgate}
        if claimed != shipgate:
            wrong = sorted(k for k in shipgate if claimed[k] != shipgate[k])
            reasons.append(f"ship-gate keys {wrong} disagree with the history")
            if entry["status"] == "ok":
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


def topology_problems(declarations: dict[str, Any], topology: dict[str, Any]) -> list[str]:
    """The pinned w, n and node list of every declaration against the topology provenance recorded as deployed."""
    peers = [h.get("name") for h in topology.get("hosts") or [] if "peers" in (h.get("groups") or [])]
    deployed = {"w": topology.get("w"), "n": topology.get("n"), "nodes": peers or None}
    problems = []
    for name, decl in sorted(declarations.items()):
        for key, actual in deployed.items():
            if actual is not None and key in decl["params"] and not same(decl["params"][key], actual):
                problems.append(f"{name}: the campaign declared {key}={json.dumps(decl['params'][key])} but "
                                f"provenance.json records {key}={json.dumps(actual)} as deployed")
    return problems


# Files of the evidence directory that bear no check's verdict (each either read and judged below, or the
# summary's own output); every other file must be the evidence of a declared check.
NON_VERDICT = {
    "campaign.json": "the declaration (read: the checks, their kinds and pinned parameters)",
    "provenance.json": "provenance (read: schema, topology)",
    "plays.json": "wall time of every play (read: schema)",
    "check-errors.json": "errors of checks that could not complete (read: each one is a reason)",
    "campaign-summary.json": "this summary (output)",
    "index.html": "the report (output)",
    "report-data.json": "the report's plotted series with their op indices (output, no verdict)",
    "cost.json": "DigitalOcean spend, written at teardown (not read)",
}


# the reasons that say in which fields replicas (or a replica and the last acknowledged write) differ, and the
# reason that names what the nodes not holding an acknowledged write held instead (``other(<fields>)``)
DIVERGENCE = re.compile(r"(?:whose nodes hold different records|present with other content than last written), "
                        r"differing in (?P<fields>[^:]+):")
HELD_SHORT = re.compile(r"acknowledgement\(s\) held by fewer than W=\d+ node\(s\) right after the ack, the others "
                        r"holding (?P<states>.+?): ")
OTHER_STATE = re.compile(r"other\((?P<fields>[^)]*)\)")


def _field_findings(reason: str, findings: list[dict[str, Any]]) -> list[str]:
    """The findings (ids) whose ``fields`` explain a divergence reason, [] when they do not all explain it.

    A divergence ("differing in a, b:") is explained when every field it names is a field of an applicable
    finding; a node that named no field ("fields not read") never is. An acknowledgement held by fewer than W
    nodes right after it ("the others holding other(a) or other(b, c) or absent") is explained when one of the
    states the non-holders showed differs only in such fields: every acknowledgement of that reason had exactly
    that set of states, so at least one non-holder held the write up to the release's known divergences (with
    the campaign's W = 2 and the leader holding its own write, that is W)."""
    covered: dict[str, list[str]] = {}
    for finding in findings:
        for field in finding.get("fields") or []:
            covered.setdefault(field, []).append(finding["id"])
    if not covered:
        return []
    found = DIVERGENCE.search(reason)
    if found:
        fields = [f.strip() for f in found.group("fields").split(", ")]
        if fields and all(f in covered for f in fields):
            return sorted({fid for f in fields for fid in covered[f]})
        return []
    held = HELD_SHORT.search(reason)
    if held:
        for state in held.group("states").split(" or "):
            other = OTHER_STATE.fullmatch(state.strip())
            fields = [f.strip() for f in other.group("fields").split(",")] if other else []
            if fields and all(f in covered for f in fields):
                return sorted({fid for f in fields for fid in covered[f]})
    return []


def _alternatives(finding: dict[str, Any]) -> list[list[str]]:
    """A finding's texts: each alternative a list of texts one reason must all contain (none: a finding of
    ``fields`` only, which never matches by text)."""
    return finding.get("matches") or ([finding["match"]] if finding.get("match") else [])


def classify_reds(reasons: list[str], expectations: dict[str, Any] | None) -> dict[str, Any]:
    """Which red reasons are known findings of the release under test (its expectations' ``known_findings``: a
    check pattern and a text every matching reason contains, or the ``fields`` in which the release's replicas are
    known to differ), and which are not. Known findings stay red: this only says which reds a reader has already
    seen documented (README, certification table). A reason several findings explain together (a divergence in
    the fields of two findings) is listed once per finding."""
    findings = (expectations or {}).get("known_findings") or []
    known: list[dict[str, str]] = []
    unexplained: list[str] = []
    for reason in reasons:
        check = reason.split(":", 1)[0]
        applicable = [f for f in findings if fnmatch.fnmatchcase(check, f.get("check", ""))]
        hit = next((f for f in applicable if any(alternative and all(part in reason for part in alternative)
                                                 for alternative in _alternatives(f))), None)
        ids = [hit["id"]] if hit else _field_findings(reason, applicable)
        if ids:
            known += [{"finding": fid, "check": check, "reason": reason} for fid in ids]
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
    # a finding the release shows on every campaign that meets it and did not show now: fixed, or the campaign no
    # longer meets it (to be read); a race ("reproduced": "sometimes") may miss a campaign: said, not flagged
    missing = [f for f in findings if f["id"] not in seen]
    return {"known": known, "unexplained": unexplained,
            "not_reproduced": sorted(f["id"] for f in missing if f.get("reproduced", "always") == "always"),
            "not_seen_this_run": sorted(f["id"] for f in missing if f.get("reproduced", "always") != "always")}


def posture_label(prov: dict[str, Any] | None) -> str | None:
    """The write-attestation posture the nodes ran, as the reports print it ("attested (the release's default)",
    "permissive (AI_MEMORY_REQUIRE_AGENT_ATTESTATION=0, not the release's default attested)"); None when the
    campaign recorded none (earlier evidence)."""
    posture = (prov or {}).get("posture") or ((prov or {}).get("settings") or {}).get("posture")
    if isinstance(posture, dict):
        return str(posture.get("label") or posture.get("posture"))
    return str(posture) if posture else None


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
    declarations: dict[str, Any] = (campaign.data.get("checks") or {}) if campaign.status == "ok" else {}
    if campaign.status == "ok" and not declared:
        reasons.append("no check was declared")
    reasons += [f"campaign.json pins {name}, which it does not declare" for name in sorted(declarations)
                if name not in declared]
    if provenance.status == "ok":
        reasons += topology_problems({k: v for k, v in declarations.items() if k in declared},
                                     provenance.data["topology"])
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
            checks[name] = judge_check(name, loaded, reg, declarations.get(name))
        reasons += [f"{name}: {r}" for r in checks[name]["reasons"]]
    docs = {name: load(evidence_dir / f"{name}.json", "check").data for name in declared
            if checks.get(name, {}).get("status") == "pass" or checks.get(name, {}).get("status") == "fail"}
    power = detection_power({k: v for k, v in docs.items() if isinstance(v, dict)})
    if VOLUME_CHECK in declared and power["power"] < POWER_TARGET:
        reasons.append(f"detection power {power['power']:.4f} < {POWER_TARGET} for a peer losing 1 replicated write "
                       f"in {round(1 / LOSS_RATE)}: the weakest node verified {power['weakest_node_observations']} "
                       f"replicated writes (about {3000} are needed); the workloads are too small to certify")
    check_errors, errors_problem = read_check_errors(evidence_dir / "check-errors.json")
    if errors_problem:
        reasons.append(errors_problem)
    for name, error in sorted(check_errors.items()):
        reasons.append(f"{name}: could not complete: {error}")
    plays = load(evidence_dir / "plays.json", "plays") if (evidence_dir / "plays.json").exists() else None
    if plays is not None and plays.status != "ok":
        reasons.append(plays.reason)
    # every file of the directory is a declared check's evidence or a known non-verdict file
    undeclared = sorted(p.name for p in evidence_dir.iterdir()
                        if p.name not in NON_VERDICT and not (p.suffix == ".json" and p.stem in declared
                                                              and p.is_file()))
    reasons += [f"{n} is in the evidence directory but is neither a declared check's evidence nor a known "
                "non-verdict file" for n in undeclared]
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
        "posture": posture_label(prov),
        "not_judged": (prov or {}).get("not_judged") or {},
        "declared_checks": declared,
        "detection_power": power,
        "checks": checks,
        "undeclared_files": undeclared,
        "non_verdict_files": {n: NON_VERDICT[n] for n in sorted(NON_VERDICT) if (evidence_dir / n).exists()},
        "provenance": prov,
        "plays": plays.data if plays is not None and plays.status == "ok" else None,
        # the ship-gate's own view, for its readers: one object per phase artifact, with our verdict
        "phases": [{**entry["shipgate"], "pass": entry["status"] == "pass", "reasons": entry["reasons"]}
                   for entry in checks.values() if "shipgate" in entry],
    }


def read_check_errors(path: Path) -> tuple[dict[str, Any], str | None]:
    """The errors of checks that could not complete, and why the file cannot be read when it cannot: it is an
    object of check names to errors (the verdict play writes ``{}`` when there is none); empty or garbled, it
    might be hiding one."""
    if not path.is_file():
        return {}, ("check-errors.json is missing (the verdict play writes it, {} when every check completed): "
                    "a check that could not complete would go unnamed")
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        return {}, f"check-errors.json is not valid JSON: {exc}"
    if not isinstance(doc, dict):
        return {}, f"check-errors.json is not an object of check names to errors: {type(doc).__name__}"
    return doc, None


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
    if summary["posture"]:
        print(f"POSTURE {summary['posture']}")
    for name, why in sorted(summary["not_judged"].items()):
        print(f"NOT JUDGED  {name}: {why}")
    print(f"VERDICT {'GREEN' if summary['overall_pass'] else 'RED'}: {evidence_dir / 'campaign-summary.json'}")
    return 0 if summary["overall_pass"] else 1


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)
