"""``python -m verify import-shipgate DIR``: a run of the ship-gate harness judged by this project's rules.

DIR holds what the harness writes per run (``../shared/reference/ship-gate-spec.md`` §2): ``phase1-node-<k>.json``
(three), ``phase2.json``, ``phase3.json``, ``phase4.json`` and ``campaign-summary.json``. This project's rules,
applied to what those files can show:

- every expected phase file is present, non-empty, a JSON object of its phase (§7.1: the harness dropped missing,
  empty and malformed files and called the run green);
- each phase's claims meet this project's criteria, stricter than the harness's: phase 1 exactly one snapshot and
  one manifest and no curator error but "no LLM client configured"; phase 2 every write acknowledged
  (``ok == total_writes``, no fail, no quorum_not_met), *every* acknowledged write counted on every node (not 95 %),
  the probes 201 then 503; phase 3 no error in any of the three migrations (the reverse too), every row read and
  written, source and round trip the same count; phase 4 a bound per class, none above 1 (impossible), each at
  1.0 (no acknowledged write lost: the harness passed 0.995), every class the campaign declared present
  (``--faults``: a timed-out class leaves no entry, §7.3), no ``clock_skew_peer`` (a no-op in that harness,
  §4: a fault that never ran cannot pass);
- a phase whose file says ``pass: false`` is red with its own reasons.

What the files cannot show is listed as ``unverifiable`` (no history: counts are not per id, a bound has no
numerator or denominator, no content was compared, no provenance): a PASS here means the artifacts' claims meet
these rules, nothing was recomputed. The harness's own verdict (``campaign-summary.json`` ``overall_pass``) is
reported beside ours; where it said PASS and we say FAIL, the output says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PHASE_FILES = ["phase1-node-a.json", "phase1-node-b.json", "phase1-node-c.json", "phase2.json", "phase3.json",
               "phase4.json"]
CLASSES = ("kill_primary_mid_write", "partition_minority", "drop_random_acks", "clock_skew_peer")
CURATOR_OK = {"no LLM client configured"}


def _load(path: Path) -> tuple[str, Any, str]:
    """(status, data, reason): ok | missing | empty | malformed | not_an_object."""
    if not path.is_file():
        return "missing", None, f"{path.name} is missing"
    raw = path.read_bytes()
    if not raw.strip():
        return "empty", None, f"{path.name} is empty ({len(raw)} bytes)"
    try:
        data = json.loads(raw)
    except ValueError as exc:
        return "malformed", None, f"{path.name} is not JSON ({exc}): {raw[:80]!r}"
    if not isinstance(data, dict):
        return "not_an_object", data, f"{path.name} holds a {type(data).__name__}, not a phase object"
    return "ok", data, ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _claimed(doc: dict[str, Any], phase: int) -> list[str]:
    reasons = []
    if doc.get("phase") != phase:
        reasons.append(f"phase is {doc.get('phase')!r}, not {phase}")
    if not isinstance(doc.get("pass"), bool):
        reasons.append("no boolean pass")
    elif not doc["pass"]:
        own = [r for r in doc.get("reasons") or [] if r] or ["no reason given"]
        reasons.append(f"the harness judged it failed: {'; '.join(map(str, own))}")
    return reasons


def _notes(doc: dict[str, Any]) -> list[str]:
    return ['reasons [""] on pass (ship-gate defect 4) read as []'] if doc.get("reasons") == [""] else []


def phase1(doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    reasons = _claimed(doc, 1)
    total = _int((doc.get("stats") or {}).get("total"))
    if total is None or total < 1:
        reasons.append(f"stats.total {total} < 1")
    if (_int(doc.get("recall_count")) or 0) < 1:
        reasons.append(f"recall_count {doc.get('recall_count')!r} < 1")
    for key in ("snapshot_count", "manifest_count"):
        if doc.get(key) != 1:
            reasons.append(f"{key} {doc.get(key)!r} != 1")
    errors = (doc.get("curator") or {}).get("errors")
    if not isinstance(errors, list):
        reasons.append("no curator report")
    elif set(map(str, errors)) - CURATOR_OK:
        reasons.append(f"curator errors {errors} (only 'no LLM client configured' is accepted)")
    if (_int(doc.get("mcp_tool_count")) or 0) < 30:
        reasons.append(f"mcp_tool_count {doc.get('mcp_tool_count')!r} < 30")
    if not doc.get("version"):
        reasons.append("no version")
    return reasons, ["no history: update and delete, restart persistence, the MCP handshake and the exact tool "
                     "list were not recorded (defect 17)"]


def phase2(doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    reasons = _claimed(doc, 2)
    total, ok = _int(doc.get("total_writes")), _int(doc.get("ok"))
    qnm, fail = _int(doc.get("quorum_not_met")), _int(doc.get("fail"))
    if None in (total, ok, qnm, fail):
        reasons.append("total_writes, ok, quorum_not_met and fail must be integers")
    else:
        if not total:
            reasons.append("no write was made (total_writes 0): nothing to converge")
        if ok != total or fail or qnm:
            reasons.append(f"{ok} of {total} writes acknowledged (quorum_not_met {qnm}, fail {fail}) with every "
                           "peer up")
    counts = doc.get("counts")
    if not isinstance(counts, dict) or set(counts) != {"a", "b", "c"}:
        reasons.append(f"counts {counts!r} is not one count per node a, b, c")
    else:
        short = {k: v for k, v in counts.items() if v != ok}
        if short:
            reasons.append(f"acknowledged writes not counted on every node: {short} of {ok} (this project: all)")
    if doc.get("probe1_single_peer_down") != "201":
        reasons.append(f"probe1 {doc.get('probe1_single_peer_down')!r}, expected '201'")
    if doc.get("probe2_both_peers_down") != "503":
        reasons.append(f"probe2 {doc.get('probe2_both_peers_down')!r}, expected '503'")
    return reasons, ["counts are list lengths, not writes found by id and content (defects 10, 15)",
                     "probe2's 503 body, Retry-After and the restart catch-up were not recorded (defect 15)"]


def phase3(doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    reasons = _claimed(doc, 3)
    reports = {k: doc.get(f"report_{k}") for k in ("forward", "idempotent", "reverse")}
    for name, rep in reports.items():
        if not isinstance(rep, dict):
            reasons.append(f"report_{name} is missing")
            continue
        if rep.get("errors"):
            reasons.append(f"{name} migration errors: {rep['errors']}")
        read, written = _int(rep.get("memories_read")), _int(rep.get("memories_written"))
        if read is None or written is None or read != written or not read:
            reasons.append(f"{name} migration read {rep.get('memories_read')!r}, wrote {rep.get('memories_written')!r}")
    src, dst = _int(doc.get("src_count")), _int(doc.get("dst_count"))
    if src is None or dst is None or src != dst or not src:
        reasons.append(f"src_count {doc.get('src_count')!r}, dst_count {doc.get('dst_count')!r}")
    forward = reports["forward"] if isinstance(reports["forward"], dict) else {}
    if src is not None and forward.get("memories_read") not in (None, src):
        reasons.append(f"forward read {forward.get('memories_read')} of {src} source rows")
    return reasons, ["no content was compared and PostgreSQL's row count after the re-run was not recorded "
                     "(defect 16)"]


def phase4(doc: dict[str, Any], declared: list[str] | None) -> tuple[list[str], list[str]]:
    reasons = _claimed(doc, 4)
    bounds = doc.get("convergence_by_fault")
    if not isinstance(bounds, dict) or not bounds:
        reasons.append(f"convergence_by_fault is {bounds!r}: no fault class has a result (a timed-out class is "
                       "dropped by the harness, defect 3)")
        bounds = {}
    for klass, value in bounds.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            reasons.append(f"{klass}: bound {value!r} is not a number")
        elif value > 1:
            reasons.append(f"{klass}: bound {value} > 1 is impossible (defect 11: shared state across cycles)")
        elif value < 1:
            reasons.append(f"{klass}: bound {value} < 1.0: acknowledged writes missing (this project judges 1.0; "
                           "the harness passed 0.995)")
        if klass == "clock_skew_peer":
            reasons.append("clock_skew_peer is a no-op in the ship-gate harness (spec §4): a fault that never ran "
                           "cannot pass")
        if klass not in CLASSES:
            reasons.append(f"unknown fault class {klass!r}")
    for klass in declared or []:
        if klass not in bounds:
            reasons.append(f"{klass}: declared but has no result (timed out or never run)")
    for key in ("cycles_per_fault", "writes_per_cycle"):
        if (_int(doc.get(key)) or 0) < 1:
            reasons.append(f"{key} {doc.get(key)!r} < 1")
    return reasons, ["a bound without numerator and denominator: 1 may mean nothing was acknowledged "
                     "(defect 11)", "the kill lands between requests and the primary is never restarted "
                                    "(defect 12)", "runs on a loopback harness, not the campaign's swarm (defect 14)"]


def judge_run(run_dir: Path, faults: list[str] | None = None) -> dict[str, Any]:
    phases: dict[str, dict[str, Any]] = {}
    names = list(PHASE_FILES) + sorted(p.name for p in run_dir.glob("phase1-node-*.json")
                                       if p.name not in PHASE_FILES)
    for name in names:
        status, doc, why = _load(run_dir / name)
        entry: dict[str, Any] = {"file": name, "status": status, "reasons": [why] if why else [], "unverifiable": [],
                                 "notes": [], "harness_pass": doc.get("pass") if isinstance(doc, dict) else None}
        if status == "ok":
            if name.startswith("phase1-"):
                reasons, unverifiable = phase1(doc)
            elif name == "phase2.json":
                reasons, unverifiable = phase2(doc)
            elif name == "phase3.json":
                reasons, unverifiable = phase3(doc)
            else:
                reasons, unverifiable = phase4(doc, faults)
            entry.update(reasons=reasons, unverifiable=unverifiable, notes=_notes(doc),
                         status="pass" if not reasons else "fail")
        phases[name] = entry
    s_status, summary, s_why = _load(run_dir / "campaign-summary.json")
    harness = summary.get("overall_pass") if isinstance(summary, dict) else None
    notes = []
    if s_status != "ok":
        notes.append(f"campaign-summary.json: {s_why}")
    elif "phases" not in summary:
        notes.append("campaign-summary.json has no phases" + (
            f" (reconstructed by hand from {summary.get('_reconstructed_from')}, defect 9)"
            if summary.get("_reconstructed_from") else ""))
    elif summary.get("phases") == [] and harness is True:
        notes.append("campaign-summary.json says overall_pass true with phases [] (defect 1: [] | all == true)")
    ours = bool(phases) and all(p["status"] == "pass" for p in phases.values())
    reasons = [f"{name}: {r}" for name, p in phases.items() for r in p["reasons"]]
    result = {"run": run_dir.name, "dir": str(run_dir), "pass": ours, "reasons": reasons,
              "harness_overall_pass": harness, "phases": phases, "notes": notes,
              "campaign_id": summary.get("campaign_id") if isinstance(summary, dict) else None,
              "ai_memory_git_ref": summary.get("ai_memory_git_ref") if isinstance(summary, dict) else None,
              "unverifiable": sorted({u for p in phases.values() for u in p["unverifiable"]}
                                     | {"no provenance: binary sha256, resolved commit and wall times are not "
                                        "recorded (defect 6)"})}
    result["disagrees"] = harness is True and not ours
    return result


def text(result: dict[str, Any]) -> str:
    lines = [f"ship-gate run {result['run']} (campaign {result['campaign_id']}, ref {result['ai_memory_git_ref']})"]
    for name, p in result["phases"].items():
        said = {True: "PASS", False: "FAIL", None: "-"}[p["harness_pass"]]
        lines.append(f"{'PASS' if p['status'] == 'pass' else 'FAIL'}  {name:22} (harness: {said})"
                     + (f"  — {'; '.join(p['reasons'])}"[:600] if p["reasons"] else ""))
        lines += [f"      note: {n}" for n in p["notes"]]
    lines += [f"note: {n}" for n in result["notes"]]
    lines += [f"unverifiable: {u}" for u in result["unverifiable"]]
    harness = {True: "PASS", False: "FAIL", None: "no verdict"}[result["harness_overall_pass"]]
    ours = "PASS (the artifacts' claims meet this project's rules; nothing recomputed: no history)" \
        if result["pass"] else "FAIL"
    if result["disagrees"]:
        lines.append(f"the harness said PASS; by this project's rules: FAIL ({len(result['reasons'])} reason(s))")
    lines.append(f"VERDICT {ours} (harness: {harness})")
    return "\n".join(lines)
