"""Run modules in process (ansible-core 2.19 ``patch_module_args``) against the fake cluster on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args

from tests.unit.plugins.module_utils.fakes import PKI, FakeCluster

Runner = Callable[..., dict[str, Any]]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def make_cluster(pki: PKI) -> Iterator[Callable[..., FakeCluster]]:
    made: list[FakeCluster] = []

    def make(**kwargs: Any) -> FakeCluster:
        cluster = FakeCluster(pki, **kwargs)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.close()


@pytest.fixture
def cluster(make_cluster: Callable[..., FakeCluster]) -> FakeCluster:
    return make_cluster()


@pytest.fixture
def run_module(capsys: pytest.CaptureFixture[str]) -> Runner:
    """``run_module(module, args, check_mode=False)`` -> the module's result dict (``failed`` set on fail_json)."""

    def run(module: Any, args: dict[str, Any], check_mode: bool = False) -> dict[str, Any]:
        if check_mode:
            args = {**args, "_ansible_check_mode": True}
        capsys.readouterr()
        with patch_module_args(args), pytest.raises(SystemExit):
            module.main()
        out = capsys.readouterr().out
        return json.loads(out[out.index("{"):])

    return run


def endpoint_args(pki: PKI) -> dict[str, Any]:
    return {"api_key": "test-secret-api-key-4f1c9a", "agent_id": "ai:tester", "ca_cert": pki.ca.path,
            "client_cert": pki.client.cert, "client_key": pki.client.key, "timeout": 5.0}
