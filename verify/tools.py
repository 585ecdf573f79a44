"""The evidence tools of ``python -m verify``: ``diff A B``, ``import-shipgate DIR``, ``soak DIR...`` (README)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from verify import diff, shipgate, soak

TOOLS = ("diff", "import-shipgate", "soak")


def add_tool_parsers(sub: Any) -> None:
    p = sub.add_parser("diff", help="two campaigns side by side (exit 1 on a regression)")
    p.add_argument("older", type=Path, help="the earlier campaign's evidence directory")
    p.add_argument("newer", type=Path, help="the later campaign's evidence directory")
    p.add_argument("--tolerance", type=float, default=diff.Tolerance.relative,
                   help="relative growth of a p99 latency or time to converge allowed (default 0.5)")
    p.add_argument("--latency-slack-ms", type=float, default=diff.Tolerance.latency_ms)
    p.add_argument("--converge-slack-ms", type=float, default=diff.Tolerance.converge_ms)
    p.add_argument("--bound-slack", type=float, default=diff.Tolerance.bound)
    p.add_argument("--exit-zero", action="store_true", help="exit 0 even on a regression (a report, not a gate)")
    p.add_argument("--json", type=Path, dest="json_out", help="also write the comparison as JSON")
    p.add_argument("--html", type=Path, help="also write it as a page (the report section)")
    p = sub.add_parser("import-shipgate", help="judge a ship-gate harness run by this project's rules")
    p.add_argument("dir", type=Path)
    p.add_argument("--faults", default="", help="the fault classes that run declared (comma-separated)")
    p.add_argument("--json", type=Path, help="also write the judgement as JSON")
    p = sub.add_parser("soak", help="aggregate many campaigns into a soak verdict (exit 1 unless every run green)")
    p.add_argument("dirs", type=Path, nargs="+")
    p.add_argument("--json", type=Path, help="also write the aggregate as JSON")


def _write(path: Path | None, obj: Any) -> None:
    if path is not None:
        path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def diff_section(a: Path, b: Path) -> str:
    return diff.html_section(diff.compare(a, b))


def run_tool(args: argparse.Namespace) -> int:
    try:
        if args.cmd == "diff":
            for d in (args.older, args.newer):
                if not (d / "campaign.json").is_file() and not (d / "campaign-summary.json").is_file():
                    print(f"verify diff: {d} holds no campaign (campaign.json or campaign-summary.json)",
                          file=sys.stderr)
                    return 2
            tol = diff.Tolerance(args.tolerance, args.latency_slack_ms, args.converge_slack_ms, args.bound_slack)
            result = diff.compare(args.older, args.newer, tol)
            print(diff.text(result))
            _write(args.json_out, result)
            if args.html is not None:
                args.html.write_text(diff.page(result))
            return 1 if result["regressions"] and not args.exit_zero else 0
        if args.cmd == "import-shipgate":
            if not args.dir.is_dir():
                print(f"verify import-shipgate: {args.dir} is not a directory", file=sys.stderr)
                return 2
            faults = [f.strip() for f in args.faults.split(",") if f.strip()]
            result = shipgate.judge_run(args.dir, faults or None)
            print(shipgate.text(result))
            _write(args.json, result)
            return 0 if result["pass"] else 1
        result = soak.aggregate(args.dirs)
        print(soak.text(result))
        _write(args.json, result)
        return 0 if result["green"] else 1
    except (OSError, ValueError, KeyError) as exc:
        print(f"verify {args.cmd}: {exc}", file=sys.stderr)
        return 2
