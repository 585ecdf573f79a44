"""The release matrix (release x check) from campaigns' evidence, the README's certification table, and the
difference between two releases' campaigns.

``python -m verify matrix <evidence dir>... [--runs runs.json] [--json out] [--markdown out] [--readme README.md]``
reads each campaign's ``campaign-summary.json`` (and its provenance and play timings) and writes one row per
campaign: the release (with its write-attestation posture), the date, the build times, the wall time, every
check's verdict with its known findings and failing figures, and the verdict. ``--readme`` replaces the rows of
those releases in the README's table between ``<!-- certification-table:begin -->`` and ``end`` (the rows of
other releases stay). ``--runs`` is what ``scripts/release-matrix`` measured around each command (wall times of the
build and of the campaign), which the evidence itself cannot know.

``python -m verify diff <older> <newer>`` says what changed between two campaigns: verdicts that changed, checks
declared by one only, figures that moved, known findings that appeared or went away, expectations that differ.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from verify.summary import now

SCHEMA = "aimemory.swarm/release-matrix/v1"
BEGIN, END = "<!-- certification-table:begin -->", "<!-- certification-table:end -->"
REGISTRY = Path(__file__).resolve().parents[1] / "inventory" / "group_vars" / "all" / "scenarios.yml"


def registry_columns(path: Path = REGISTRY) -> list[tuple[str, str]]:
    """The README's columns after release, date, build and wall time: (header, check name or pattern), one per
    scenario of the registry (its ``label``; a per-peer scenario's checks are ``<name>-*``), in its order."""
    scenarios = (yaml.safe_load(path.read_text()) or {}).get("campaign_scenarios") or {}
    return [(str(entry["label"]), f"{name}-*" if entry.get("runs_on") == "peers" else name)
            for name, entry in scenarios.items()]


COLUMNS: list[tuple[str, str]] = registry_columns()
HEADER = ("| release | date | build: cold / cached | campaign wall time | "
          + " | ".join(column[0] for column in COLUMNS) + " | verdict |")


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _checks_of(summary: dict[str, Any], pattern: str) -> list[str]:
    names = summary.get("declared_checks") or []
    if pattern.endswith("*"):
        return sorted(n for n in names if n.startswith(pattern[:-1]))
    return [pattern] if pattern in names else []


def check_cell(summary: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """One column of a row: the verdict of its check(s), their known findings, failing figures, first reason."""
    if not names:
        return {"verdict": "not run", "checks": [], "known": [], "figures": {}, "reason": ""}
    checks = summary.get("checks") or {}
    known = summary.get("reds", {}).get("known") or []
    statuses = [checks.get(n, {}).get("status", "missing") for n in names]
    findings = sorted({k["finding"] for k in known if k["check"] in names})
    unexplained = [r for r in summary.get("reds", {}).get("unexplained") or []
                   if r.split(":", 1)[0] in names]
    figures: dict[str, str] = {}
    for name in names:
        for fname, fig in (checks.get(name, {}).get("figures") or {}).items():
            if fig.get("threshold") is not None and fig.get("value") is not None and fig["value"] < fig["threshold"] \
                    and fig.get("comparison") == ">=":
                figures.setdefault(fname, f"{fig['numerator']}/{fig['denominator']}")
    if all(s == "pass" for s in statuses):
        verdict = "pass"
    elif findings and not unexplained:
        verdict = "red: known"
    else:
        verdict = "red"
    return {"verdict": verdict, "checks": names, "statuses": dict(zip(names, statuses, strict=True)),
            "known": findings, "figures": figures, "reason": (unexplained or [""])[0][:300]}


def row(evidence_dir: Path, run: dict[str, Any] | None = None) -> dict[str, Any]:
    summary = _load(evidence_dir / "campaign-summary.json")
    if not isinstance(summary, dict):
        raise ValueError(f"{evidence_dir}: no campaign-summary.json (run python -m verify summarize first)")
    prov = summary.get("provenance") or {}
    expect = prov.get("expectations") or {}
    build = prov.get("build") or {}
    plays = (summary.get("plays") or {}).get("plays") or []
    build_play = sum(p["wall_seconds"] for p in plays if p.get("name", "").startswith("Build ai-memory"))
    full_build = build.get("crates_compiled") is not None and build.get("crates_compiled") == build.get("crates_total")
    run = run or {}
    not_judged = prov.get("not_judged") or summary.get("not_judged") or {}
    columns = {header: check_cell(summary, _checks_of(summary, pattern)) for header, pattern in COLUMNS}
    for header, pattern in COLUMNS:
        if pattern in not_judged:
            columns[header] = {"verdict": "not judged", "checks": [], "known": [], "figures": {},
                               "reason": not_judged[pattern]}
    reds = summary.get("reds") or {}
    verdict = ("GREEN" if summary.get("overall_pass") else
               "RED: known findings only" if reds.get("known") and not reds.get("unexplained") else "RED")
    return {
        "release": expect.get("release") or (prov.get("binary") or {}).get("version_output", "unknown"),
        "expectations_source": expect.get("source"),
        "binary": {k: (prov.get("binary") or {}).get(k) for k in ("kind", "version_output", "sha256")},
        "build": {"features": build.get("features"), "profile": (build.get("profile") or {}).get("name"),
                  "toolchain": (build.get("toolchain") or {}).get("release"),
                  "cold_seconds": run.get("build_cold_seconds") or (build.get("build_seconds") if full_build
                                                                    else None),
                  "cached_seconds": run.get("build_cached_seconds") or (round(build_play, 1) if build.get("cached")
                                                                        else None),
                  "cached": build.get("cached")},
        "posture": summary.get("posture"),
        "campaign_id": summary.get("campaign_id"),
        "evidence_dir": str(evidence_dir),
        "date": str(summary.get("completed_at") or "")[:10],
        "wall_seconds": run.get("campaign_wall_seconds") or (
            round(sum(p.get("wall_seconds", 0) for p in plays), 1) if plays else None),
        "wall_measured": "around the command" if run.get("campaign_wall_seconds") else "sum of the plays",
        "checks": columns,
        "verdict": verdict,
        "overall_pass": bool(summary.get("overall_pass")),
        "known_findings": sorted({k["finding"] for k in reds.get("known") or []}),
        "not_reproduced": reds.get("not_reproduced") or [],
        "unexplained": reds.get("unexplained") or [],
    }


def matrix(dirs: list[Path], runs: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    rows = [row(d, (runs or {}).get(d.name) or (runs or {}).get(str(d))) for d in dirs]
    return {"schema": SCHEMA, "generated_at": now(), "columns": [column[0] for column in COLUMNS], "rows": rows}


def _cell_text(cell: dict[str, Any]) -> str:
    text = cell["verdict"]
    if cell["known"]:
        text += f" ({', '.join(cell['known'])})"
    if cell["figures"] and cell["verdict"] != "pass":
        text += ", " + ", ".join(f"{k} {v}" for k, v in sorted(cell["figures"].items())[:2])
    if cell["verdict"] == "red" and cell["reason"]:
        text += f": {cell['reason'][:120]}"
    return text.replace("|", "\\|")


def release_cell(r: dict[str, Any]) -> str:
    build = r["build"]
    parts = [f"crates.io, `{','.join(build['features'] or [])}`" if build.get("features") else "",
             f"{build['toolchain']}" if build.get("toolchain") else "",
             f"profile {build['profile']}" if build.get("profile") else ""]
    text = f"{r['release']} ({', '.join(p for p in parts if p)})" if any(parts) else str(r["release"])
    if r.get("posture"):
        text += f"; posture {r['posture']}"
    return text.replace("|", "\\|")


def markdown_row(r: dict[str, Any]) -> str:
    build = f"{_duration(r['build']['cold_seconds'])} / {_duration(r['build']['cached_seconds'])}"
    cells = [release_cell(r), r["date"], build, _duration(r["wall_seconds"])]
    cells += [_cell_text(r["checks"][column[0]]) for column in COLUMNS]
    cells.append(r["verdict"])
    return "| " + " | ".join(cells) + " |"


def markdown(m: dict[str, Any]) -> str:
    return "\n".join([HEADER, "|" + "---|" * (len(COLUMNS) + 5)] + [markdown_row(r) for r in m["rows"]]) + "\n"


def update_readme(path: Path, m: dict[str, Any]) -> None:
    """Replace the rows of the matrix's releases in the table between the markers (other releases' rows stay, the
    rows ordered by release version)."""
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path} has no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    body, tail = rest.split(END, 1)
    kept: dict[str, str] = {}
    for line in body.strip().splitlines():
        if line.startswith("| ") and not line.startswith("| release ") and not line.startswith("|---"):
            kept[line[2:].split(" ", 1)[0]] = line
    for r in m["rows"]:
        kept[str(r["release"])] = markdown_row(r)

    def order(release: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", release)[:3])

    rows = [kept[k] for k in sorted(kept, key=order)]
    table = "\n".join([HEADER, "|" + "---|" * (len(COLUMNS) + 5), *rows])
    path.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")


def diff(older: Path, newer: Path) -> dict[str, Any]:
    a, b = row(older), row(newer)
    sa, sb = _load(older / "campaign-summary.json") or {}, _load(newer / "campaign-summary.json") or {}
    ca, cb = sa.get("checks") or {}, sb.get("checks") or {}
    changed = {n: {"from": ca[n]["status"], "to": cb[n]["status"]} for n in sorted(set(ca) & set(cb))
               if ca[n]["status"] != cb[n]["status"]}
    moved: dict[str, dict[str, Any]] = {}
    for name in sorted(set(ca) & set(cb)):
        fa, fb = ca[name].get("figures") or {}, cb[name].get("figures") or {}
        for fig in sorted(set(fa) & set(fb)):
            va, vb = fa[fig].get("value"), fb[fig].get("value")
            if va != vb:
                moved[f"{name}.{fig}"] = {"from": f"{fa[fig]['numerator']}/{fa[fig]['denominator']}",
                                          "to": f"{fb[fig]['numerator']}/{fb[fig]['denominator']}",
                                          "value_from": va, "value_to": vb}
    ea = (sa.get("provenance") or {}).get("expectations") or {}
    eb = (sb.get("provenance") or {}).get("expectations") or {}
    expectations = {k: {"from": ea.get(k), "to": eb.get(k)} for k in sorted(set(ea) | set(eb))
                    if k not in ("known_findings", "mcp_profiles", "version_output") and ea.get(k) != eb.get(k)}
    profiles = {p: {"added": sorted(set(eb.get("mcp_profiles", {}).get(p, [])) - set(ea.get("mcp_profiles", {})
                                                                                     .get(p, []))),
                    "removed": sorted(set(ea.get("mcp_profiles", {}).get(p, [])) - set(eb.get("mcp_profiles", {})
                                                                                       .get(p, [])))}
                for p in sorted(set(ea.get("mcp_profiles") or {}) | set(eb.get("mcp_profiles") or {}))}
    return {
        "from": {"release": a["release"], "campaign_id": a["campaign_id"], "verdict": a["verdict"],
                 "posture": a["posture"]},
        "to": {"release": b["release"], "campaign_id": b["campaign_id"], "verdict": b["verdict"],
               "posture": b["posture"]},
        "verdicts_changed": changed,
        "only_in_from": sorted(set(ca) - set(cb)), "only_in_to": sorted(set(cb) - set(ca)),
        "figures_moved": moved,
        "known_findings_appeared": sorted(set(b["known_findings"]) - set(a["known_findings"])),
        "known_findings_gone": sorted(set(a["known_findings"]) - set(b["known_findings"])),
        "expectations_changed": expectations,
        "mcp_tools": {p: v for p, v in profiles.items() if v["added"] or v["removed"]},
    }


def diff_text(d: dict[str, Any]) -> str:
    lines = [f"{d['from']['release']} ({d['from']['verdict']}) -> {d['to']['release']} ({d['to']['verdict']})"]
    if d["from"]["posture"] != d["to"]["posture"]:
        lines.append(f"posture: {d['from']['posture']} -> {d['to']['posture']}")
    lines += [f"verdict {n}: {v['from']} -> {v['to']}" for n, v in d["verdicts_changed"].items()]
    lines += [f"only in {d['from']['release']}: {n}" for n in d["only_in_from"]]
    lines += [f"only in {d['to']['release']}: {n}" for n in d["only_in_to"]]
    lines += [f"figure {n}: {v['from']} -> {v['to']}" for n, v in d["figures_moved"].items()]
    lines += [f"known finding appeared: {f}" for f in d["known_findings_appeared"]]
    lines += [f"known finding gone: {f}" for f in d["known_findings_gone"]]
    lines += [f"expectation {k}: {v['from']} -> {v['to']}" for k, v in d["expectations_changed"].items()]
    lines += [f"MCP profile {p}: +{len(v['added'])} -{len(v['removed'])} tools" for p, v in d["mcp_tools"].items()]
    return "\n".join(lines) + "\n"
