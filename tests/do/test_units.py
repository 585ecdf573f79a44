"""module_utils/_do as plain functions, the API client against the mock in process, the mock's own rejections,
and the documentation of the DigitalOcean modules against their argument specs."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._do import budget, names, network
from ansible_collections.aimemory.swarm.plugins.module_utils._do.api import DoApiError, DoClient
from ansible_collections.aimemory.swarm.plugins.module_utils._do.resources import inventory, summarize_droplet

from tests.do.mock_api import DoMock

TOKEN = "dop_v1_" + "5" * 64


@pytest.fixture
def mock() -> Iterator[DoMock]:
    server = DoMock(TOKEN)
    yield server
    server.close()


def call(mock: DoMock, method: str, path: str, body: Any = None, token: str = TOKEN) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = Request(mock.url + path, data=data, method=method,
                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urlopen(req, timeout=5) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


# --- names -------------------------------------------------------------------------------------------
def test_names_tags_and_their_parsing() -> None:
    plan = names.names("aimemory-swarm", "v0.7.0.rc-1", 1780416000, [{"name": "node-a"}, {"name": "pg"}])
    sid = names.short_id("v0.7.0.rc-1")
    assert plan["tags"] == {"project": "aimemory-swarm", "campaign": "campaign-v0:7:0:rc-1",
                            "expiry": "expires-1780416000"}
    assert all(names.TAG_RE.match(t) for t in plan["tags"].values())
    assert plan["vpc"] == plan["firewall"] == plan["ssh_key"] == f"aimemory-swarm-{sid}-1780416000"
    assert plan["droplets"]["pg"] == f"aimemory-swarm-{sid}-pg"
    assert names.parse_resource_name("aimemory-swarm", plan["vpc"]) == (sid, 1780416000)
    assert names.parse_resource_name("aimemory-swarm", "other-project-0123abcd-1780416000") is None
    assert names.parse_resource_name("aimemory-swarm", "aimemory-swarm-0123abcd-node-a") is None
    assert names.campaign_of_tags(["x", "campaign-v0:7:0:rc-1"]) == "v0.7.0.rc-1"
    assert names.expiry_of_tags(["expires-20", "expires-10", "expires-x"]) == 10
    with pytest.raises(ValueError, match="campaign id"):
        names.check_campaign("has space")
    with pytest.raises(ValueError, match="project tag"):
        names.check_project("Bad_Tag")


def test_ssh_fingerprint_is_digitaloceans_md5(tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True, timeout=30)
    listed = subprocess.run(["ssh-keygen", "-l", "-E", "md5", "-f", str(tmp_path / "k.pub")], check=True,
                            capture_output=True, text=True, timeout=30).stdout
    assert f"MD5:{names.ssh_fingerprint((tmp_path / 'k.pub').read_text())} " in listed
    with pytest.raises(ValueError):
        names.ssh_fingerprint("not a key")


# --- budget ------------------------------------------------------------------------------------------
SIZES = [{"slug": "s-2vcpu-4gb", "price_hourly": 0.03571, "price_monthly": 24.0, "available": True,
          "regions": ["nyc3"]},
         {"slug": "s-4vcpu-8gb", "price_hourly": 0.07143, "price_monthly": 48.0, "available": True,
          "regions": ["nyc3"]},
         {"slug": "old-size", "price_hourly": 1.0, "price_monthly": 1.0, "available": False, "regions": []}]
HOSTS = [{"name": "node-a", "size": "s-2vcpu-4gb"}, {"name": "node-b", "size": "s-2vcpu-4gb"},
         {"name": "node-c", "size": "s-2vcpu-4gb"}, {"name": "pg", "size": "s-4vcpu-8gb"}]


def test_budget_arithmetic_matches_the_seed_campaign() -> None:
    plan = budget.price_plan(HOSTS, SIZES, "nyc3", 60)  # the seed: 1 x 8 GB + 3 x 4 GB, about $0.18/h
    assert plan["hourly_usd"] == pytest.approx(0.17856)
    assert plan["planned_usd"] == pytest.approx(0.17856)
    assert plan["arithmetic"] == ("3 x s-2vcpu-4gb $0.03571/h + 1 x s-4vcpu-8gb $0.07143/h = $0.17856/h x 1 h "
                                  "(campaign_max_lifetime_minutes=60) = $0.18")
    budget.check_budget(plan, 75)
    with pytest.raises(budget.BudgetError, match=r"planned spend \$0.18 exceeds campaign_budget_usd=\$0.10: 3 x"):
        budget.check_budget(plan, 0.10)


@pytest.mark.parametrize("size,region,needle", [("s-99", "nyc3", "unknown to the API"),
                                                ("old-size", "nyc3", "not available in region"),
                                                ("s-2vcpu-4gb", "sfo3", "not available in region 'sfo3'")])
def test_budget_refuses_sizes_not_on_sale(size: str, region: str, needle: str) -> None:
    with pytest.raises(budget.BudgetError, match=needle):
        budget.price_plan([{"name": "x", "size": size}], SIZES, region, 60)


def test_capacity_and_spend() -> None:
    budget.check_capacity(25, 20, 5)
    with pytest.raises(budget.BudgetError, match="droplet limit is 25 and 21 droplets exist"):
        budget.check_capacity(25, 21, 5)
    spent = budget.spend([{"name": "a", "size": "s", "price_hourly": 0.5, "created_epoch": 0.0,
                           "created_at": "1970-01-01T00:00:00Z"}], now=7200.0)
    assert spent["droplet_hours"] == 2.0 and spent["usd"] == 1.0
    assert spent["droplets"][0]["price_source"] == "api"


def test_spend_takes_the_api_price_else_the_planned_one_and_is_never_silently_zero() -> None:
    planned = {"s-2vcpu-4gb": 0.03571}
    droplets = [{"name": "api", "size": "s-2vcpu-4gb", "price_hourly": 0.04, "created_epoch": 0.0},
                {"name": "plan", "size": "s-2vcpu-4gb", "price_hourly": None, "created_epoch": 0.0}]
    spent = budget.spend(droplets, now=3600.0, planned=planned)
    assert [(d["price_source"], d["price_hourly"], d["usd"]) for d in spent["droplets"]] == [
        ("api", 0.04, 0.04), ("plan", 0.03571, 0.03571)]
    assert spent["usd"] == pytest.approx(0.07571) and spent["unpriced"] == []
    assert "plan 1.0000 h x $0.03571/h (planned)" in spent["arithmetic"]
    unknown = budget.spend([*droplets, {"name": "odd", "size": "s-9", "price_hourly": None, "created_epoch": 0.0}],
                           now=3600.0, planned=planned)
    assert unknown["usd"] is None and unknown["unpriced"] == ["odd"]
    assert unknown["droplets"][2]["price_source"] == "unknown" and unknown["droplets"][2]["usd"] is None
    assert unknown["arithmetic"].endswith("odd 1.0000 h x unknown price = unknown (no price for odd)")
    # the API's droplet object without size.price_hourly is read as "no price", never as $0
    bare = {"id": 1, "name": "x", "size_slug": "s-2vcpu-4gb", "size": {"slug": "s-2vcpu-4gb"}, "tags": [],
            "created_at": "1970-01-01T00:00:00Z"}
    assert summarize_droplet(bare, "aimemory-swarm", 0.0)["price_hourly"] is None


def test_budget_refuses_a_size_without_an_hourly_price() -> None:
    unpriced = [{**SIZES[0], "price_hourly": None}]
    with pytest.raises(budget.BudgetError, match="size 's-2vcpu-4gb' has no hourly price in GET /v2/sizes"):
        budget.price_plan([{"name": "node-a", "size": "s-2vcpu-4gb"}], unpriced, "nyc3", 60)


# --- network -----------------------------------------------------------------------------------------
def test_vpc_range_is_derived_from_the_id_and_avoids_taken_ranges() -> None:
    first = network.choose_vpc_range("c-1", "10.200.0.0/13", 24, [])
    assert first == network.choose_vpc_range("c-1", "10.200.0.0/13", 24, ["10.108.0.0/20"])  # stable
    assert ipaddress.ip_network(first).subnet_of(ipaddress.ip_network("10.200.0.0/13"))
    second = network.choose_vpc_range("c-1", "10.200.0.0/13", 24, [first])
    assert second != first and not ipaddress.ip_network(second).overlaps(ipaddress.ip_network(first))
    others = {network.choose_vpc_range(f"c-{i}", "10.200.0.0/13", 24, []) for i in range(50)}
    assert len(others) > 45  # different campaigns start from different slots
    with pytest.raises(ValueError, match="overlaps an existing VPC"):
        network.choose_vpc_range("c-1", "10.244.0.0/23", 24, [])  # the whole pool is reserved by DigitalOcean
    with pytest.raises(ValueError, match="overlaps an existing VPC"):
        network.choose_vpc_range("c-1", "10.9.0.0/23", 24, ["10.9.0.0/16"])
    with pytest.raises(ValueError, match="RFC 1918"):
        network.check_pool("8.8.0.0/16", 24)
    with pytest.raises(ValueError, match="between /16 and /28"):
        network.check_pool("10.0.0.0/8", 30)


@pytest.mark.parametrize("source", ["0.0.0.0/0", "::/0", "10.0.0.0/8", "2001:db8::/16"])
def test_ssh_never_open_to_the_world(source: str) -> None:
    with pytest.raises(ValueError, match="too wide"):
        network.check_ssh_sources([source])


def test_firewall_rules() -> None:
    assert network.check_ssh_sources(["203.0.113.7", "2001:db8::1"]) == ["203.0.113.7/32", "2001:db8::1/128"]
    with pytest.raises(ValueError, match="no SSH source"):
        network.check_ssh_sources([])
    rules = network.firewall_rules(["203.0.113.7/32"], "10.200.3.0/24", [9077, 5432])
    assert [(r["ports"], r["sources"]["addresses"]) for r in rules["inbound_rules"]] == [
        ("22", ["203.0.113.7/32"]), ("9077", ["10.200.3.0/24"]), ("5432", ["10.200.3.0/24"])]
    assert {r["protocol"] for r in rules["outbound_rules"]} == {"tcp", "udp"}


# --- the client against the mock -------------------------------------------------------------------------
def test_client_errors_are_clear(mock: DoMock) -> None:
    with pytest.raises(DoApiError, match=r"refused the token \(HTTP 401 unauthorized: Unable to authenticate you\)"):
        DoClient(mock.url, "dop_v1_wrong").get("account")
    mock.mode = "ratelimit"
    started = time.monotonic()
    with pytest.raises(DoApiError, match=r"HTTP 429 too_many_requests.*gave up after \d+ attempts in 2 s"):
        DoClient(mock.url, TOKEN, retry_seconds=2).get("account")
    assert time.monotonic() - started < 5
    mock.mode = None
    with pytest.raises(DoApiError, match=r"cannot reach the DigitalOcean API at http://127\.0\.0\.1:1/v2"):
        DoClient("http://127.0.0.1:1/v2", TOKEN, timeout=2).get("account")
    with pytest.raises(DoApiError, match="no DigitalOcean API token"):
        DoClient(mock.url, "")
    assert DoClient(mock.url, TOKEN).get("images/nope", missing_ok=True) is None


def test_client_pages_through_everything(mock: DoMock) -> None:
    for i in range(45):
        mock.seed_droplet(f"d{i}", ["aimemory-swarm", f"expires-{i}"])
    client = DoClient(mock.url, TOKEN)
    assert len(client.list("droplets", "droplets")) == 45
    found = inventory(client, "aimemory-swarm", now=20.5)
    assert len(found["expired"]["droplets"]) == 21 and found["unexpiring_droplets"] == []


# --- the mock rejects what the real API rejects ---------------------------------------------------------
def test_mock_rejects_like_the_api(mock: DoMock) -> None:
    unauthorized = {"id": "unauthorized", "message": "Unable to authenticate you"}
    assert call(mock, "GET", "/account", token="bad") == (401, unauthorized)
    status, body = call(mock, "POST", "/droplets", {"name": "x", "region": "nyc3", "size": "s-2vcpu-4gb"})
    assert (status, body["message"]) == (422, "image is required")
    for field, value, message in [("size", "s-9", "invalid size"), ("region", "mars1", "invalid region"),
                                  ("image", "windows", "invalid image"), ("name", "bad_name", "hostname")]:
        droplet = {"name": "ok", "region": "nyc3", "size": "s-2vcpu-4gb", "image": "ubuntu-24-04-x64", field: value}
        status, body = call(mock, "POST", "/droplets", droplet)
        assert status == 422 and message in body["message"], (field, body)
    assert call(mock, "POST", "/vpcs", {"name": "v", "region": "nyc3", "ip_range": "10.108.0.0/24"})[0] == 422
    assert call(mock, "POST", "/vpcs", {"name": "v", "region": "nyc3", "ip_range": "10.244.0.0/24"})[0] == 422
    assert call(mock, "POST", "/vpcs", {"name": "v", "region": "nyc3", "ip_range": "8.8.8.0/24"})[0] == 422
    assert call(mock, "POST", "/firewalls", {"name": "f", "inbound_rules": [
        {"protocol": "tcp", "ports": "22", "sources": {}}]})[0] == 422
    assert call(mock, "POST", "/account/keys", {"name": "k", "public_key": "nonsense"})[0] == 422
    assert call(mock, "POST", "/tags", {"name": "has space"})[0] == 422
    mock.mode = "quota"
    status, body = call(mock, "POST", "/droplets", {"name": "ok", "region": "nyc3", "size": "s-2vcpu-4gb",
                                                    "image": "ubuntu-24-04-x64"})
    assert (status, body["id"]) == (422, "unprocessable_entity") and "droplet limit" in body["message"]
    mock.mode = "ratelimit"
    assert call(mock, "GET", "/account") == (429, {"id": "too_many_requests", "message": "API Rate limit exceeded."})


def test_mock_vpc_keeps_members_for_a_while(mock: DoMock) -> None:
    mock.member_linger = 0.5
    vpc = call(mock, "POST", "/vpcs", {"name": "v", "region": "nyc3", "ip_range": "10.200.1.0/24"})[1]["vpc"]
    droplet = mock.seed_droplet("d", [], vpc_id=vpc["id"])
    assert call(mock, "DELETE", f"/vpcs/{vpc['id']}")[0] == 409
    assert call(mock, "DELETE", f"/droplets/{droplet}")[0] == 204
    members = {"id": "conflict", "message": "Can not delete VPC with members"}
    assert call(mock, "DELETE", f"/vpcs/{vpc['id']}") == (409, members)
    deadline = time.monotonic() + 5  # the membership lingers member_linger seconds, then the delete goes through
    while (status := call(mock, "DELETE", f"/vpcs/{vpc['id']}")[0]) == 409 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status == 204


def test_mock_hands_out_only_loopback_addresses(mock: DoMock) -> None:
    """Every address a campaign against the mock could connect to is on loopback: the public addresses and their
    gateway (the controller's SSH goes there); the private ones stay in their VPC's RFC 1918 range, as on
    DigitalOcean, where the controller has no address."""
    vpc = call(mock, "POST", "/vpcs", {"name": "v", "region": "nyc3", "ip_range": "10.200.9.0/24"})[1]["vpc"]
    for i in range(20):
        body = {"name": f"d{i}", "region": "nyc3", "size": "s-2vcpu-4gb", "image": "ubuntu-24-04-x64",
                "vpc_uuid": vpc["id"] if i % 2 else None}
        assert call(mock, "POST", "/droplets", body)[0] == 202
    mock.seed_droplet("seeded", ["aimemory-swarm"])
    ranges = {v["id"]: ipaddress.ip_network(v["ip_range"]) for v in mock.vpcs.values()}
    droplets = DoClient(mock.url, TOKEN).list("droplets", "droplets")
    assert len(droplets) == 21
    deadline = time.monotonic() + 10  # networks appear once a droplet is active (boot_seconds)
    while any(not d["networks"]["v4"] for d in droplets) and time.monotonic() < deadline:
        time.sleep(0.1)
        droplets = DoClient(mock.url, TOKEN).list("droplets", "droplets")
    public = set()
    for droplet in droplets:
        networks = droplet["networks"]["v4"]
        assert {n["type"] for n in networks} == {"public", "private"}
        for net in networks:
            address = ipaddress.ip_address(net["ip_address"])
            if net["type"] == "public":
                assert address.is_loopback, droplet
                assert ipaddress.ip_address(net["gateway"]).is_loopback, droplet
                public.add(address)
            else:
                assert address in ranges[droplet["vpc_uuid"]] and address.is_private, droplet
    assert len(public) == 21  # no two droplets share a public address
    with pytest.raises(ValueError, match=r"loopback public addresses only, not 192\.0\.2\.7"):
        DoMock(TOKEN, public_addresses=["127.0.0.9", "192.0.2.7"])
