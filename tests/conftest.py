"""Run-wide hooks: the files tests attached (``tests/attachments.py``) are listed at the end of the run."""

from __future__ import annotations

from typing import Any

import pytest

_ATTACHED: list[tuple[str, str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    for key, value in report.user_properties:
        if isinstance(key, str) and key.startswith("attachment:"):
            _ATTACHED.append((report.nodeid, key.split(":", 1)[1], str(value)))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _ATTACHED:
        terminalreporter.section("attachments")
        for nodeid, label, path in _ATTACHED:
            terminalreporter.write_line(f"{nodeid}: {label}: {path}")
