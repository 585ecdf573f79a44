from __future__ import annotations

import os
import shutil

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def _root_with_nspawn() -> None:
    if os.geteuid() != 0 or not shutil.which("systemd-nspawn"):
        pytest.fail("integration tests need root and systemd-nspawn (run scripts/bootstrap as root)")
