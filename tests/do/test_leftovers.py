"""Nothing left, checked, and honestly priced: teardown's last check covers the campaign's tags too and fails
loudly (keeping the local state) when anything remains; the sweep removes campaign and expiry tags whose resources
are all gone; cost.json prices droplets the API gives no price for at the planned price, and says so; a VPC whose
deletion is answered 403 (DigitalOcean's API reference) while its destroyed droplets linger is waited out."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

from tests.do.conftest import Campaign

FAR = 4102444800  # 2100-01-01


def test_teardown_fails_loudly_when_a_tag_stays_and_keeps_the_state(campaign: Campaign) -> None:
    up = campaign.provision()
    assert up.rc == 0, up.out[-3000:]
    ctag = f"campaign-{campaign.id}"
    campaign.mock.sticky_tags = {ctag}  # DELETE answers 204 and the tag stays

    down = campaign.teardown()
    assert down.rc != 0, down.out[-3000:]
    out = " ".join(down.out.split())
    assert f"DigitalOcean still holds, after teardown: tags {ctag} (on 0 resources)" in out, out[-2000:]
    assert "Run playbooks/teardown.yml" in out
    assert campaign.state_dir.is_dir()  # kept: teardown can simply run again
    mock = campaign.mock
    assert mock.droplets == {} and mock.firewalls == {} and mock.keys == {} and ctag in mock.tags

    mock.sticky_tags = set()
    again = campaign.teardown()
    assert again.rc == 0, again.out[-3000:]
    assert set(mock.tags) == {"aimemory-swarm"} and not campaign.state_dir.exists()


def test_sweep_removes_orphan_campaign_and_expiry_tags(campaign: Campaign) -> None:
    mock = campaign.mock
    live_sid = hashlib.sha256(b"live").hexdigest()[:8]
    mock.seed_vpc(f"aimemory-swarm-{live_sid}-{FAR}", "10.199.0.0/24")  # a live campaign: its VPC, no droplet yet
    past = int(time.time()) - 3600
    for tag in ("aimemory-swarm", "campaign-live", f"expires-{FAR}",  # kept: the project's, the live campaign's
                "campaign-gone", f"expires-{FAR + 60}", f"expires-{past}",  # orphans: nothing of theirs is left
                "web"):  # not a campaign or expiry tag
        mock.seed_tag(tag)
    mock.seed_droplet("web-1", ["web", "campaign-busy"])  # carried by a droplet (not ours): kept

    sweep = campaign.play("playbooks/sweep.yml", "--tags", "digitalocean", name="sweep", extra={
        "campaign_do_api_url": mock.url, "campaign_do_token_file": str(campaign.token_file),
        "campaign_do_poll_interval": 1})
    assert sweep.rc == 0, sweep.out[-3000:]
    assert set(mock.tags) == {"aimemory-swarm", "campaign-live", f"expires-{FAR}", "web", "campaign-busy"}
    deleted = sorted(r.path.rsplit("/", 1)[1] for r in mock.requests("DELETE", "/v2/tags/") if r.status == 204)
    assert deleted == sorted(["campaign-gone", f"expires-{FAR + 60}", f"expires-{past}"])
    assert len(mock.vpcs) == 2  # the live campaign's VPC and the default one are untouched


def test_teardown_prices_from_the_plan_and_waits_out_a_vpc_answering_403(
        make_campaign: Callable[..., Campaign]) -> None:
    campaign = make_campaign(droplet_prices=False, vpc_in_use_status=403)
    campaign.mock.vpc_busy_deletes = 2  # still counting the destroyed droplets for two deletes, however slow we are
    up = campaign.provision()
    assert up.rc == 0, up.out[-3000:]
    assert all("price_hourly" not in d["size"] for d in campaign.mock.droplets.values())
    campaign.evidence_dir.mkdir(parents=True)

    down = campaign.teardown()
    assert down.rc == 0, down.out[-3000:]
    cost = json.loads((campaign.evidence_dir / "cost.json").read_text())
    droplets = cost["actual"]["droplets"]
    assert len(droplets) == 5 and {d["price_source"] for d in droplets} == {"plan"}
    prices = {d["size"]: d["price_hourly"] for d in droplets}
    assert prices == {"s-2vcpu-4gb": 0.03571, "s-4vcpu-8gb": 0.07143}  # the planned prices (GET /v2/sizes)
    assert all(d["usd"] > 0 for d in droplets) and cost["actual"]["usd"] > 0 and cost["actual"]["unpriced"] == []
    assert "(planned)" in cost["actual"]["arithmetic"]

    vpc_deletes = [r.status for r in campaign.mock.requests("DELETE", "/v2/vpcs/")]
    assert vpc_deletes == [403, 403, 204], vpc_deletes
    assert [v["name"] for v in campaign.mock.vpcs.values()] == ["default-nyc3"]
