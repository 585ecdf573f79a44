"""Tamper with a green campaign's evidence, one seeded corruption at a time, and count the corruptions the verdict
catches (issue 17: "a check that cannot fail is a defect"; the evidence must not be able to lie by accident).

Each corruption is applied to a fresh copy of the evidence directory and the copy is summarized again as the
controller does (``verify.summary.summarize``). A corruption the verdict does not turn red is *missed* and named.
The corruptions are those a crashed, cut or careless run leaves, and a careless edit: a file deleted, emptied or
cut; an operation dropped from a history, a completed operation turned into a failure, a history cut in half;
W rewritten to 1; a figure's numerator lowered. They are drawn from ``random.Random(seed)``, so a run is
reproducible, and spread evenly over the kinds.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verify.summary import summarize

# files a summary reads that a corruption may hit besides the checks' own (the report and the summary are outputs)
FRAME_FILES = ("campaign.json", "provenance.json", "plays.json", "check-errors.json")
KINDS = ("delete_file", "empty_file", "garble_file", "drop_op", "flip_op_to_fail", "cut_history_half", "w_to_1",
         "lower_numerator")


@dataclass(frozen=True)
class Corruption:
    kind: str
    file: str
    detail: str = ""

    def describe(self) -> str:
        return f"{self.kind} {self.file}" + (f" ({self.detail})" if self.detail else "")


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def _save(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc))


def check_files(evidence_dir: Path) -> list[str]:
    """The declared checks' evidence files present in the directory."""
    declared = _load(evidence_dir / "campaign.json").get("declared_checks") or []
    return [f"{name}.json" for name in declared if (evidence_dir / f"{name}.json").is_file()]


def plan(evidence_dir: Path, count: int, seed: int) -> list[Corruption]:
    """``count`` corruptions of the directory, the kinds in turn, targets and positions drawn from the seed."""
    rng = random.Random(seed)
    checks = check_files(evidence_dir)
    files = [f for f in FRAME_FILES if (evidence_dir / f).is_file()] + checks
    with_history = [f for f in checks if isinstance(_load(evidence_dir / f).get("history"), list)
                    and _load(evidence_dir / f)["history"]]
    with_w = [f for f in checks if isinstance(_load(evidence_dir / f).get("params"), dict)
              and "w" in _load(evidence_dir / f)["params"]]
    with_figures = [f for f in checks if any(fig.get("numerator") for fig in
                                             (_load(evidence_dir / f).get("figures") or {}).values())]
    # plays.json (play timings) is optional: a campaign run without the timing callback has none; present, it must
    # be well formed
    targets = {"delete_file": [f for f in files if f != "plays.json"], "empty_file": files, "garble_file": files,
               "drop_op": with_history, "flip_op_to_fail": with_history, "cut_history_half": with_history,
               "w_to_1": with_w,
               "lower_numerator": with_figures}
    out: list[Corruption] = []
    kinds = [k for k in KINDS if targets[k]]
    for i in range(count):
        kind = kinds[i % len(kinds)]
        target = rng.choice(targets[kind])
        detail = ""
        if kind in ("drop_op", "flip_op_to_fail"):
            ops = _load(evidence_dir / target)["history"]
            candidates = range(len(ops)) if kind == "drop_op" else [
                j for j, op in enumerate(ops) if op.get("type") in ("ok", "info")]
            if not candidates:
                continue
            detail = f"op {rng.choice(list(candidates))}"
        elif kind == "lower_numerator":
            figs = _load(evidence_dir / target)["figures"]
            detail = rng.choice(sorted(name for name, fig in figs.items() if fig.get("numerator")))
        elif kind == "garble_file":
            detail = f"cut at {rng.randint(1, 99)} %"
        out.append(Corruption(kind, target, detail))
    return out


def _op_index(c: Corruption) -> int:
    return int(c.detail.split()[-1])


def _history_edit(edit: Callable[[list[dict[str, Any]], Corruption], list[dict[str, Any]]]) -> Callable[
        [Path, Corruption], None]:
    def apply(path: Path, c: Corruption) -> None:
        doc = _load(path)
        doc["history"] = edit(doc["history"], c)
        _save(path, doc)
    return apply


def _flip(ops: list[dict[str, Any]], c: Corruption) -> list[dict[str, Any]]:
    ops[_op_index(c)]["type"] = "fail"
    return ops


def _w_to_1(path: Path, c: Corruption) -> None:
    doc = _load(path)
    doc["params"]["w"] = 1
    _save(path, doc)


def _lower(path: Path, c: Corruption) -> None:
    doc = _load(path)
    fig = doc["figures"][c.detail]
    fig["numerator"] -= 1
    fig["value"] = fig["numerator"] / fig["denominator"]
    _save(path, doc)


def _garble(path: Path, c: Corruption) -> None:
    text = path.read_text()
    path.write_text(text[: len(text) * int(c.detail.split()[2]) // 100])


APPLY: dict[str, Callable[[Path, Corruption], None]] = {
    "delete_file": lambda path, c: path.unlink(),
    "empty_file": lambda path, c: path.write_text(""),
    "garble_file": _garble,
    "drop_op": _history_edit(lambda ops, c: ops[:_op_index(c)] + ops[_op_index(c) + 1:]),
    "flip_op_to_fail": _history_edit(_flip),
    "cut_history_half": _history_edit(lambda ops, c: ops[: len(ops) // 2]),
    "w_to_1": _w_to_1,
    "lower_numerator": _lower,
}


def tamper(evidence_dir: Path, count: int = 100, seed: int = 0) -> dict[str, Any]:
    """Apply each planned corruption to a copy of the directory and summarize the copy. The directory must be
    green as it stands (a red one proves nothing about the corruptions)."""
    baseline = summarize(evidence_dir)
    if not baseline["overall_pass"]:
        raise ValueError(f"{evidence_dir} is not green as it stands: tampering with it proves nothing "
                         f"({'; '.join(baseline['reasons'][:2])})")
    caught: list[dict[str, Any]] = []
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="aimemory-tamper-") as scratch:
        for i, c in enumerate(plan(evidence_dir, count, seed)):
            copy = Path(scratch) / f"c{i}"
            generated = shutil.ignore_patterns("index.html", "campaign-summary.json", "report-data.json")
            shutil.copytree(evidence_dir, copy, ignore=generated)
            APPLY[c.kind](copy / c.file, c)
            doc = summarize(copy)
            if doc["overall_pass"]:
                missed.append(c.describe())
            else:
                caught.append({"corruption": c.describe(), "first_reason": doc["reasons"][0]})
            shutil.rmtree(copy)
    total = len(caught) + len(missed)
    return {"evidence_dir": str(evidence_dir), "seed": seed, "corruptions": total, "caught": len(caught),
            "missed": missed, "per_kind": {k: sum(1 for m in missed if m.startswith(k + " ")) for k in KINDS},
            "examples": caught[:10]}
