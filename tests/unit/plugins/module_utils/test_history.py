"""The JSONL history: numbered, timed, locked appends; strict reads that report damage."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History, read_history
from ansible_collections.aimemory.swarm.plugins.module_utils._ops import op_time, rfc3339, time_ns


def test_append_and_read_back(tmp_path: Path) -> None:
    path = str(tmp_path / "deep" / "h.jsonl")
    h = History(path)
    before = time.time_ns()
    written = h.append({"process": 0, "type": "invoke", "f": "write", "value": {"title": "t"}},
                       {"process": 0, "type": "ok", "f": "write", "value": {"title": "t"}, "status": 201})
    ops, problems = read_history(path)
    assert problems == [] and ops == written
    assert [op["index"] for op in ops] == [0, 1]
    assert all(isinstance(op["time"], int) and op["time"] >= before for op in ops)
    assert list(ops[1])[:7] == ["index", "time", "process", "type", "f", "node", "value"]
    assert ops[1]["status"] == 201 and ops[0]["node"] is None
    assert (tmp_path / "deep").stat().st_mode & 0o777 == 0o700
    assert Path(path).stat().st_mode & 0o777 == 0o600


def test_op_type_and_function_are_validated(tmp_path: Path) -> None:
    h = History(str(tmp_path / "h.jsonl"))
    with pytest.raises(ValueError):
        h.append({"type": "maybe", "f": "write"})
    with pytest.raises(ValueError):
        h.append({"type": "ok"})
    assert not (tmp_path / "h.jsonl").exists()


def test_truncated_last_line_is_reported_and_the_next_append_stays_readable(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    h = History(str(path))
    h.append({"process": 0, "type": "ok", "f": "write"})
    with path.open("a") as fh:
        fh.write('{"index": 1, "type": "ok", "f": "wri')  # a writer died mid-line
    ops, problems = read_history(str(path))
    assert len(ops) == 1 and problems == [f"history {path}: line 2 is truncated (no newline) and not JSON"]
    rec = h.append({"process": 0, "type": "info", "f": "note"})[0]
    assert rec["index"] == 2  # the torn line keeps its number
    ops, problems = read_history(str(path))
    assert [op["index"] for op in ops] == [0, 2]
    assert problems == [f"history {path}: line 2 is not JSON"]


def test_a_complete_last_line_without_newline_is_kept_but_reported(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps({"index": 0, "time": 1, "process": 0, "type": "ok", "f": "write"}))
    ops, problems = read_history(str(path))
    assert len(ops) == 1 and problems == [f"history {path}: line 1 (the last) is truncated: no newline"]


def test_garbage_misplaced_and_missing(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    lines = [{"index": 0, "type": "ok", "f": "write"}, ["not", "an", "op"], {"index": 7, "type": "ok", "f": "x"},
             {"index": 3, "type": "bogus", "f": "x"}]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    ops, problems = read_history(str(path))
    assert [op["index"] for op in ops] == [0, 7]
    assert problems == [f"history {path}: line 2 is not an operation",
                        f"history {path}: line 3 has index 7, expected 2",
                        f"history {path}: line 4 is not an operation",
                        f"history {path}: line 5 is not JSON"]
    assert read_history(str(tmp_path / "missing.jsonl"))[1][0].startswith("history ")
    (tmp_path / "empty.jsonl").write_text("")
    assert read_history(str(tmp_path / "empty.jsonl"))[1] == [f"history {tmp_path / 'empty.jsonl'} is empty"]


def test_index_continues_after_lines_longer_than_the_tail_chunk(tmp_path: Path) -> None:
    path = str(tmp_path / "h.jsonl")
    h = History(path)
    big = {str(i): ["t" * 40, "d" * 16] for i in range(3000)}  # a read op of ~200 kB
    h.append({"process": "reader", "type": "ok", "f": "read", "value": {"found": big}})
    h.append({"process": "reader", "type": "ok", "f": "read", "value": {"found": big}})
    assert h.append({"process": 0, "type": "ok", "f": "x"})[0]["index"] == 2
    assert read_history(path)[1] == []


def test_threads_append_without_loss_or_reuse(tmp_path: Path) -> None:
    h = History(str(tmp_path / "h.jsonl"))

    def worker(p: int) -> None:
        for i in range(50):
            h.append({"process": p, "type": "invoke", "f": "write", "value": i},
                     {"process": p, "type": "ok", "f": "write", "value": i})

    threads = [threading.Thread(target=worker, args=(p,)) for p in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ops, problems = read_history(h.path)
    assert problems == [] and len(ops) == 800
    pairs = [(op["process"], op["value"]) for op in ops if op["type"] == "invoke"]
    assert len(set(pairs)) == 400


def _proc_append(path: str, p: int) -> None:
    h = History(path)
    for i in range(40):
        h.append({"process": p, "type": "info", "f": "note", "value": i})


def test_processes_append_under_flock(tmp_path: Path) -> None:
    path = str(tmp_path / "h.jsonl")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_proc_append, args=(path, p)) for p in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    ops, problems = read_history(path)
    assert problems == [] and len(ops) == 160


def test_times_in_every_recorded_form() -> None:
    ns = 1_795_368_633_278_227_800
    assert time_ns(ns) == ns
    assert time_ns(1795368633.5) == 1_795_368_633_500_000_000
    assert time_ns(rfc3339(ns)) == ns // 1000 * 1000
    assert rfc3339(ns) == "2026-11-22T17:30:33.278227Z"
    assert time_ns("2026-11-22T17:30:33.123456789+00:00") == 1_795_368_633_123_456_789
    assert time_ns("yesterday") is None and time_ns(True) is None and time_ns(None) is None
    assert op_time({"time": ns, "at": ns - 5}) == ns - 5
