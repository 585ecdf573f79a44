"""python -m verify init | provenance | summarize | report | diff | import-shipgate | soak (from the checkout)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from verify.evidence import update_latest, write_json_atomic
from verify.provenance import build, load_facts
from verify.report import write_report
from verify.summary import main_summarize, now
from verify.tools import TOOLS, add_tool_parsers, diff_section, run_tool


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
    p = sub.add_parser("report", help="render index.html (and report-data.json) from the evidence")
    p.add_argument("--evidence-dir", type=Path, required=True)
    p.add_argument("--against", type=Path, help="an earlier campaign's evidence: add a 'changes since' section")
    add_tool_parsers(sub)
    args = parser.parse_args(argv)
    if args.cmd in TOOLS:
        return run_tool(args)
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
        extra = [diff_section(args.against, args.evidence_dir)] if args.against else None
        print(write_report(args.evidence_dir, extra))
        return 0
    except (OSError, ValueError, KeyError) as exc:
        print(f"verify {args.cmd}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
