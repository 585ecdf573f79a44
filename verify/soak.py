"""``python -m verify soak DIR...``: many campaigns of one release aggregated into a soak verdict.

Each DIR is one run: this project's evidence directory (judged again from its evidence by ``summarize``, never by
its stored summary, which is only compared), or a ship-gate run directory (judged by ``verify.shipgate``). A DIR
that is missing, empty or holds neither is a run with no evidence and counts as a failure (the ship-gate soak
called 26 such runs green, spec §7.8). The soak is green only when there is at least one run and every run is
green. Reported: the flake rate (red runs / runs), per check its pass rate over all runs (a run without the
check's evidence fails it), wall time per run (plays.json) and the acknowledged write latency across runs, as
nearest-rank percentiles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from verify import series, shipgate
from verify.report import load_docs
from verify.summary import summarize


def run_of(path: Path) -> dict[str, Any]:
    run: dict[str, Any] = {"run": path.name, "dir": str(path), "kind": "none", "green": False, "checks": {},
                           "reasons": [], "wall_seconds": None, "latencies_ms": [], "notes": []}
    if not path.is_dir() or not any(path.iterdir()):
        run["reasons"].append("no evidence: the directory is missing or empty")
        return run
    if (path / "campaign.json").is_file() or (path / "provenance.json").is_file():
        run["kind"] = "campaign"
        summary = summarize(path)
        run["green"] = summary["overall_pass"]
        run["reasons"] = summary["reasons"]
        run["checks"] = {n: e["status"] == "pass" for n, e in summary["checks"].items()}
        plays = (summary.get("plays") or {}).get("plays") or []
        run["wall_seconds"] = round(sum(float(p.get("wall_seconds") or 0) for p in plays), 3) if plays else None
        for doc in load_docs(path, summary["declared_checks"]).values():
            lat = series.latency(doc["history"]) if doc else None
            if lat:
                run["latencies_ms"] += [r["ms"] for r in lat["rows"] if r["outcome"] == "ok"]
        stored = path / "campaign-summary.json"
        if stored.is_file():
            import json

            try:
                said = json.loads(stored.read_text()).get("overall_pass")
            except ValueError:
                said = None
            if said is True and not run["green"]:
                run["notes"].append("its campaign-summary.json says green; judged again from the evidence: red")
        return run
    if (path / "campaign-summary.json").is_file() or any(path.glob("phase*.json")):
        run["kind"] = "ship-gate"
        judged = shipgate.judge_run(path)
        run["green"] = judged["pass"]
        run["reasons"] = judged["reasons"]
        run["checks"] = {name.removesuffix(".json"): p["status"] == "pass" for name, p in judged["phases"].items()}
        if judged["disagrees"]:
            run["notes"].append("the harness said PASS; by this project's rules: FAIL")
        return run
    run["reasons"].append("no evidence: neither a campaign's evidence nor a ship-gate run")
    return run


def aggregate(paths: list[Path]) -> dict[str, Any]:
    runs = [run_of(p) for p in paths]
    names = sorted({n for r in runs for n in r["checks"]})
    per_check = {}
    for name in names:
        passed = sum(1 for r in runs if r["checks"].get(name) is True)
        per_check[name] = {"passed": passed, "runs": len(runs), "pass_rate": round(passed / len(runs), 6)}
    red = [r for r in runs if not r["green"]]
    walls = [r["wall_seconds"] for r in runs if r["wall_seconds"] is not None]
    pooled = [ms for r in runs for ms in r["latencies_ms"]]
    per_run_p99 = [series.percentile(r["latencies_ms"], 99) for r in runs if r["latencies_ms"]]
    return {
        "green": bool(runs) and not red,
        "runs": len(runs), "green_runs": len(runs) - len(red), "red_runs": len(red),
        "no_evidence_runs": sum(1 for r in runs if r["kind"] == "none"),
        "flake_rate": round(len(red) / len(runs), 6) if runs else None,
        "per_check": per_check,
        "flaky_checks": sorted(n for n, c in per_check.items() if 0 < c["passed"] < c["runs"]),
        "wall_seconds": {**series.summary_of(walls), "runs_with_wall_time": len(walls)},
        "write_latency_ms": {"pooled": series.summary_of(pooled),
                             "per_run_p99": series.summary_of([v for v in per_run_p99 if v is not None])},
        "runs_detail": [{k: v for k, v in r.items() if k != "latencies_ms"} for r in runs],
    }


def text(result: dict[str, Any]) -> str:
    lines = []
    for r in result["runs_detail"]:
        why = "; ".join(r["reasons"])[:300]
        lines.append(f"{'GREEN' if r['green'] else 'RED  '}  {r['run']} ({r['kind']})" + (f"  — {why}" if why else "")
                     + "".join(f"  [{n}]" for n in r["notes"]))
    lines.append(f"runs {result['runs']}: {result['green_runs']} green, {result['red_runs']} red "
                 f"({result['no_evidence_runs']} with no evidence); flake rate {result['flake_rate']}")
    for name, c in result["per_check"].items():
        lines.append(f"  {name}: {c['passed']}/{c['runs']} passed")
    if result["flaky_checks"]:
        lines.append(f"flaky checks: {', '.join(result['flaky_checks'])}")
    w, lat = result["wall_seconds"], result["write_latency_ms"]["pooled"]
    lines.append(f"wall time per run (s): p50 {w['p50']}, p90 {w['p90']}, p99 {w['p99']}, max {w['max']} "
                 f"({w['runs_with_wall_time']} runs with play times)")
    lines.append(f"acknowledged write latency across runs (ms): p50 {lat['p50']}, p99 {lat['p99']}, max {lat['max']} "
                 f"({lat['count']} writes); per-run p99: max {result['write_latency_ms']['per_run_p99']['max']}")
    lines.append(f"SOAK {'GREEN' if result['green'] else 'RED'}: "
                 + ("every run green" if result["green"] else f"{result['red_runs']} of {result['runs']} runs red"))
    return "\n".join(lines)
