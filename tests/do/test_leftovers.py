"""Nothing left, checked: teardown's last check covers the campaign's tags too and fails loudly (keeping the
local state) when anything remains; the sweep removes campaign and expiry tags whose resources are all gone."""

from __future__ import annotations

import hashlib
import time

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
