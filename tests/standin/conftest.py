from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from standin.build import build
from tests.standin.cluster import Cluster


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
