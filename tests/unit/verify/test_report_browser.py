"""The report of generated campaigns, green and red (with hostile text), rendered by headless Chromium: the
verdict, the red causes first, one SVG per plot with the marks the histories call for, no console error, nothing
fetched, nothing from the evidence run as markup. Screenshots are attached to the test output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.attachments import attach, output_dir
from tests.browser import Chromium
from tests.report_in_browser import check_report
from tests.unit.verify.campaign_builder import HOSTILE_ID, HOSTILE_NODE, HOSTILE_VERSION, build
from verify import __main__ as cli


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with Chromium() as chromium:
        yield chromium


def campaign(root: Path, name: str, **kwargs: bool) -> Path:
    d = build(root, name, **kwargs)
    cli.main(["summarize", "--evidence-dir", str(d)])
    assert cli.main(["report", "--evidence-dir", str(d)]) == 0
    return d


def test_green_report_in_a_browser(browser: Chromium, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    d = campaign(tmp_path, "green")
    shot = tmp_path / "green.png"
    facts = check_report(browser, d, shot)
    assert {(f["check"], f["plot"]) for f in facts["figures"]} >= {
        ("s4_partition_convergence", "latency"), ("s4_partition_convergence", "faults"),
        ("phase2", "convergence"), ("phase4", "bounds")}
    attach(request, "unit green report", shot, output_dir("report") / "unit-green.png")


def test_red_report_with_hostile_evidence_in_a_browser(browser: Chromium, tmp_path: Path,
                                                       request: pytest.FixtureRequest) -> None:
    d = campaign(tmp_path, "red", red=True, hostile=True)
    shot = tmp_path / "red.png"
    facts = check_report(browser, d, shot)
    assert len(facts["causes"]) == 3
    # the hostile values are shown as text, never run or parsed as markup
    for value in (HOSTILE_ID, HOSTILE_VERSION, HOSTILE_NODE):
        assert value in facts["text"], value
    assert browser.evaluate("document.querySelectorAll('b').length") == 0
    attach(request, "unit red report", shot, output_dir("report") / "unit-red.png")


def test_a_broken_report_fails_the_browser_checks(browser: Chromium, tmp_path: Path) -> None:
    """The checks are not vacuous: a page that fetches something, or lost a plot's marks, fails them."""
    d = campaign(tmp_path, "broken")
    page = (d / "index.html").read_text()
    (d / "index.html").write_text(page.replace('class="mark" data-series="write-ok"', 'data-series="write-ok"', 1))
    with pytest.raises(AssertionError):
        check_report(browser, d, tmp_path / "a.png")
    (d / "index.html").write_text(page.replace("</body>", '<img src="file:///nonexistent/x.png"></body>'))
    with pytest.raises(AssertionError):
        check_report(browser, d, tmp_path / "b.png")
    (d / "index.html").write_text(page.replace('data-verdict="green"', 'data-verdict="red"'))
    with pytest.raises(AssertionError):
        check_report(browser, d, tmp_path / "c.png")
