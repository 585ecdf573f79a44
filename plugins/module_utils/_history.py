# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Jepsen-style operation history: one JSON object per line, appended under a lock, read back strictly."""

from __future__ import annotations

import fcntl
import json
import os
import time
from typing import Any

TYPES = ("invoke", "ok", "fail", "info")


class History:
    """Append-only JSONL history shared by the modules of one check on the client host."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)

    def append(self, *ops: dict[str, Any]) -> list[dict[str, Any]]:
        with open(self.path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.seek(0)
                index = sum(1 for _line in fh)
                written = []
                for op in ops:
                    if op.get("type") not in TYPES:
                        raise ValueError(f"op type must be one of {TYPES}: {op}")
                    rec = {"index": index, "time": op.get("time", time.time()), **op}
                    rec["index"] = index
                    fh.write(json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n")
                    written.append(rec)
                    index += 1
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return written


def read_history(path: str) -> tuple[list[dict[str, Any]], list[str]]:
    """All ops of a history and the problems found (unparseable or truncated lines are problems, not skipped)."""
    ops: list[dict[str, Any]] = []
    problems: list[str] = []
    try:
        with open(path) as fh:
            lines = fh.read().split("\n")
    except OSError as exc:
        return [], [f"history {path} unreadable: {exc}"]
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        problems.append(f"history {path}: last line is truncated (no newline)")
    for n, line in enumerate(lines, 1):
        try:
            op = json.loads(line)
        except ValueError:
            problems.append(f"history {path}: line {n} is not JSON")
            continue
        if not isinstance(op, dict) or op.get("type") not in TYPES or "f" not in op:
            problems.append(f"history {path}: line {n} is not an operation")
            continue
        ops.append(op)
    return ops, problems
