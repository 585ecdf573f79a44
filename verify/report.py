"""A self-contained HTML page of a campaign's verdict (every value HTML-escaped)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any


def render(summary: dict[str, Any], files: list[str]) -> str:
    esc = html.escape
    verdict = "PASS" if summary.get("overall_pass") else "FAIL"
    rows = []
    for name, entry in (summary.get("checks") or {}).items():
        figs = "<br>".join(f"{esc(k)}: {f['numerator']}/{f['denominator']}"
                           + (f" ({f['comparison']} {f['threshold']})" if f.get("threshold") is not None else "")
                           for k, f in (entry.get("figures") or {}).items())
        rows.append(f"<tr><td>{esc(name)}</td><td class='{esc(entry['status'])}'>{esc(entry['status'])}</td>"
                    f"<td>{figs}</td><td>{'<br>'.join(esc(r) for r in entry.get('reasons', []))}</td></tr>")
    links = "".join(f"<li><a href='{esc(f)}'>{esc(f)}</a></li>" for f in files)
    prov = esc(json.dumps(summary.get("provenance"), indent=2))
    reasons = "".join(f"<li>{esc(r)}</li>" for r in summary.get("reasons", []))
    not_judged = "".join(f"<p>not judged: {esc(k)}: {esc(v)}</p>" for k, v in (summary.get("not_judged") or {}).items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{esc(summary['campaign_id'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{border:1px solid #ccc;padding:4px;vertical-align:top}}
.pass{{color:#070}}.fail,.missing,.empty,.malformed,.schema_invalid,.recomputed_mismatch,.pin_mismatch{{color:#b00}}</style></head>
<body><h1>{esc(summary['campaign_id'])}: <span class="{verdict.lower()}">{verdict}</span></h1>
<p>completed {esc(summary.get('completed_at', ''))}; write-attestation posture:
<b>{esc(summary.get('posture') or 'not recorded')}</b></p>{not_judged}<ul>{reasons}</ul>
<table><tr><th>check</th><th>status</th><th>figures</th><th>reasons</th></tr>{''.join(rows)}</table>
<h2>Provenance</h2><pre>{prov}</pre><h2>Evidence files</h2><ul>{links}</ul></body></html>
"""


def write_report(evidence_dir: Path) -> Path:
    summary = json.loads((evidence_dir / "campaign-summary.json").read_text())
    files = sorted(p.name for p in evidence_dir.glob("*.json"))
    out = evidence_dir / "index.html"
    out.write_text(render(summary, files))
    return out
