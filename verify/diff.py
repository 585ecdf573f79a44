"""``python -m verify diff OLDER NEWER``: two campaigns side by side.

Both are judged again from their evidence (``verify.summary.summarize``, never their stored summary), and their
figures are computed from the histories (``verify.series``): per check the write latency (p50, p99 of the
acknowledged writes), the time to converge per write (p99, max, writes never seen everywhere) and, for chaos,
each class's convergence bound. A regression is: the campaign or a check going from green to red, a check of A
missing from B, a p99 latency or time to converge that grew beyond the tolerance (relative *and* absolute, so
a 2-core machine's noise on small numbers is not a regression), a write never seen everywhere that A did not
have, a bound that fell. Exit 0: no regression; 1: regressions; 2: a campaign cannot be judged.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from verify import series
from verify.report import load_docs
from verify.summary import summarize


@dataclass
class Tolerance:
    relative: float = 0.5  # a figure may grow by half ...
    latency_ms: float = 20.0  # ... and by this much (latency) before it is a regression
    converge_ms: float = 1000.0  # ... or by this much (time to converge)
    bound: float = 0.001  # a bound may not fall by more than this


@dataclass
class Change:
    kind: str  # regression | improvement | changed | only_in_a | only_in_b
    check: str
    what: str
    a: Any
    b: Any
    note: str = ""


def figures_of(evidence_dir: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(the summary recomputed from the evidence, per check the figures that are compared). A directory holding
    only a ``campaign-summary.json`` (a summary kept without its evidence) is read as it says, marked so."""
    if not (evidence_dir / "campaign.json").is_file() and (evidence_dir / "campaign-summary.json").is_file():
        stored = json.loads((evidence_dir / "campaign-summary.json").read_text())
        stored.setdefault("declared_checks", list(stored.get("checks") or {}))
        stored["not_judged_again"] = True
        return stored, {}
    summary = summarize(evidence_dir)
    names = summary["declared_checks"]
    docs = load_docs(evidence_dir, names)
    out: dict[str, dict[str, Any]] = {}
    for name, doc in docs.items():
        if doc is None:
            continue
        data = series.plot_data(str(doc.get("kind")), doc["history"], doc.get("params") or {})
        figs: dict[str, Any] = {}
        if "latency" in data:
            figs["latency p50 ms"] = data["latency"]["acknowledged"]["p50"]
            figs["latency p99 ms"] = data["latency"]["acknowledged"]["p99"]
        if "convergence" in data:
            per_write = data["convergence"]["per_write"]
            figs["time to converge p99 ms"] = per_write["p99"]
            figs["time to converge max ms"] = per_write["max"]
            figs["writes never seen everywhere"] = per_write["never"]
        for klass, entry in (data.get("bounds") or {}).get("classes", {}).items():
            num, den = entry.get("numerator"), entry.get("denominator")
            figs[f"bound {klass}"] = round(num / den, 6) if den else None
            figs[f"bound {klass} n/d"] = f"{num}/{den}"
        out[name] = figs
    return summary, out


def _grew(a: Any, b: Any, relative: float, absolute: float) -> bool:
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > a * (1 + relative) \
        and b - a > absolute


