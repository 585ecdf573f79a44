"""The report: plots drawn from the histories (and changing with them), their data in the evidence, the red causes
first with the known findings marked, every value escaped, nothing that could be fetched."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.unit.plugins.module_utils.history_builder import STEP_NS
from tests.unit.verify.campaign_builder import (
    HOSTILE_ID,
    HOSTILE_NODE,
    HOSTILE_VERSION,
    LATENCIES,
    NODES,
    build,
    s4_history,
)
from verify import __main__ as cli
from verify import plots, report, series


def marks(svg: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in re.findall(r'class="mark" data-series="([^"]+)"', svg):
        out[name] = out.get(name, 0) + 1
    return out


def mark_coordinates(svg: str, name: str) -> list[tuple[str, str]]:
    pattern = rf'<use [^>]*class="mark" data-series="{re.escape(name)}"[^>]*>'
    return [(re.search(r' x="([^"]+)"', m).group(1), re.search(r' y="([^"]+)"', m).group(1))  # type: ignore[union-attr]
            for m in re.findall(pattern, svg)]


# ---------------------------------------------------------------------------------------------- series


def test_latency_series_comes_from_the_history() -> None:
    ops = s4_history(NODES).ops
    data = series.latency(ops)
    assert data is not None
    assert [r["ms"] for r in data["rows"]] == LATENCIES
    assert all(ops[r["index"]]["latency_ms"] == r["ms"] for r in data["rows"])  # every point names its op
    assert data["acknowledged"] == {"count": 8, "p50": 9.9, "p90": 120.0, "p99": 120.0, "max": 120.0}
    assert sum(data["histogram"]["acknowledged"]) == 8 and data["not_acknowledged"]["count"] == 0
    ops[2]["type"] = "info"  # the first write's completion: no longer acknowledged
    data = series.latency(ops)
    assert data is not None and data["not_acknowledged"]["count"] == 1 and data["acknowledged"]["count"] == 7


def test_convergence_series_per_write_and_node() -> None:
    h = s4_history(NODES)
    data = series.convergence(h.ops, {"nodes": NODES})
    assert data is not None and data["nodes"] == NODES
    rows = {(r["title"], r["node"]): r["ms"] for r in data["rows"]}
    first_read = next(op for op in h.ops if op["f"] == "read")
    ack = next(op for op in h.ops if op["f"] == "write" and op["type"] == "ok" and op["value"]["title"] == "s4-00000")
    assert rows[("s4-00000", "node-a")] == (first_read["time"] - ack["time"]) / 1e6
    # node-c saw the first four at its first read and the rest only at its second
    reads_c = [op for op in h.ops if op["f"] == "read" and op["node"] == "node-c"]
    acks = {op["value"]["title"]: op["time"] for op in h.ops if op["f"] == "write" and op["type"] == "ok"}
    assert rows[("s4-00003", "node-c")] == (reads_c[0]["time"] - acks["s4-00003"]) / 1e6
    assert rows[("s4-00004", "node-c")] == (reads_c[1]["time"] - acks["s4-00004"]) / 1e6
    assert data["per_node"]["node-c"]["never"] == 0
    lost = series.convergence(s4_history(NODES, lose=True).ops, {"nodes": NODES})
    assert lost is not None
    assert [(r["title"], r["node"]) for r in lost["rows"] if r["ms"] is None] == [("s4-00007", "node-c")]
    assert lost["per_write"]["never"] == 1 and lost["per_node"]["node-c"]["never"] == 1


def test_fault_intervals_and_the_operations_they_hit() -> None:
    h = s4_history(NODES)
    data = series.faults(h.ops)
    assert data is not None
    (interval,) = data["intervals"]
    assert (interval["fault"], interval["node"], interval["healed"]) == ("partition", "node-c", True)
    assert interval["ops_during"] == {"ok": 8, "fail": 0, "info": 0}
    assert interval["injected_index"] == 0 and h.ops[interval["healed_index"]]["f"] == "heal"
    unhealed = [op for op in h.ops if op.get("f") != "heal"]
    data = series.faults(unhealed)
    assert data is not None and data["intervals"][0]["healed"] is False
    assert series.faults([op for op in h.ops if op.get("process") != "nemesis"]) is None


def test_bounds_per_cycle_are_the_checkers_recomputation(tmp_path: Path) -> None:
    d = build(tmp_path, "c", red=True)
    doc = json.loads((d / "phase4.json").read_text())
    data = series.bounds("chaos", doc["history"], doc["params"])
    assert data is not None
    cycles = {k: [(c["min_present"], c["acknowledged"]) for c in v["cycles"]] for k, v in data["classes"].items()}
    assert cycles["partition_minority"] == [(1, 2)]  # the lost write of the red rehearsal
    assert cycles["kill_primary_mid_write"] == [(2, 2)]
    assert series.bounds("convergence", doc["history"], doc["params"]) is None


# ---------------------------------------------------------------------------------------------- plots


def test_a_plot_changes_when_the_history_does() -> None:
    """A plot is a figure: its marks are the history's ops, so changing an op changes the plot."""
    ops = s4_history(NODES).ops
    before = plots.latency(series.latency(ops), "p", "s4")  # type: ignore[arg-type]
    assert marks(before)["write-ok"] == 8
    slower = copy.deepcopy(ops)
    next(op for op in slower if op["f"] == "write" and op["type"] == "ok")["latency_ms"] = 900.0
    after = plots.latency(series.latency(slower), "p", "s4")  # type: ignore[arg-type]
    assert after != before
    assert sorted(mark_coordinates(after, "write-ok")) != sorted(mark_coordinates(before, "write-ok"))
    failed = copy.deepcopy(ops)
    next(op for op in failed if op["f"] == "write" and op["type"] == "ok")["type"] = "fail"
    counted = marks(plots.latency(series.latency(failed), "p", "s4"))  # type: ignore[arg-type]
    assert (counted["write-ok"], counted["write-failed"]) == (7, 1)
    assert sum(v for k, v in counted.items() if k.startswith("hist-not_acknowledged")) == 1
    # the convergence plot: node-c never seeing the last write adds a 'never seen' mark and removes one of its
    seen = plots.convergence(series.convergence(ops, {"nodes": NODES}), "q", "s4")  # type: ignore[arg-type]
    lost = plots.convergence(series.convergence(s4_history(NODES, lose=True).ops, {"nodes": NODES}), "q",  # type: ignore[arg-type]
                             "s4")
    assert (marks(seen)["converge-2"], marks(seen).get("converge-never", 0)) == (8, 0)
    assert (marks(lost)["converge-2"], marks(lost)["converge-never"]) == (7, 1)
    # the fault timeline: one more fault, one more interval
    twice = [*ops, {**ops[0], "index": len(ops), "time": ops[-1]["time"] + STEP_NS}]
    assert marks(plots.faults(series.faults(ops), "r", "s4"))["fault"] == 1  # type: ignore[arg-type]
    assert marks(plots.faults(series.faults(twice), "r", "s4"))["fault"] == 2  # type: ignore[arg-type]


