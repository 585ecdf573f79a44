from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History, read_history


def test_append_and_read_back(tmp_path: Path) -> None:
    h = History(str(tmp_path / "h.jsonl"))
    h.append({"process": 0, "type": "invoke", "f": "write"}, {"process": 0, "type": "ok", "f": "write"})
    ops, problems = read_history(str(tmp_path / "h.jsonl"))
    assert problems == [] and [op["index"] for op in ops] == [0, 1]


def test_truncated_or_garbage_lines_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    History(str(path)).append({"process": 0, "type": "ok", "f": "write"})
    with path.open("a") as fh:
        fh.write('not json\n{"type": "ok", "f": "write", "ind')
    ops, problems = read_history(str(path))
    assert len(ops) == 1
    assert any("truncated" in p for p in problems) and any("not JSON" in p for p in problems)
    assert read_history(str(tmp_path / "missing.jsonl"))[1]


def test_op_type_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        History(str(tmp_path / "h.jsonl")).append({"type": "maybe", "f": "write"})
