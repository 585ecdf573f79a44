"""Refusals and failures give clear messages, and nothing is created before the checks pass: a bad token (401),
rate limiting (429), an unreachable API (closed port), the droplet quota (422 on create, then the rescue tears
down what was created), a plan over budget, an SSH source open to the world, the account's droplet limit.
The scenarios are independent (one mock each) and run in parallel to keep the suite short."""

from __future__ import annotations

import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.do.conftest import Campaign, Run


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_line(out: str) -> str:
    return " ".join(out.split())


def test_refusals_and_failures_are_clear(make_campaign: Callable[..., Campaign]) -> None:
    scenarios: dict[str, tuple[Campaign, Callable[[Campaign], Run]]] = {}

    def add(name: str, run: Callable[[Campaign], Run], **mock: Any) -> Campaign:
        campaign = make_campaign(**mock)
        scenarios[name] = (campaign, run)
        return campaign

    validate = "playbooks/validate.yml"
    add("unauthorized", lambda c: c.play(validate, name="401", extra=c.extra(
        campaign_do_token_file=str(c.root / "wrong-token"))))
    add("ratelimit", lambda c: c.play(validate, name="429"))
    port = closed_port()
    add("unreachable", lambda c: c.play(validate, name="down", extra=c.extra(
        campaign_do_api_url=f"http://127.0.0.1:{port}/v2")))
    add("quota", lambda c: c.provision())
    add("budget", lambda c: c.play(validate, name="budget", extra=c.extra(campaign_budget_usd=0.5)))
    add("world_ssh", lambda c: c.play(validate, name="world", extra=c.extra(campaign_do_ssh_sources=["0.0.0.0/0"])))
    add("limit", lambda c: c.play(validate, name="limit"), droplet_limit=3)
    add("env_token", lambda c: c.play(validate, name="env", extra=c.extra(campaign_do_token_file=""),
                                      env={"DO_API_TOKEN": c.token}))
    add("unknown_size", lambda c: c.play(validate, name="size", extra=c.extra(
        campaign_do_sizes={"postgres": "s-99vcpu-1tb", "peers": "s-2vcpu-4gb", "client": "s-2vcpu-4gb"})))

    wrong = scenarios["unauthorized"][0]
    (wrong.root / "wrong-token").write_text("dop_v1_" + "0" * 64 + "\n")
    (wrong.root / "wrong-token").chmod(0o600)
    scenarios["ratelimit"][0].mock.mode = "ratelimit"
    scenarios["quota"][0].mock.mode = "quota"

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(run, campaign) for name, (campaign, run) in scenarios.items()}
        runs = {name: future.result() for name, future in futures.items()}
    out = {name: one_line(run.out) for name, run in runs.items()}

    for name, run in runs.items():
        if name != "env_token":
            assert run.rc != 0, f"{name} should have failed:\n{run.out[-2000:]}"
        if name != "quota":  # nothing is ever created when validation refuses
            assert scenarios[name][0].mock.writes() == [], name

    assert "HTTP 401 unauthorized: Unable to authenticate you" in out["unauthorized"]
    assert "campaign_do_token_file=" in out["unauthorized"]
    assert all(not r.authorized for r in scenarios["unauthorized"][0].mock.log)

    assert "rate limited by the DigitalOcean API (HTTP 429 too_many_requests: API Rate limit exceeded.)" \
        in out["ratelimit"]
    assert "gave up after" in out["ratelimit"]
    assert len(scenarios["ratelimit"][0].mock.log) >= 2  # retried, honouring Retry-After

    assert f"cannot reach the DigitalOcean API at http://127.0.0.1:{port}/v2" in out["unreachable"]
    assert "Connection refused" in out["unreachable"]

    quota = scenarios["quota"][0]
    assert "HTTP 422: creating this/these droplet(s) will exceed your droplet limit" in out["quota"]
    assert "the hosts were torn down" in out["quota"]
    assert quota.mock.requests("POST", "/v2/droplets") and quota.mock.droplets == {}
    assert quota.mock.firewalls == {} and quota.mock.keys == {}
    assert [v["name"] for v in quota.mock.vpcs.values()] == ["default-nyc3"]
    assert not quota.state_dir.exists()

    assert "planned spend $0.86 exceeds campaign_budget_usd=$0.50" in out["budget"]
    assert "4 x s-2vcpu-4gb $0.03571/h + 1 x s-4vcpu-8gb $0.07143/h = $0.21427/h x 4 h" in out["budget"]
    assert scenarios["budget"][0].mock.requests("POST") == []

    assert "SSH source 0.0.0.0/0 is too wide" in out["world_ssh"]
    assert "the account's droplet limit is 3" in out["limit"]
    assert "size 's-99vcpu-1tb' is unknown to the API" in out["unknown_size"]
    assert runs["env_token"].rc == 0, runs["env_token"].out[-2000:]
    assert all(r.authorized for r in scenarios["env_token"][0].mock.log)
