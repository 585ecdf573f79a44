"""python -m verify init | provenance | summarize | report | matrix | diff (run from the repository root)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from verify import matrix as release_matrix
from verify.evidence import update_latest, write_json_atomic
from verify.provenance import build, load_facts
from verify.report import write_report
from verify.summary import main_summarize, now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verify", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("init", help="open an evidence directory and declare the campaign's checks")
    p.add_argument("--evidence-dir", type=Path, required=True)
    p.add_argument("--campaign-id", required=True)
    p.add_argument("--declare", required=True, help="comma-separated check names")
    p = sub.add_parser("provenance", help="record provenance from the playbook's facts")
    p.add_argument("--evidence-dir", type=Path, required=True)
    p.add_argument("--facts", type=Path, required=True)
    p = sub.add_parser("summarize", help="compute campaign-summary.json (exit 0 green, 1 red)")
    p.add_argument("--evidence-dir", type=Path, required=True)
    p = sub.add_parser("report", help="render index.html from campaign-summary.json")
    p.add_argument("--evidence-dir", type=Path, required=True)
    p = sub.add_parser("matrix", help="the release x check matrix of campaigns (JSON, markdown, README table)")
    p.add_argument("evidence_dirs", type=Path, nargs="+")
    p.add_argument("--runs", type=Path, help="wall times measured around each command (scripts/release-matrix)")
    p.add_argument("--json", type=Path, dest="json_out")
    p.add_argument("--markdown", type=Path)
    p.add_argument("--readme", type=Path, help="replace these releases' rows in the README's certification table")
    p = sub.add_parser("diff", help="what changed between two campaigns (two releases)")
    p.add_argument("older", type=Path)
    p.add_argument("newer", type=Path)
    p.add_argument("--json", type=Path, dest="json_out")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "init":
            if (args.evidence_dir / "campaign.json").exists():
                print(f"{args.evidence_dir} already holds a campaign: evidence is never overwritten", file=sys.stderr)
                return 2
            checks = [c.strip() for c in args.declare.split(",") if c.strip()]
            write_json_atomic(args.evidence_dir / "campaign.json",
                              {"campaign_id": args.campaign_id, "declared_checks": checks, "started_at": now()})
            update_latest(args.evidence_dir.parent, args.evidence_dir)
            return 0
        if args.cmd == "provenance":
            write_json_atomic(args.evidence_dir / "provenance.json", build(load_facts(args.facts)))
            return 0
        if args.cmd == "summarize":
            return main_summarize(args.evidence_dir)
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
        if args.cmd == "diff":
            doc = release_matrix.diff(args.older, args.newer)
            if args.json_out:
                write_json_atomic(args.json_out, doc)
            print(release_matrix.diff_text(doc), end="")
            return 0
        print(write_report(args.evidence_dir))
        return 0
    except (OSError, ValueError, KeyError) as exc:
        print(f"verify {args.cmd}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
