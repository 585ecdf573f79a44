"""The DigitalOcean provider under real-world failure, against the mock: a rate limit on every tenth request
through provision, rerun and teardown (the community.digitalocean modules through the retrying proxy, the
project's own modules through their client); droplets whose SSH drops packets or refuses, waited on at once
with one deadline, after which teardown starts at once and the failure says why, per host."""

from __future__ import annotations

import errno
import re
import socket
from collections.abc import Callable

from tests.do.conftest import Campaign
from tests.do.mock_api import Logged


def retried_as_advised(log: list[Logged]) -> list[str]:
    """Each 429 is followed by the same request (method, path, query), sent no sooner than the API asked."""
    problems = []
    for i, limited in enumerate(log):
        if limited.status != 429:
            continue
        same = (limited.method, limited.path, limited.query)
        retry = next((r for r in log[i + 1:] if (r.method, r.path, r.query) == same), None)
        if retry is None:
            problems.append(f"{limited.method} {limited.path} answered 429 was never retried")
        elif retry.at - limited.at < (limited.advised_wait or 0) - 0.05:
            problems.append(f"{limited.method} {limited.path} retried after {retry.at - limited.at:.2f} s, "
                            f"asked to wait {limited.advised_wait:.2f} s")
    return problems


def test_a_rate_limit_on_every_tenth_request_is_ridden_out(campaign: Campaign) -> None:
    mock = campaign.mock
    mock.rate_limit_every = 10
    mock.rate_limit_writes_every = 4  # and, so that writes are certainly hit, every fourth write

    first = campaign.provision()
    assert first.rc == 0, first.out[-3000:]
    limited = [r for r in mock.log if r.status == 429]
    assert len(limited) >= 5, len(limited)
    assert {r.method for r in limited} == {"GET", "POST"}
    assert any(r.path.startswith("/v2/tags") or r.path.startswith("/v2/account/keys") for r in limited)
    assert retried_as_advised(mock.log) == []
    # exactly one of each and five droplets: nothing was created twice
    assert len(mock.droplets) == 5 and len(mock.firewalls) == 1 and len(mock.keys) == 1
    assert len([v for v in mock.vpcs.values() if not v["default"]]) == 1
    assert re.search(r"API proxy: \d+ requests, [1-9]\d* retries", first.out), first.out[-3000:]

    before = len(mock.log)
    second = campaign.play("tests/do/playbooks/provision.yml", name="second",
                           extra=campaign.extra(campaign_opens_evidence=False))
    assert second.rc == 0, second.out[-3000:]
    again = mock.log[before:]
    assert any(r.status == 429 for r in again)
    assert [r for r in again if r.method != "GET"] == []  # the rerun writes nothing, rate limited or not
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0 ", second.out), second.out[-1500:]

    before = len(mock.log)
    down = campaign.teardown()
    assert down.rc == 0, down.out[-3000:]
    assert any(r.status == 429 and r.method == "DELETE" for r in mock.log[before:])
    assert retried_as_advised(mock.log) == []
    assert mock.droplets == {} and mock.firewalls == {} and mock.keys == {}
    assert [v["name"] for v in mock.vpcs.values()] == ["default-nyc3"]
    assert set(mock.tags) == {"aimemory-swarm"}
    assert not campaign.state_dir.exists()


def task_starts(out: str) -> dict[str, float]:
    """Each task's start, in seconds since the play began (profile_tasks prints it under the task's header)."""
    found = {}
    for match in TASK_START.finditer(out):
        h, m, s = match.group("h", "m", "s")
        found.setdefault(match.group("name"), int(h) * 3600 + int(m) * 60 + float(s))
    return found


TASK_START = re.compile(r"^TASK \[(?P<name>[^\]]+)\] \**\n[^\n]*\(\d+:\d\d:\d\d\.\d+\)\s+(?P<h>\d+):(?P<m>\d\d):"
                        r"(?P<s>\d\d\.\d+)", re.M)
SSH_WAIT = "Wait (one deadline, campaign_do_ssh_timeout, all droplets at once) for SSH with the pinned keys, " \
           "cloud-init and the dead-man switch"


def test_the_ssh_wait_has_one_deadline_and_says_why_each_host_did_not_answer(
        make_campaign: Callable[..., Campaign], dropped_address: str) -> None:
    refused = [f"127.77.200.{i}" for i in range(11, 15)]  # loopback, nothing listens on port 22
    for address in refused:
        with socket.socket() as probe:
            probe.settimeout(2)
            assert probe.connect_ex((address, 22)) == errno.ECONNREFUSED, f"something listens on {address}:22"
    campaign = make_campaign(public_addresses=[dropped_address, *refused])
    deadline = 8
    run = campaign.provision(campaign_do_wait_for_ssh=True, campaign_do_ssh_timeout=deadline)
    assert run.rc != 0, run.out[-3000:]
    out = " ".join(run.out.split())
    assert f"Provisioning failed (5 of 5 hosts did not answer SSH within {deadline} s: " in out, out[-3000:]
    assert re.search(rf"{re.escape(dropped_address)}: timed out \(no answer to a TCP connect to port 22 within "
                     r"[\d.]+ s\) - the cloud firewall drops SSH from this controller: check that "
                     r"campaign_do_ssh_sources holds its egress address \(campaign_do_ssh_sources=203\.0\.113\.7/32\)",
                     out), out[-3000:]
    for address in refused:
        assert f"{address}: refused (TCP port 22 answered with a reset) - nothing accepts SSH there" in out
    assert "the hosts were torn down" in out

    starts = task_starts(run.out)
    waited = starts["Tear down what was created before the failure"] - starts[SSH_WAIT]
    print(f"teardown started {waited:.1f} s after the SSH wait began (deadline {deadline} s)")
    assert deadline - 0.5 <= waited <= deadline + 5, waited  # one deadline for all, then the teardown at once
    mock = campaign.mock
    assert mock.droplets == {} and mock.firewalls == {} and mock.keys == {}
    assert not campaign.state_dir.exists()
