"""verify tamper: every corruption of a green campaign's evidence turns the verdict red (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.verify.test_summary import green  # noqa: F401  # pylint: disable=unused-import
from verify.tamper import KINDS, plan, tamper


def test_every_corruption_of_a_green_campaign_is_caught(green: Path) -> None:  # noqa: F811
    result = tamper(green, count=80, seed=7)
    print(json.dumps(result, indent=1))
    assert result["corruptions"] >= 70 and result["missed"] == [], result["missed"]
    assert {c.kind for c in plan(green, 80, 7)} == set(KINDS)


def test_the_plan_is_reproducible_from_its_seed(green: Path) -> None:  # noqa: F811
    assert plan(green, 30, 1) == plan(green, 30, 1) != plan(green, 30, 2)


def test_a_red_directory_is_refused(green: Path) -> None:  # noqa: F811
    (green / "check-errors.json").unlink()
    with pytest.raises(ValueError, match="not green as it stands"):
        tamper(green, count=3)
