"""The campaign's report: one self-contained HTML page (``index.html``) and the data of its plots
(``report-data.json``), both in the evidence directory.

The page says the verdict first, then every red check's cause in one line (the known findings of the release
marked as such, from the summary's ``reds``), each check's figures as numerator/denominator, the plots, the
provenance and the play times. The plots are drawn from the checks' histories (``verify.series``), never from the
figures the modules claimed, as inline SVG (``verify.plots``); what each plot draws is written to
``report-data.json`` with the op index of every point, so a reader can check any of them against the history.
Every value that comes from the evidence is HTML-escaped; the page loads nothing (no script, font, image or style
from anywhere).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from verify import series
from verify.evidence import write_json_atomic
from verify.summary import figure_problems, now

REPORT_DATA = "report-data.json"
DATA_SCHEMA = "aimemory.swarm/report-data/v1"
CUT = 240


def _plots() -> Any:
    """verify.plots (matplotlib), imported only when a report is drawn: init and summarize never need it."""
    from verify import plots

    return plots


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def one_line(text: str, limit: int = CUT) -> str:
    flat = re.sub(r"\s+", " ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "-", name.lower())


# ---------------------------------------------------------------------------------------------- the causes


def red_causes(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One line per red check (its first reason, how many more) and per campaign-level reason; each says whether
    it is a known finding of the release (every reason of it matched one) and which. Unexplained ones first."""
    checks = summary.get("checks") or {}
    reds = summary.get("reds") or {}
    known_by_reason: dict[Any, str] = {}
    for k in reds.get("known") or []:  # a reason two findings explain together names both
        known_by_reason[k.get("reason")] = ", ".join(filter(None, (known_by_reason.get(k.get("reason")),
                                                                   k.get("finding"))))
    causes: list[dict[str, Any]] = []
    for name in summary.get("declared_checks") or list(checks):
        entry = checks.get(name) or {}
        if entry.get("status") == "pass":
            continue
        # the summary's reasons of this check include those of check-errors.json (why it could not complete)
        reasons = [r for r in summary.get("reasons") or [] if r.startswith(f"{name}: ")] or \
            [f"{name}: {r}" for r in entry.get("reasons") or []] or [f"{name}: red without a reason"]
        findings = sorted({known_by_reason[r] for r in reasons if r in known_by_reason})
        unexplained = [r for r in reasons if r not in known_by_reason]
        pool = unexplained or reasons
        first = next((r for r in pool if ": could not complete: " in r), pool[0]).split(": ", 1)[-1]
        causes.append({"check": name, "status": entry.get("status", "missing"), "line": one_line(first),
                       "more": len(reasons) - 1, "known": findings, "all_known": bool(findings) and not unexplained})
    prefixes = tuple(f"{n}:" for n in checks)
    for reason in summary.get("reasons") or []:
        if reason.startswith(prefixes):
            continue
        finding = known_by_reason.get(reason)
        causes.append({"check": "", "status": "campaign", "line": one_line(reason), "more": 0,
                       "known": [finding] if finding else [], "all_known": bool(finding)})
    return sorted(causes, key=lambda c: c["all_known"])


def _causes_html(causes: list[dict[str, Any]]) -> str:
    items = []
    for c in causes:
        tag = ""
        if c["all_known"]:
            tag = f' <span class="known">known finding: {esc(", ".join(c["known"]))}</span>'
        elif c["known"]:
            tag = (f' <span class="known">known finding {esc(", ".join(c["known"]))}</span>'
                   ' <span class="unexplained">and unexplained reasons</span>')
        else:
            tag = ' <span class="unexplained">unexplained</span>'
        where = (f'<a href="#check-{esc(_slug(c["check"]))}">{esc(c["check"])}</a> <i>{esc(c["status"])}</i>'
                 if c["check"] else "<i>campaign</i>")
        more = f' <span class="more">(+{c["more"]} more)</span>' if c["more"] else ""
        items.append(f'<li class="cause{" is-known" if c["all_known"] else ""}" data-check="{esc(c["check"])}">'
                     f'{where}: {esc(c["line"])}{more}{tag}</li>')
    return f'<section id="red-causes"><h2>Why it is red</h2><ul>{"".join(items)}</ul></section>'


