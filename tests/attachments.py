"""Files a test attaches to its output (screenshots of reports): recorded as ``attachment:<label>`` user properties
(they travel from xdist workers to the controller and into JUnit XML), printed by the test, listed at the end of
the run by ``tests/conftest.py``; kept copies live in the test output directory (``AIMEMORY_TEST_OUTPUT``,
default ``test-output/`` in the checkout, git-ignored)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def output_dir(*parts: str) -> Path:
    base = Path(os.environ.get("AIMEMORY_TEST_OUTPUT") or ROOT / "test-output")
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def attach(request: pytest.FixtureRequest, label: str, path: Path, keep_as: Path | None = None) -> Path:
    """Attach ``path`` to the test's output; with ``keep_as``, also copy it there (the output directory)."""
    request.node.user_properties.append((f"attachment:{label}", str(path)))
    print(f"attachment {label}: {path}")
    if keep_as is not None:
        keep_as.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, keep_as)
        request.node.user_properties.append((f"attachment:{label} (kept)", str(keep_as)))
        print(f"attachment {label} (kept): {keep_as}")
    return path
