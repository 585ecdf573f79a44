"""do_vpc_delete against the mock: a VPC still in use answered 403 (DigitalOcean's API reference) or 409 (what its
users report) is retried until its deadline; a VPC already gone is no error; any other refusal fails at once."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.aimemory.swarm.plugins.module_utils._do.api import DoApiError, DoClient
from ansible_collections.aimemory.swarm.plugins.modules import do_vpc_delete

from tests.do.mock_api import DoMock

TOKEN = "dop_v1_" + secrets.token_hex(32)


@pytest.fixture(params=[403, 409])
def mock(request: pytest.FixtureRequest) -> Iterator[DoMock]:
    server = DoMock(TOKEN, vpc_in_use_status=request.param, member_linger=0.6)
    yield server
    server.close()


def run(module: Any, args: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    out = capsys.readouterr().out
    return json.loads(out[out.index("{"):])


def vpc_with_a_destroyed_droplet(mock: DoMock, name: str = "v") -> str:
    vpc_id = mock.seed_vpc(name, "10.200.1.0/24")
    droplet = mock.seed_droplet("d", [], vpc_id=vpc_id)
    with mock.lock:
        mock._delete_droplet(str(droplet))  # gone, but the VPC counts it as a member for member_linger seconds
    return vpc_id


def test_a_vpc_in_use_is_retried_until_it_is_free(mock: DoMock, capsys: pytest.CaptureFixture[str]) -> None:
    vpc_id = vpc_with_a_destroyed_droplet(mock)
    result = run(do_vpc_delete, {"baseurl": mock.url, "oauth_token": TOKEN, "name": "v", "poll_interval": 0.1,
                                 "in_use_timeout": 10}, capsys)
    assert result["changed"] is True, result
    assert result["in_use_answers"] and set(result["in_use_answers"]) == {mock.vpc_in_use_status}
    assert vpc_id not in mock.vpcs
    again = run(do_vpc_delete, {"baseurl": mock.url, "oauth_token": TOKEN, "id": vpc_id}, capsys)
    assert (again["changed"], again.get("failed", False), again["vpc"]) == (False, False, None)  # gone: no error


def test_in_use_past_the_deadline_fails_with_the_answer(mock: DoMock) -> None:
    vpc_id = mock.seed_vpc("busy", "10.200.2.0/24")
    mock.seed_droplet("member", [], vpc_id=vpc_id)  # a real member: never frees up
    api = DoClient(mock.url, TOKEN)
    started = time.monotonic()
    with pytest.raises(DoApiError, match=rf"VPC busy is still in use after \d+ s \(in_use_timeout=1\): DigitalOcean "
                                         rf"answered HTTP {mock.vpc_in_use_status} .*Can not delete VPC with members"):
        do_vpc_delete.delete(api, mock.vpcs[vpc_id], in_use_timeout=1, poll_interval=0.2)
    assert 0.8 < time.monotonic() - started < 3
    assert vpc_id in mock.vpcs


def test_other_refusals_fail_at_once_and_gone_is_no_error(mock: DoMock, capsys: pytest.CaptureFixture[str]) -> None:
    vpc_id = mock.seed_vpc("other", "10.200.3.0/24")
    mock.inject(422, method="DELETE", path_prefix="/v2/vpcs/")
    started = time.monotonic()
    with pytest.raises(DoApiError, match=r"DELETE /vpcs/.* failed: HTTP 422"):
        do_vpc_delete.delete(DoClient(mock.url, TOKEN), mock.vpcs[vpc_id], in_use_timeout=30, poll_interval=0.2)
    assert time.monotonic() - started < 2  # not retried until the deadline
    record = dict(mock.vpcs[vpc_id])
    del mock.vpcs[vpc_id]  # deleted by someone else (a concurrent sweep) between the listing and the delete
    assert do_vpc_delete.delete(DoClient(mock.url, TOKEN), record, 30, 0.2)[0] is False
    default = next(v for v in mock.vpcs.values() if v["default"])
    result = run(do_vpc_delete, {"baseurl": mock.url, "oauth_token": TOKEN, "id": default["id"]}, capsys)
    assert result["failed"] and "is the default VPC of nyc3: never deleted" in result["msg"]
    checked = run(do_vpc_delete, {"baseurl": mock.url, "oauth_token": TOKEN, "name": "default-nyc3",
                                  "_ansible_check_mode": True}, capsys)
    assert checked["failed"]  # the default VPC is refused in check mode too
    assert mock.requests("DELETE", "/v2/vpcs/" + default["id"]) == []