def test_every_plot_draws_the_marks_it_declares(tmp_path: Path) -> None:
    d = build(tmp_path, "c", red=True)
    doc = json.loads((d / "phase4.json").read_text())
    data = series.plot_data("chaos", doc["history"], doc["params"])
    assert set(data) == {"latency", "convergence", "faults", "bounds"}
    for plot, values in data.items():
        svg = plots.RENDER[plot](values, f"t-{plot}", "phase4")
        expected = {k: v for k, v in plots.expected_marks(plot, values).items() if v}
        assert {k: v for k, v in marks(svg).items() if k in expected} == expected, plot
    assert plots.expected_marks("faults", data["faults"])["fault"] == \
        sum(1 for op in doc["history"] if op.get("f") in ("kill", "partition", "pause", "skew"))


@pytest.mark.parametrize("svg", [
    '<svg xmlns="http://www.w3.org/2000/svg"><image href="http://example.invalid/x.png"/></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><use href="http://example.invalid/s.svg#m"/></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill: url(http://example.invalid/p)"/></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><style>@import "http://example.invalid/a.css";</style></svg>',
])
def test_an_svg_that_could_fetch_or_run_anything_is_refused(svg: str) -> None:
    with pytest.raises(ValueError):
        plots.inline(svg, "x", "t")


# ---------------------------------------------------------------------------------------------- the page


def rendered(tmp_path: Path, name: str, **kwargs: Any) -> tuple[Path, str]:
    d = build(tmp_path, name, **kwargs)
    cli.main(["summarize", "--evidence-dir", str(d)])
    assert cli.main(["report", "--evidence-dir", str(d)]) == 0
    return d, (d / "index.html").read_text()


