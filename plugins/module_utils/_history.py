# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Jepsen-style operation history: one JSON object per line, appended under a lock, read back strictly.

An op is ``{"index", "time", "process", "type", "f", "node", "value", ...}``: ``index`` is the line number (from
0), ``time`` the unix time in ns at which the op was appended, ``type`` one of ``invoke`` (about to ask),
``ok`` (certainly done), ``fail`` (certainly not done) or ``info`` (unknown). Nemesis ops use process
``nemesis``. HTTP ops add ``status``, ``latency_ms``, ``error_class``, ``request`` (never a secret) and
``response``. Several modules (and threads) may append to one history at once: every append takes an exclusive
``flock``, numbers its ops after the last line on disk and writes whole lines in one ``write``. The time is taken
when the append is asked for, before waiting for the lock, so it is the moment of the event even when writers
queue. There is no fsync per op: writers must not wait on the disk while requests should be in flight (the
chaos checks prove a kill landed mid-request), and a host that crashes loses its check anyway; a torn last line
is detected and reported.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._ops import rfc3339

TYPES = ("invoke", "ok", "fail", "info")
_FIRST_KEYS = ("index", "time", "process", "type", "f", "node", "value")
_TAIL_CHUNK = 65536


def now_ns() -> int:
    return time.time_ns()


def now_rfc3339() -> str:
    return rfc3339(now_ns())


class History:
    """Append-only JSONL history of one check on the host running the module."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)

    def append(self, *ops: dict[str, Any]) -> list[dict[str, Any]]:
        """Append ops (numbered and timed here); returns them as written."""
        for op in ops:
            if op.get("type") not in TYPES:
                raise ValueError(f"op type must be one of {TYPES}, not {op.get('type')!r}")
            if not isinstance(op.get("f"), str) or not op["f"]:
                raise ValueError(f"op needs a function name f: {op!r}")
        stamp = now_ns()  # the event's time, not the time this writer got the lock
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                index, broken_tail = _next_index(fd)
                written = []
                lines = [b"\n"] if broken_tail else []  # end a torn line so it stays one reported bad line
                for op in ops:
                    rec: dict[str, Any] = {"index": index, "time": op.get("time") or stamp,
                                           "process": op.get("process"), "type": op["type"], "f": op["f"],
                                           "node": op.get("node"), "value": op.get("value")}
                    rec.update({k: v for k, v in op.items() if k not in _FIRST_KEYS})
                    lines.append(json.dumps(rec, separators=(",", ":"), default=str).encode() + b"\n")
                    written.append(rec)
                    index += 1
                data = b"".join(lines)
                while data:
                    data = data[os.write(fd, data):]
            finally:
                os.close(fd)  # closing releases the flock
        return written

    def read(self) -> tuple[list[dict[str, Any]], list[str]]:
        return read_history(self.path)


def _next_index(fd: int) -> tuple[int, bool]:
    """Index for the next op (the number of lines on disk) and whether the file ends in a torn line.

    Reads backwards only as far as the last complete line, whose ``index`` + 1 (+ 1 more for a torn line after
    it) is the answer; counts every line when that line is not a readable op."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0, False
    broken = os.pread(fd, 1, size - 1) != b"\n"
    tail, pos = b"", size
    while True:
        start = max(0, pos - _TAIL_CHUNK)
        tail = os.pread(fd, pos - start, start) + tail
        pos = start
        body = tail if broken else tail[:-1]
        if broken:
            end = body.rfind(b"\n")  # the last complete line ends here; the torn one follows
            if end < 0:
                if pos == 0:
                    return 1, True  # the file is one torn line
                continue
            begin = body.rfind(b"\n", 0, end)
            if begin < 0 and pos > 0:
                continue
            return _index_after(body[begin + 1:end], fd, 2)
        begin = body.rfind(b"\n")
        if begin < 0 and pos > 0:
            continue
        return _index_after(body[begin + 1:], fd, 1)


def _index_after(line: bytes, fd: int, lines_after: int) -> tuple[int, bool]:
    """``lines_after`` is 1 for a clean file (the next op follows the line), 2 when a torn line follows it."""
    broken = lines_after == 2
    try:
        index = json.loads(line)["index"]
        if isinstance(index, int) and not isinstance(index, bool) and index >= 0:
            return index + lines_after, broken
    except (ValueError, KeyError, TypeError):
        pass
    return _count_lines(fd), broken


def _count_lines(fd: int) -> int:
    size = os.fstat(fd).st_size
    count, pos, last = 0, 0, b"\n"
    while pos < size:
        chunk = os.pread(fd, min(1 << 20, size - pos), pos)
        count += chunk.count(b"\n")
        last = chunk[-1:]
        pos += len(chunk)
    return count + (0 if last == b"\n" else 1)


def read_history(path: str) -> tuple[list[dict[str, Any]], list[str]]:
    """All ops of a history and every problem found. Problems are reported, never silently skipped: a missing
    file, a torn last line (no newline: a writer died mid-line), a line that is not JSON or not an op, an index
    that is not the line's position."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        return [], [f"history {path} cannot be read: {exc.strerror or exc}"]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], [f"history {path} is not UTF-8 text: {exc}"]
    ops: list[dict[str, Any]] = []
    problems: list[str] = []
    if not text:
        return [], [f"history {path} is empty"]
    lines = text.split("\n")
    torn = lines[-1] != ""
    if not torn:
        lines.pop()
    for n, line in enumerate(lines, 1):
        last_and_torn = torn and n == len(lines)
        try:
            op = json.loads(line)
        except ValueError:
            kind = "is truncated (no newline) and not JSON" if last_and_torn else "is not JSON"
            problems.append(f"history {path}: line {n} {kind}")
            continue
        if last_and_torn:
            problems.append(f"history {path}: line {n} (the last) is truncated: no newline")
        if not isinstance(op, dict) or op.get("type") not in TYPES or not isinstance(op.get("f"), str):
            problems.append(f"history {path}: line {n} is not an operation")
            continue
        if op.get("index") != n - 1:
            problems.append(f"history {path}: line {n} has index {op.get('index')!r}, expected {n - 1}")
        ops.append(op)
    return ops, problems


def matching(ops: list[dict[str, Any]], f: str, types: list[str] | tuple[str, ...], step: str | None = None,
             namespace: str | None = None, after_index: int = -1) -> list[dict[str, Any]]:
    """Ops of function ``f`` and a type in ``types`` (and ``step``/``value.namespace`` when given) after an index."""
    found = []
    for op in ops:
        if op.get("f") != f or op.get("type") not in types or int(op.get("index", -1)) <= after_index:
            continue
        if step is not None and op.get("step") != step:
            continue
        value = op.get("value") if isinstance(op.get("value"), dict) else {}
        if namespace is not None and value.get("namespace") != namespace:
            continue
        found.append(op)
    return found


def tail(path: str, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Ops appended since byte ``offset`` (complete lines only) and the offset to continue from: a cheap way to
    follow a history another process is writing. Unparseable lines are skipped here; read_history reports them."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            chunk = fh.read()
    except OSError:
        return [], offset
    end = chunk.rfind(b"\n")
    if end < 0:
        return [], offset
    ops = []
    for line in chunk[:end].split(b"\n"):
        try:
            op = json.loads(line)
        except ValueError:
            continue
        if isinstance(op, dict):
            ops.append(op)
    return ops, offset + end + 1