def compare(a_dir: Path, b_dir: Path, tol: Tolerance | None = None) -> dict[str, Any]:
    tol = tol or Tolerance()
    a_sum, a_figs = figures_of(a_dir)
    b_sum, b_figs = figures_of(b_dir)
    changes: list[Change] = []
    a_green, b_green = a_sum["overall_pass"], b_sum["overall_pass"]
    if a_green != b_green:
        changes.append(Change("regression" if a_green else "improvement", "", "verdict",
                              "GREEN" if a_green else "RED", "GREEN" if b_green else "RED"))
    a_checks, b_checks = a_sum["checks"], b_sum["checks"]
    for name in a_sum["declared_checks"]:
        if name not in b_checks:
            changes.append(Change("regression", name, "check", a_checks[name]["status"], None,
                                  "declared in A, not in B: what it covered is no longer judged"))
            continue
        sa, sb = a_checks[name]["status"], b_checks[name]["status"]
        if sa != sb:
            kind = "regression" if sa == "pass" else "improvement" if sb == "pass" else "changed"
            changes.append(Change(kind, name, "status", sa, sb, "; ".join(b_checks[name]["reasons"][:2])[:300]))
        if name not in a_figs or name not in b_figs:  # no history on one side: its status says why
            continue
        fa, fb = a_figs[name], b_figs[name]
        for what in sorted(set(fa) | set(fb)):
            va, vb = fa.get(what), fb.get(what)
            if va == vb or what.endswith(" n/d"):
                continue
            kind, note = "changed", ""
            if what.startswith(("latency p99", "time to converge")):
                slack = tol.latency_ms if what.startswith("latency") else tol.converge_ms
                if _grew(va, vb, tol.relative, slack):
                    kind, note = "regression", f"beyond +{tol.relative:.0%} and +{slack:g} ms"
                elif _grew(vb, va, tol.relative, slack):
                    kind = "improvement"
            elif what == "writes never seen everywhere" and isinstance(vb, int):
                kind = "regression" if vb > (va or 0) else "improvement"
            elif what.startswith("bound "):
                if isinstance(vb, (int, float)) and isinstance(va, (int, float)):
                    kind = "regression" if vb < va - tol.bound else "improvement" if vb > va + tol.bound else \
                        "changed"
                    note = f"{fa.get(what + ' n/d')} -> {fb.get(what + ' n/d')}"
                elif vb is None and va is not None:
                    kind, note = "regression", ("nothing acknowledged: no bound" if what in fb
                                                else "the class did not run in the newer campaign")
            changes.append(Change(kind, name, what, va, vb, note))
    for name in b_sum["declared_checks"]:
        if name not in a_checks:
            changes.append(Change("only_in_b", name, "check", None, b_checks[name]["status"]))
    regressions = [c for c in changes if c.kind == "regression"]
    release = None
    try:  # the release-level view (known findings, expectations, MCP tools) of verify/matrix.py, where it exists
        from verify import matrix as release_matrix  # type: ignore[attr-defined]

        release = release_matrix.diff(a_dir, b_dir)
    except (ImportError, AttributeError, OSError, KeyError, TypeError, ValueError):
        release = None
    return {"release": release,
            "a": {"dir": str(a_dir), "campaign_id": a_sum["campaign_id"], "green": a_green,
                  "checks": len(a_sum["declared_checks"]), "judged_again": not a_sum.get("not_judged_again")},
            "b": {"dir": str(b_dir), "campaign_id": b_sum["campaign_id"], "green": b_green,
                  "checks": len(b_sum["declared_checks"]), "judged_again": not b_sum.get("not_judged_again")},
            "tolerance": asdict(tol), "changes": [asdict(c) for c in changes], "regressions": len(regressions)}


def _v(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "—" if value is None else str(value)


def text(result: dict[str, Any]) -> str:
    a, b = result["a"], result["b"]
    lines = [f"verify diff: {a['campaign_id']} ({'GREEN' if a['green'] else 'RED'}, {a['checks']} checks) -> "
             f"{b['campaign_id']} ({'GREEN' if b['green'] else 'RED'}, {b['checks']} checks)"]
    for side in (a, b):
        if not side.get("judged_again", True):
            lines.append(f"(only {side['dir']}/campaign-summary.json: read as stored, not judged again)")
    if result.get("release"):
        from verify import matrix as release_matrix  # type: ignore[attr-defined]

        lines += release_matrix.diff_text(result["release"]).rstrip("\n").splitlines()
    order = {"regression": 0, "only_in_b": 1, "improvement": 2, "changed": 3}
    for c in sorted(result["changes"], key=lambda c: order.get(c["kind"], 9)):
        where = f"{c['check']}: " if c["check"] else ""
        note = f"  ({c['note']})" if c["note"] else ""
        lines.append(f"{c['kind'].upper():12} {where}{c['what']} {_v(c['a'])} -> {_v(c['b'])}{note}")
    lines.append(f"RESULT: {result['regressions']} regression(s)" if result["regressions"] else
                 "RESULT: no regression")
    return "\n".join(lines)


def html_section(result: dict[str, Any]) -> str:
    """The diff as a section of a report page (every value escaped)."""
    esc = html.escape
    a, b = result["a"], result["b"]
    rows = "".join(f'<tr class="{esc(c["kind"])}"><td>{esc(c["kind"])}</td><td>{esc(c["check"])}</td>'
                   f'<td>{esc(c["what"])}</td><td>{esc(_v(c["a"]))}</td><td>{esc(_v(c["b"]))}</td>'
                   f'<td>{esc(c["note"])}</td></tr>' for c in result["changes"])
    verdict = f"{result['regressions']} regression(s)" if result["regressions"] else "no regression"
    return (f'<section id="diff" data-regressions="{result["regressions"]}"><h2>Changes since '
            f'{esc(str(a["campaign_id"]))}: {esc(verdict)}</h2><p>{esc(str(a["campaign_id"]))} '
            f'({"GREEN" if a["green"] else "RED"}) → {esc(str(b["campaign_id"]))} '
            f'({"GREEN" if b["green"] else "RED"}); tolerance {esc(json.dumps(result["tolerance"]))}</p>'
            "<table><tr><th>change</th><th>check</th><th>figure</th><th>before</th><th>after</th><th></th></tr>"
            f"{rows}</table></section>")


def page(result: dict[str, Any]) -> str:
    from verify.report import CSS

    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" '
            f"content=\"default-src 'none'; style-src 'unsafe-inline'\"><title>diff</title><style>{CSS}"
            "tr.regression td{background:#f4c7c3}tr.improvement td{background:#d5efd9}</style></head><body>"
            f"{html_section(result)}</body></html>\n")
