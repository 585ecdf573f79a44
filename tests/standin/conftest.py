from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from standin.build import build
from tests.standin.cluster import Cluster, free_port
from tests.standin.pgserver import HOST_PYTHON, PgServer, ensure_image


@pytest.fixture(scope="session")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("bin") / "ai-memory")


@pytest.fixture
def make_cluster(binary: Path, tmp_path: Path) -> Iterator:
    clusters: list[Cluster] = []

    def make(**kwargs: object) -> Cluster:
        cluster = Cluster(binary=binary, root=tmp_path / f"c{len(clusters)}", **kwargs)  # type: ignore[arg-type]
        clusters.append(cluster)
        return cluster.start()

    yield make
    for cluster in clusters:
        cluster.stop()


@pytest.fixture
def cluster(make_cluster) -> Cluster:  # type: ignore[no-untyped-def]
    return make_cluster()


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    """A real PostgreSQL 17 + pgvector + Apache AGE on 127.0.0.1 for the whole session (see pgserver.py)."""
    if os.geteuid() != 0 or not shutil.which("systemd-nspawn") or not os.path.exists(HOST_PYTHON):
        pytest.fail("the PostgreSQL tests need root, systemd-nspawn and /usr/bin/python3 with python3-psycopg "
                    "(run scripts/bootstrap as root)")
    server = PgServer(ensure_image(), tmp_path_factory.mktemp("pg"), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