# ---------------------------------------------------------------------------------------------- figures


def _figure_cells(name: str, fig: dict[str, Any]) -> str:
    num, den = fig.get("numerator"), fig.get("denominator")
    threshold = fig.get("threshold")
    ok = not figure_problems(name, fig) if (threshold is not None or den == 0) else True
    value = fig.get("value")
    shown = f"{value:.4g}" if isinstance(value, (int, float)) else "—"
    need = f"{esc(fig.get('comparison'))} {esc(threshold)}" if threshold is not None else "reported"
    return (f'<tr class="{"pass" if ok else "fail"}"><td>{esc(name)}</td><td class="num">{esc(num)}/{esc(den)}</td>'
            f"<td>{esc(shown)}</td><td>{need}</td></tr>")


def _figures_table(figures: dict[str, Any]) -> str:
    if not figures:
        return "<p class='none'>no figures</p>"
    rows = "".join(_figure_cells(k, f) for k, f in figures.items())
    return ("<table class='figures'><tr><th>figure</th><th>numerator/denominator</th><th>value</th>"
            f"<th>must be</th></tr>{rows}</table>")


# ---------------------------------------------------------------------------------------------- provenance


def _dl(rows: list[tuple[str, Any]]) -> str:
    return "<dl>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows if v not in (None, "", [], {})) \
        + "</dl>"


def provenance_rows(prov: dict[str, Any] | None) -> list[tuple[str, Any]]:
    if not prov:
        return [("provenance", "missing or invalid: see the reasons")]
    binary = prov.get("binary") or {}
    build = prov.get("build") or {}
    source = build.get("source") or {}
    toolchain = build.get("toolchain") or {}
    profile = build.get("profile") or {}
    pg = prov.get("postgres") or {}
    topo = prov.get("topology") or {}
    project = prov.get("project") or {}
    ansible = prov.get("ansible") or {}
    controller = prov.get("controller") or {}
    rows: list[tuple[str, Any]] = [
        ("binary", f"{binary.get('version_output') or '?'} ({binary.get('kind') or '?'})"),
        ("binary sha256", binary.get("sha256")),
        ("binary path", binary.get("path")),
        ("fault switches", ", ".join(binary.get("faults") or []) or "none"),
    ]
    if build:
        what = (f"crate {source.get('name')} {source.get('version')} (sha256 {source.get('sha256')})"
                if source.get("kind") == "crate" else
                f"git {source.get('url') or build.get('git_url')} {source.get('ref') or ''} "
                f"{source.get('commit') or build.get('git_commit') or ''}")
        rows += [("build source", what),
                 ("build toolchain", toolchain.get("rustc") or toolchain.get("name")),
                 ("build profile", f"{profile.get('name')} {json.dumps(profile.get('env') or {}, sort_keys=True)}"),
                 ("build features", ", ".join(build.get("features") or [])),
                 ("build", f"{'cached' if build.get('cached') else 'built'} {build.get('built_at') or ''}, "
                           f"{build.get('build_seconds')} s, key {build.get('key')}")]
    if pg:
        dbs = "; ".join(f"{name}: pgvector {d.get('vector')}, AGE {d.get('age')}"
                        for name, d in sorted((pg.get("databases") or {}).items()))
        rows += [("PostgreSQL", pg.get("server_version")), ("extensions", dbs)]
    hosts = ", ".join(f"{h.get('name')} ({'/'.join(h.get('groups') or [])} {h.get('private_ip')})"
                      for h in topo.get("hosts") or [])
    rows += [("provider", prov.get("provider")),
             ("topology", f"N = {topo.get('n')}, W = {topo.get('w')}"),
             ("hosts", hosts),
             ("project commit", f"{project.get('git_commit')}{' (dirty)' if project.get('git_dirty') else ''}, "
                                f"collection {project.get('collection_version')}"),
             ("ansible", f"core {ansible.get('ansible_core')}, ansible {ansible.get('ansible')}"),
             ("controller", f"{controller.get('hostname')}, Python {controller.get('python')}"),
             ("settings", ", ".join(f"{k}={v}" for k, v in sorted((prov.get("settings") or {}).items()))),
             ("known findings of the release", ", ".join(f.get("id", "?") for f in
                                                         (prov.get("expectations") or {}).get("known_findings")
                                                         or [])),
             ("recorded", prov.get("recorded_at"))]
    return rows