def test_green_report_with_its_plots_and_their_data(tmp_path: Path) -> None:
    d, page = rendered(tmp_path, "green")
    assert 'data-verdict="green"' in page and "GREEN: campaign green" in page and 'id="red-causes"' not in page
    data = json.loads((d / report.REPORT_DATA).read_text())
    assert data["schema"] == report.DATA_SCHEMA and set(data["checks"]) == {"s4_partition_convergence", "phase2",
                                                                               "phase4"}
    counted = {}
    for figure in re.findall(r'<figure class="plot" data-plot="([^"]+)" data-check="([^"]+)">(.*?)</figure>', page,
                             re.S):
        plot, check, body = figure
        assert body.count("<svg") == 1
        counted[(check, plot)] = {k: v for k, v in marks(body).items()
                                  if k in data["checks"][check]["marks"][plot]}
    for check, entry in data["checks"].items():
        for plot, expected in entry["marks"].items():
            assert counted[(check, plot)] == {k: v for k, v in expected.items() if v}, (check, plot)
        history = json.loads((d / f"{check}.json").read_text())["history"]
        for row in entry["plots"]["latency"]["rows"]:  # every point is an op of the history
            assert history[row["index"]]["latency_ms"] == row["ms"]
    assert "Provenance" in page and "a" * 64 in page


def test_red_report_puts_every_cause_first(tmp_path: Path) -> None:
    _d, page = rendered(tmp_path, "red", red=True)
    causes, checks, first_check = page.index('id="red-causes"'), page.index('id="checks"'), \
        page.index('<section class="check"')
    assert page.index('id="verdict"') < causes < checks < first_check
    block = page[causes:checks]
    for check in ("s4_partition_convergence", "phase2", "phase4"):
        assert f'data-check="{check}"' in block
    assert block.count('<li class="cause') == 3 and "unexplained" in block


def test_known_findings_are_marked_and_listed_after_the_unexplained() -> None:
    summary = {"overall_pass": False, "declared_checks": ["a", "b"],
               "checks": {"a": {"status": "fail", "reasons": ["x broke"]},
                          "b": {"status": "fail", "reasons": ["y hangs", "figure f = 1/2 fails"]}},
               "reasons": ["a: x broke", "b: y hangs", "b: figure f = 1/2 fails", "detection power 0.1 < 0.95"],
               "reds": {"known": [{"finding": "y-hangs", "check": "b", "reason": "b: y hangs"},
                                  {"finding": "y-hangs", "check": "b", "reason": "b: figure f = 1/2 fails"}],
                        "unexplained": ["a: x broke", "detection power 0.1 < 0.95"]}}
    causes = report.red_causes(summary)
    assert [(c["check"], c["all_known"], c["known"]) for c in causes] == [
        ("a", False, []), ("", False, []), ("b", True, ["y-hangs"])]
    assert causes[2]["line"] == "y hangs" and causes[2]["more"] == 1
    html = report.render(summary, {}, {}, {}, [])
    assert "known finding: y-hangs" in html


def test_every_value_from_the_evidence_is_escaped(tmp_path: Path) -> None:
    _d, page = rendered(tmp_path, "hostile", red=True, hostile=True)
    assert "<script" not in page and "<img" not in page and "<b>c</b>" not in page
    assert "esc-&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert "node-&lt;b&gt;c&lt;/b&gt;" in page
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):
        plots.check_inline(svg)
    tags = Tags()
    tags.feed(page)
    assert not tags.found & {"script", "img", "iframe", "link", "object", "embed", "b"}, tags.found
    assert not [a for a in tags.attributes if a[0] in ("src", "srcset") or a[0].startswith("on")]
    hrefs = [v for k, v in tags.attributes if k in ("href", "xlink:href")]
    assert all(h.startswith("#") or ("/" not in h and ":" not in h) for h in hrefs), hrefs
    assert HOSTILE_ID in tags.text and HOSTILE_VERSION in tags.text and HOSTILE_NODE in tags.text


class Tags(HTMLParser):
    """Every element, attribute and the text of a page as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.found: set[str] = set()
        self.attributes: list[tuple[str, str]] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.add(tag)
        self.attributes += [(k, v or "") for k, v in attrs]

    def handle_data(self, data: str) -> None:
        self.text += data
