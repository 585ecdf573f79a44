"""What the browser tests assert about a campaign's report (``index.html``), in headless Chromium: the verdict,
the red causes first, one SVG per plot with as many marks as the histories have ops to draw, nothing the page
fetched and no console error. Shared by the unit test (generated evidence) and the integration test (real
campaigns)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.browser import Chromium

INJECT = ("stop", "kill", "pause", "partition", "skew")
WRITE_FS = ("write", "update", "delete")

PAGE_FACTS = """(() => {
  const q = (s, el) => Array.from((el || document).querySelectorAll(s));
  const header = document.querySelector('#verdict');
  return {
    verdict: header && header.dataset.verdict,
    heading: header && header.querySelector('h1').textContent,
    after_header: header && header.nextElementSibling && header.nextElementSibling.id,
    causes: q('#red-causes li.cause').map(li => ({check: li.dataset.check, text: li.textContent,
                                                   known: li.classList.contains('is-known')})),
    figures: q('figure.plot').map(f => {
      const marks = {};
      q('.mark', f).forEach(m => { marks[m.dataset.series] = (marks[m.dataset.series] || 0) + 1; });
      return {check: f.dataset.check, plot: f.dataset.plot, svgs: q('svg', f).length, marks: marks,
              width: f.querySelector('svg') ? f.querySelector('svg').getBoundingClientRect().width : 0};
    }),
    forbidden: q('script, img, iframe, object, embed, link, frame, audio, video').length,
    text: document.body.innerText,
  };
})()"""


def series_totals(marks: dict[str, int], plot: str) -> dict[str, int]:
    """Marks of a plot summed the way the history can be counted independently of the report's code."""
    if plot == "latency":
        return {"writes": marks.get("write-ok", 0) + marks.get("write-failed", 0), "ok": marks.get("write-ok", 0)}
    if plot == "convergence":
        return {"pairs": sum(v for k, v in marks.items() if k.startswith("converge-"))}
    if plot == "faults":
        return {"faults": marks.get("fault", 0)}
    return {"cycles": marks.get("bound", 0)}


def history_totals(doc: dict[str, Any], plot: str) -> dict[str, int]:
    """What each plot must draw, counted straight from the check's history."""
    history = doc["history"]
    if plot == "latency":
        done = [op for op in history if op.get("f") in WRITE_FS and op.get("type") in ("ok", "fail", "info")
                and isinstance(op.get("latency_ms"), (int, float))]
        return {"writes": len(done), "ok": sum(1 for op in done if op["type"] == "ok")}
    if plot == "convergence":
        nodes = doc["params"].get("nodes") or sorted({op["node"] for op in history if op.get("f") in ("read", "get")})
        acked = sum(1 for op in history if op.get("f") == "write" and op.get("type") == "ok")
        return {"pairs": acked * len(nodes)}
    if plot == "faults":
        count = 0
        for op in history:
            if op.get("process") == "nemesis" and op.get("f") in INJECT:
                value = op.get("value")
                nodes = value if isinstance(value, list) else (value or {}).get("nodes") if isinstance(value, dict) \
                    else None
                count += len(nodes) if nodes else 1
        return {"faults": count}
    return {"cycles": sum(1 for op in history if op.get("process") == "nemesis" and op.get("f") == "cycle")}


def check_report(browser: Chromium, evidence_dir: Path, screenshot: Path) -> dict[str, Any]:
    """Open the report, take a screenshot, and assert what every report must show; returns the page's facts."""
    summary = json.loads((evidence_dir / "campaign-summary.json").read_text())
    record = browser.open(evidence_dir / "index.html")
    browser.screenshot(screenshot)
    assert record.errors == [], record.errors
    assert record.foreign_requests == [], record.foreign_requests
    facts = browser.evaluate(PAGE_FACTS)
    green = summary["overall_pass"] is True
    assert facts["verdict"] == ("green" if green else "red"), facts["verdict"]
    assert facts["heading"].startswith("GREEN" if green else "RED"), facts["heading"]
    assert facts["forbidden"] == 0
    if not green:
        assert facts["after_header"] == "red-causes", facts["after_header"]
        red = [n for n in summary["declared_checks"] if summary["checks"][n]["status"] != "pass"]
        assert [c["check"] for c in facts["causes"] if c["check"]] == sorted(
            red, key=lambda n: all(r in {k["reason"] for k in summary["reds"]["known"]}
                                   for r in summary["reasons"] if r.startswith(f"{n}: ")))
        known = {k["check"] for k in summary["reds"]["known"]}
        for cause in facts["causes"]:
            if cause["known"]:
                assert cause["check"] in known and "known finding" in cause["text"]
    else:
        assert facts["after_header"] != "red-causes" and facts["causes"] == []
    data = json.loads((evidence_dir / "report-data.json").read_text())
    drawn = {(f["check"], f["plot"]): f for f in facts["figures"]}
    expected = {(check, plot) for check, entry in data["checks"].items() for plot in entry["plots"]}
    assert set(drawn) == expected, (set(drawn) ^ expected)
    for (check, plot), figure in drawn.items():
        assert figure["svgs"] == 1 and figure["width"] > 300, (check, plot, figure)
        declared = {k: v for k, v in data["checks"][check]["marks"][plot].items() if v}
        assert {k: figure["marks"].get(k, 0) for k in declared} == declared, (check, plot)
        doc = json.loads((evidence_dir / f"{check}.json").read_text())
        assert series_totals(figure["marks"], plot) == history_totals(doc, plot), (check, plot)
    return facts