# ---------------------------------------------------------------------------------------------- the page

CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222;padding:0 1em}
h1{margin:.2em 0}#verdict{padding:.8em 1em;border-radius:6px;color:#fff}
#verdict.green{background:#2a8a3e}#verdict.red{background:#b03a2e}
#verdict p{margin:.3em 0}.cause{margin:.25em 0}.known{background:#f6e7b4;padding:0 .3em;border-radius:3px}
.unexplained{background:#f4c7c3;padding:0 .3em;border-radius:3px}.more{color:#666}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;
text-align:left}td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
tr.pass td:first-child{border-left:4px solid #2a8a3e}tr.fail td:first-child{border-left:4px solid #b03a2e}
.status-pass{color:#2a8a3e;font-weight:bold}.status-fail,.status-other{color:#b03a2e;font-weight:bold}
section.check{border-top:2px solid #ddd;margin-top:1.5em}figure.plot{margin:1em 0}
figure.plot svg{max-width:100%;height:auto}figcaption{font-size:.9em;color:#444}
dl{display:grid;grid-template-columns:14em 1fr;gap:.2em 1em}dt{font-weight:bold}dd{margin:0;word-break:break-all}
pre{white-space:pre-wrap;word-break:break-all;font-size:.8em;background:#f7f7f7;padding:.5em}
"""


def _caption(plot: str, data: dict[str, Any]) -> str:
    if plot == "latency":
        a, n = data["acknowledged"], data["not_acknowledged"]
        return (f"{a['count']} acknowledged: p50 {a['p50']} ms, p90 {a['p90']} ms, p99 {a['p99']} ms, max {a['max']} "
                f"ms; {n['count']} not acknowledged (fail or unknown)"
                + (f": p50 {n['p50']} ms, max {n['max']} ms" if n["count"] else "") + ".")
    if plot == "convergence":
        w = data["per_write"]
        nodes = "; ".join(f"{node}: p50 {s['p50']} ms, p99 {s['p99']} ms, never seen {s['never']}"
                          for node, s in data["per_node"].items())
        return (f"From each acknowledgement to the first read that showed the write on the node (resolution: the "
                f"reads' schedule). Per write (slowest node): {w['count']} of {w['writes']} seen everywhere, p50 "
                f"{w['p50']} ms, p99 {w['p99']} ms, max {w['max']} ms, never everywhere {w['never']}. {nodes}.")
    if plot == "faults":
        parts = [f"{i['fault']} {i['node']} {i['start_s']} to {i['end_s']} s"
                 f"{'' if i['healed'] else ' never healed'}: {i['ops_during']['ok']} acknowledged, "
                 f"{i['ops_during']['fail'] + i['ops_during']['info']} not" for i in data["intervals"]]
        return "Each fault from injection (when it took effect) to its heal. " + "; ".join(parts) + "." \
            if parts else "No fault was injected."
    parts = [f"{klass}: {e['numerator']}/{e['denominator']}" for klass, e in data["classes"].items()]
    return "Bound per class (min present / acknowledged, summed over cycles): " + "; ".join(parts) + "."


def _check_section(name: str, entry: dict[str, Any], charts: dict[str, str], data: dict[str, Any],
                   doc: dict[str, Any] | None) -> str:
    status = entry.get("status", "missing")
    cls = "status-pass" if status == "pass" else "status-fail"
    reasons = "".join(f"<li>{esc(r)}</li>" for r in entry.get("reasons") or [])
    figs = []
    for plot, svg in charts.items():
        figs.append(f'<figure class="plot" data-plot="{esc(plot)}" data-check="{esc(name)}">'
                    f"<h3>{esc(_plots().TITLES[plot])}</h3>{svg}<figcaption>{esc(_caption(plot, data[plot]))}"
                    "</figcaption></figure>")
    when = (f"<p>history: {len(doc.get('history') or [])} ops, {esc(doc.get('started_at'))} → "
            f"{esc(doc.get('ended_at'))}, checker {esc(doc.get('kind'))}</p>") if isinstance(doc, dict) else \
        "<p class='none'>no history to plot</p>"
    return (f'<section class="check" id="check-{esc(_slug(name))}" data-check="{esc(name)}">'
            f'<h2>{esc(name)} <span class="{cls}">{esc(status.upper())}</span></h2>{when}'
            f'{"<ul class=reasons>" + reasons + "</ul>" if reasons else ""}'
            f'{_figures_table(entry.get("figures") or {})}{"".join(figs)}'
            f'<p><a href="{esc(entry.get("file") or name + ".json")}">{esc(entry.get("file") or name + ".json")}</a>'
            f' (sha256 {esc(entry.get("sha256"))})</p></section>')


def render(summary: dict[str, Any], docs: dict[str, Any], charts: dict[str, dict[str, str]],
           data: dict[str, dict[str, Any]], files: list[str], extra_sections: list[str] | None = None) -> str:
    green = bool(summary.get("overall_pass"))
    checks = summary.get("checks") or {}
    declared = summary.get("declared_checks") or list(checks)
    passed = sum(1 for n in declared if (checks.get(n) or {}).get("status") == "pass")
    power = summary.get("detection_power") or {}
    causes = [] if green else red_causes(summary)
    known = sum(1 for c in causes if c["all_known"])
    headline = (f"{passed} of {len(declared)} declared checks pass" +
                ("" if green else f"; {len(causes)} cause(s) of red, {known} of them known findings of the release"))
    verdict = "GREEN" if green else "RED"
    rows = []
    for name in declared:
        entry = checks.get(name) or {"status": "missing"}
        status = entry.get("status", "missing")
        figs = ", ".join(f"{k} {f.get('numerator')}/{f.get('denominator')}" for k, f in
                         (entry.get("figures") or {}).items())
        rows.append(f'<tr><td><a href="#check-{esc(_slug(name))}">{esc(name)}</a></td>'
                    f'<td class="{"status-pass" if status == "pass" else "status-fail"}">{esc(status)}</td>'
                    f"<td>{esc(figs)}</td><td>{esc(', '.join(charts.get(name, {})) or '—')}</td></tr>")
    plays = (summary.get("plays") or {}).get("plays") or []
    play_rows = "".join(f"<tr><td>{esc(p.get('name'))}</td><td class='num'>{esc(p.get('wall_seconds'))}</td>"
                        f"<td>{'failed' if p.get('failed') else 'ok'}</td></tr>" for p in plays)
    total = round(sum(float(p.get("wall_seconds") or 0) for p in plays), 1)
    sections = "".join(_check_section(n, checks.get(n) or {"status": "missing"}, charts.get(n, {}), data.get(n, {}),
                                      docs.get(n)) for n in declared)
    links = "".join(f'<li><a href="{esc(f)}">{esc(f)}</a></li>' for f in files)
    campaign = summary.get("campaign_id", "?")
    posture = esc(summary.get("posture") or "not recorded")
    not_judged = "".join(f'<p class="not-judged">not judged: {esc(k)}: {esc(v)}</p>'
                         for k, v in (summary.get("not_judged") or {}).items())
    power_line = (f"Detection power for a peer losing 1 replicated write in "
                  f"{round(1 / power['loss_rate']) if power.get('loss_rate') else '?'}: {power.get('power')} "
                  f"(target {power.get('target')}; weakest node verified {power.get('weakest_node_observations')} "
                  "replicated writes).") if power else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(verdict)}: {esc(campaign)}</title><style>{CSS}</style></head>
<body>
<header id="verdict" class="{verdict.lower()}" data-verdict="{verdict.lower()}">
<h1>{verdict}: campaign {esc(campaign)}</h1>
<p>{esc(headline)}.</p><p>{esc(power_line)}</p>
<p>completed {esc(summary.get("completed_at"))}; binary: {esc(((summary.get("provenance") or {}).get("binary") or {})
                                                            .get("version_output"))}</p>
<p id="posture">write-attestation posture: <strong>{posture}</strong></p>{not_judged}
</header>
{"" if green else _causes_html(causes)}
{"".join(extra_sections or [])}
<section id="checks"><h2>Checks</h2><table><tr><th>check</th><th>verdict</th><th>figures (numerator/denominator)</th>
<th>plots</th></tr>{"".join(rows)}</table></section>
<section id="provenance"><h2>Provenance</h2>{_dl(provenance_rows(summary.get("provenance")))}
<details><summary>provenance.json as recorded</summary><pre>{esc(json.dumps(summary.get("provenance"), indent=2,
                                                                             sort_keys=True))}</pre></details>
</section>
{sections}
<section id="plays"><h2>Play times</h2><table><tr><th>play</th><th>seconds</th><th></th></tr>{play_rows}
<tr><td>total</td><td class="num">{esc(total)}</td><td></td></tr></table></section>
<section id="files"><h2>Evidence files</h2><ul>{links}</ul>
<p>The plots' data: <a href="{REPORT_DATA}">{REPORT_DATA}</a> (every point with the op index of the history it
comes from).</p></section>
</body></html>
"""


def _pinned(evidence_dir: Path) -> dict[str, Any]:
    try:
        campaign = json.loads((evidence_dir / "campaign.json").read_text())
    except (OSError, ValueError):
        return {}
    return (campaign.get("checks") or {}) if isinstance(campaign, dict) else {}


def load_docs(evidence_dir: Path, names: list[str]) -> dict[str, Any]:
    docs: dict[str, Any] = {}
    for name in names:
        try:
            doc = json.loads((evidence_dir / f"{name}.json").read_text())
        except (OSError, ValueError):
            doc = None
        docs[name] = doc if isinstance(doc, dict) and isinstance(doc.get("history"), list) else None
    return docs


def check_data(evidence_dir: Path, summary: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Every declared check's evidence document and its plots' series, from its history."""
    names = summary.get("declared_checks") or list(summary.get("checks") or {})
    docs = load_docs(evidence_dir, names)
    pins = _pinned(evidence_dir)
    data: dict[str, dict[str, Any]] = {}
    for name, doc in docs.items():
        if doc is None:
            continue
        pinned = pins.get(name) or {}
        kind = pinned.get("kind") or doc.get("kind")
        params = {**(doc.get("params") or {}), **(pinned.get("params") or {})}
        try:
            data[name] = series.plot_data(str(kind), doc["history"], params)
        except (KeyError, TypeError, ValueError) as exc:  # a history too damaged to plot is said so, not hidden
            data[name] = {}
            doc.setdefault("_plot_error", str(exc))
    return docs, data


def draw(data: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    plots = _plots()
    charts: dict[str, dict[str, str]] = {}
    for k, (name, plots_of) in enumerate(data.items()):
        charts[name] = {plot: plots.RENDER[plot](series_data, f"c{k}-{plot}", name)
                        for plot, series_data in plots_of.items()}
    return charts


def write_report(evidence_dir: Path, extra_sections: list[str] | None = None) -> Path:
    summary = json.loads((evidence_dir / "campaign-summary.json").read_text())
    docs, data = check_data(evidence_dir, summary)
    charts = draw(data)
    write_json_atomic(evidence_dir / REPORT_DATA, {
        "schema": DATA_SCHEMA, "campaign_id": summary.get("campaign_id"), "generated_at": now(),
        "note": "The series each plot of index.html draws, computed from the checks' histories (verify/series.py); "
                "every row names the op index it comes from.",
        "checks": {name: {"file": f"{name}.json",
                          "sha256": ((summary.get("checks") or {}).get(name) or {}).get("sha256"),
                          "plots": plots_of,
                          "marks": {p: _plots().expected_marks(p, d) for p, d in plots_of.items()}}
                   for name, plots_of in data.items()}})
    files = sorted(p.name for p in evidence_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    out = evidence_dir / "index.html"
    text = render(summary, docs, charts, data, files, extra_sections)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text)
    tmp.replace(out)
    return out
