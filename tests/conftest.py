"""Test groups for pytest-xdist (``scripts/test`` runs ``pytest -n 2 --dist loadgroup``): tests that share a
module- or session-scoped fixture (a kept swarm, a booted PostgreSQL host, a PostgreSQL server, a DigitalOcean
mock) stay on one worker; unit tests spread over both."""

from __future__ import annotations

import pytest

GROUPS = {
    "tests/integration/test_campaign.py": "campaign",
    "tests/integration/test_postgres_role.py": "pgrole",
    "tests/standin/": "standin",
    "tests/do/": "digitalocean",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.fspath)
        for prefix, group in GROUPS.items():
            if prefix in path:
                item.add_marker(pytest.mark.xdist_group(group))
                break
