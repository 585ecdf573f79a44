"""python -m verify init | provenance | summarize | report | tamper | matrix | diff | import-shipgate | soak."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from verify import matrix as release_matrix
from verify.evidence import update_latest, write_json_atomic
from verify.provenance import build, load_facts
from verify.report import write_report
from verify.summary import main_summarize, now
from verify.tamper import tamper
from verify.tools import TOOLS, add_tool_parsers, diff_section, run_tool


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verify", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("init", help="open an evidence directory and declare the campaign's checks")
    p.add_argument("--evidence-dir", type=Path, required=True)
    p.add_argument("--campaign-id", required=True)
    p.add_argument("--declare", help="comma-separated check names (default: those of --declare-json)")
    p.add_argument("--declare-json", help="per check its checker kind and pinned parameters, "
                                          "{name: {kind, params}}: JSON text, or a file holding it")
    p = sub.add_parser("provenance", help="record provenance from the playbook's facts")
    p.add_argument("--evidence-dir", type=Path, required=True)
    p.add_argument("--facts", type=Path, required=True)
    p = sub.add_parser("summarize", help="compute campaign-summary.json (exit 0 green, 1 red)")
    p.add_argument("--evidence-dir", type=Path, required=True)
    p = sub.add_parser("report", help="render index.html (and report-data.json) from the evidence")
    p.add_argument("--evidence-dir", type=Path, required=True)
    p.add_argument("--against", type=Path, help="an earlier campaign's evidence: add a 'changes since' section")
    add_tool_parsers(sub)
    p = sub.add_parser("tamper", help="corrupt copies of a green campaign's evidence, one seeded corruption each, "
                                      "and name every corruption the verdict does not catch (exit 1 if any)")
    p.add_argument("--evidence-dir", type=Path, required=True)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("matrix", help="the release x check matrix of campaigns (JSON, markdown, README table)")
    p.add_argument("evidence_dirs", type=Path, nargs="+")
    p.add_argument("--runs", type=Path, help="wall times measured around each command (scripts/release-matrix)")
    p.add_argument("--json", type=Path, dest="json_out")
    p.add_argument("--markdown", type=Path)
    p.add_argument("--readme", type=Path, help="replace these releases' rows in the README's certification table")
    args = parser.parse_args(argv)
    if args.cmd in TOOLS:
        return run_tool(args)
    try:
        if args.cmd == "init":
            if (args.evidence_dir / "campaign.json").exists():
                print(f"{args.evidence_dir} already holds a campaign: evidence is never overwritten", file=sys.stderr)
                return 2
            declarations = declarations_of(args.declare_json) if args.declare_json is not None else None
            if args.declare is None and declarations is None:
                print("verify init: --declare or --declare-json is required", file=sys.stderr)
                return 2
            checks = ([c.strip() for c in args.declare.split(",") if c.strip()] if args.declare is not None
                      else list(declarations or {}))
            if declarations is not None and set(declarations) != set(checks):
                print(f"verify init: --declare names {sorted(checks)} but --declare-json pins "
                      f"{sorted(declarations)}", file=sys.stderr)
                return 2
            doc: dict[str, Any] = {"campaign_id": args.campaign_id, "declared_checks": checks, "started_at": now()}
            if declarations is not None:
                doc["checks"] = declarations
            write_json_atomic(args.evidence_dir / "campaign.json", doc)
            update_latest(args.evidence_dir.parent, args.evidence_dir)
            return 0
        if args.cmd == "provenance":
            write_json_atomic(args.evidence_dir / "provenance.json", build(load_facts(args.facts)))
            return 0
        if args.cmd == "summarize":
            return main_summarize(args.evidence_dir)
        if args.cmd == "tamper":
            result = tamper(args.evidence_dir, count=args.count, seed=args.seed)
            print(json.dumps(result, indent=1))
            print(f"{result['caught']} of {result['corruptions']} corruptions caught", file=sys.stderr)
            return 1 if result["missed"] else 0
        if args.cmd == "matrix":
            runs = json.loads(args.runs.read_text()) if args.runs else None
            doc = release_matrix.matrix(args.evidence_dirs, runs)
            if args.json_out:
                write_json_atomic(args.json_out, doc)
            table = release_matrix.markdown(doc)
            if args.markdown:
                args.markdown.write_text(table)
            if args.readme:
                release_matrix.update_readme(args.readme, doc)
            print(table, end="")
            return 0
        extra = [diff_section(args.against, args.evidence_dir)] if args.against else None
        print(write_report(args.evidence_dir, extra))
        return 0
    except (OSError, ValueError, KeyError) as exc:
        print(f"verify {args.cmd}: {exc}", file=sys.stderr)
        return 2


def declarations_of(value: str) -> dict[str, Any]:
    """``{name: {kind, params}}`` from JSON text or a file holding it; ValueError when it is not that shape."""
    text = value if value.lstrip().startswith("{") else Path(value).read_text()
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("--declare-json must be an object of check names")
    for name, entry in doc.items():
        if not isinstance(entry, dict) or set(entry) != {"kind", "params"} or not isinstance(entry["kind"], str) \
                or not entry["kind"] or not isinstance(entry["params"], dict):
            raise ValueError(f"--declare-json: {name!r} must be {{kind: <checker kind>, params: {{...}}}}")
    return doc


if __name__ == "__main__":
    sys.exit(main())
