"""The DigitalOcean provider end to end against the mock, through the real plays and community.digitalocean modules:
a full provision (asserted on the mock's request log), an idempotent second run, and a teardown that leaves
nothing of the campaign and records its spend."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.do.conftest import Campaign

PEERS = ["node-a", "node-b", "node-c"]
HOSTS = [*PEERS, "client-1", "pg"]


def sid(campaign_id: str) -> str:
    return hashlib.sha256(campaign_id.encode()).hexdigest()[:8]


def bodies(campaign: Campaign, method: str, path: str) -> list[dict[str, Any]]:
    return [r.body for r in campaign.mock.requests(method) if r.path == path]


def test_provision_is_complete_idempotent_and_torn_down(campaign: Campaign) -> None:
    first = campaign.provision()
    assert first.rc == 0, first.out[-3000:]
    log = campaign.mock.requests()
    assert all(r.authorized for r in log)
    writes = [r for r in log if r.method != "GET"]
    assert writes and all(r.method == "POST" for r in writes)

    # --- tags, VPC -----------------------------------------------------------------------------------
    assert [b["name"] for b in bodies(campaign, "POST", "/v2/tags")] == [f"campaign-{campaign.id}"]
    expiry_tag = next(t for t in campaign.mock.tags if t.startswith("expires-"))
    expires_at = int(expiry_tag.split("-", 1)[1])
    tags = {"aimemory-swarm", f"campaign-{campaign.id}", expiry_tag}
    [vpc_body] = bodies(campaign, "POST", "/v2/vpcs")
    name = f"aimemory-swarm-{sid(campaign.id)}-{expires_at}"
    assert vpc_body["name"] == name and vpc_body["region"] == "nyc3"
    vpc_range = ipaddress.ip_network(vpc_body["ip_range"])
    assert vpc_range.prefixlen == 24 and vpc_range.subnet_of(ipaddress.ip_network("10.200.0.0/13"))
    assert not vpc_range.overlaps(ipaddress.ip_network("10.108.0.0/20"))  # the account's default VPC
    vpc_id = next(v["id"] for v in campaign.mock.vpcs.values() if v["name"] == name)

    # --- firewall, created before any droplet --------------------------------------------------------
    index = {id(r): i for i, r in enumerate(log)}
    fw_post = next(r for r in log if r.method == "POST" and r.path == "/v2/firewalls")
    droplet_posts = [r for r in log if r.method == "POST" and r.path == "/v2/droplets"]
    assert len(droplet_posts) == 5
    assert index[id(fw_post)] < min(index[id(r)] for r in droplet_posts)
    firewall = fw_post.body
    assert firewall["name"] == name and firewall["tags"] == [f"campaign-{campaign.id}"]
    inbound = {rule["ports"]: rule for rule in firewall["inbound_rules"]}
    assert set(inbound) == {"22", "9077", "5432"}
    assert inbound["22"]["sources"]["addresses"] == ["203.0.113.7/32"]
    for port in ("9077", "5432"):
        assert inbound[port]["sources"]["addresses"] == [str(vpc_range)]
    for rule in firewall["inbound_rules"]:
        assert all(a not in ("0.0.0.0/0", "::/0") for a in rule["sources"]["addresses"] or [])
        assert not any(rule["sources"].get(k) for k in ("tags", "droplet_ids", "load_balancer_uids"))

    # --- droplets: names, sizes, region, image, VPC, key, tags, user data -----------------------------
    pub = (campaign.state_dir / "ssh" / "id_ed25519.pub").read_text().split()[1]
    digest = hashlib.md5(base64.b64decode(pub)).hexdigest()
    fingerprint = ":".join(digest[i:i + 2] for i in range(0, 32, 2))
    known = {}
    for line in (campaign.state_dir / "known_hosts").read_text().splitlines():
        addresses, key_type, key = line.split()
        known[addresses] = (key_type, key)
    assert len(known) == 5
    by_name = {b["name"]: b for b in (r.body for r in droplet_posts)}
    assert set(by_name) == {f"aimemory-swarm-{sid(campaign.id)}-{h}" for h in HOSTS}
    for host in HOSTS:
        body = by_name[f"aimemory-swarm-{sid(campaign.id)}-{host}"]
        assert body["size"] == ("s-4vcpu-8gb" if host == "pg" else "s-2vcpu-4gb")
        assert (body["region"], body["image"], body["vpc_uuid"]) == ("nyc3", "ubuntu-24-04-x64", vpc_id)
        assert body["ssh_keys"] == [fingerprint]
        assert set(body["tags"]) == tags
        assert campaign.token not in body["user_data"]
        user_data = yaml.safe_load(body["user_data"])
        assert body["user_data"].startswith("#cloud-config\n")
        assert user_data["ssh_deletekeys"] is True and user_data["ssh_genkeytypes"] == []
        host_key = user_data["ssh_keys"]["ed25519_public"].split()[1]
        private = serialization.load_ssh_private_key(user_data["ssh_keys"]["ed25519_private"].encode(), None)
        assert isinstance(private, Ed25519PrivateKey)  # the injected host key is the pair of the pinned public one
        assert private.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).split()[1].decode() == host_key
        assert ("ssh-ed25519", host_key) in known.values()
        files = {f["path"]: f for f in user_data["write_files"]}
        assert files["/etc/aimemory-deadman/auth-header"]["content"] == f"Authorization: Bearer {campaign.deadman}\n"
        assert files["/etc/aimemory-deadman/auth-header"]["permissions"] == "0600"
        script = files["/usr/local/libexec/aimemory-deadman"]["content"]
        assert "-X DELETE" in script and "https://api.digitalocean.com/v2/droplets/${id}" in script
        assert "/etc/aimemory-deadman/droplet-id" in script and "poweroff" not in script
        assert "169.254.169.254/metadata/v1/id > /etc/aimemory-deadman/droplet-id" in "\n".join(
            c for c in user_data["runcmd"] if isinstance(c, str))
        assert "ip daddr 169.254.169.254 meta skuid != 0 counter drop" in user_data["bootcmd"][0]
        timer = files["/etc/systemd/system/aimemory-deadman.timer"]["content"]
        assert re.search(r"^OnCalendar=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", timer, re.M)
        service = files["/etc/systemd/system/aimemory-deadman.service"]["content"]
        assert "DynamicUser=yes" in service and "LoadCredential=auth-header:" in service
        assert ["systemctl", "enable", "--now", "aimemory-deadman.timer"] in user_data["runcmd"]

    # --- the inventory the plays yield: same groups and address facts as the local provider -----------
    inventory = yaml.safe_load((campaign.state_dir / "inventory.yml").read_text())["all"]["children"]
    assert sorted(inventory["peers"]["hosts"]) == PEERS
    assert list(inventory["client"]["hosts"]) == ["client-1"]
    assert list(inventory["postgres"]["hosts"]) == list(inventory["build"]["hosts"]) == ["pg"]
    droplets = {d["name"]: d for d in campaign.mock.droplets.values()}
    for group in inventory.values():
        for host, facts in group["hosts"].items():
            d = droplets[f"aimemory-swarm-{sid(campaign.id)}-{host}"]
            public = next(n["ip_address"] for n in d["networks"]["v4"] if n["type"] == "public")
            private = next(n["ip_address"] for n in d["networks"]["v4"] if n["type"] == "private")
            assert (facts["public_ip"], facts["private_ip"], facts["ansible_host"]) == (public, private, public)
            assert ipaddress.ip_address(private) in vpc_range
            assert ipaddress.ip_address(facts["ansible_host"]).is_loopback  # SSH could only ever reach this machine
            assert f"{public},{private}" in known

    # --- second run: nothing is created or changed ------------------------------------------------------
    before = len(campaign.mock.log)
    second = campaign.play("tests/do/playbooks/provision.yml", name="second",
                           extra=campaign.extra(campaign_opens_evidence=False))
    assert second.rc == 0, second.out[-3000:]
    again = campaign.mock.log[before:]
    assert again and [r for r in again if r.method != "GET"] == []
    assert re.search(r"localhost\s+: ok=\d+\s+changed=0 ", second.out), second.out[-1500:]

    # --- teardown: nothing of the campaign is left, spend recorded in the evidence ---------------------
    secrets = campaign.secrets()
    campaign.evidence_dir.mkdir(parents=True)
    down = campaign.teardown()
    assert down.rc == 0, down.out[-3000:]
    mock = campaign.mock
    assert mock.droplets == {} and mock.firewalls == {} and mock.keys == {}
    assert [v["name"] for v in mock.vpcs.values()] == ["default-nyc3"]
    assert set(mock.tags) == {"aimemory-swarm"}  # the project tag stays: other campaigns share it
    assert not campaign.state_dir.exists()
    deletes = [r.path for r in mock.requests("DELETE")]
    assert sum(p.startswith("/v2/droplets/") for p in deletes) == 5
    cost = json.loads((campaign.evidence_dir / "cost.json").read_text())
    assert cost["schema"] == "aimemory.swarm/cost/v1" and cost["budget_usd"] == 75.0
    assert abs(cost["planned"]["planned_usd"] - (4 * 0.03571 + 0.07143) * 4) < 1e-6
    assert "x 4 h" in cost["planned"]["arithmetic"]
    assert len(cost["actual"]["droplets"]) == 5 and 0 < cost["actual"]["usd"] < 0.01
    campaign.assert_no_secrets([*campaign.logs, campaign.evidence_dir], secrets)

    # --- teardown again: nothing to do, and the spend record is not overwritten -------------------------
    writes_before = len(mock.writes())
    again_down = campaign.teardown()
    assert again_down.rc == 0, again_down.out[-3000:]
    assert len(mock.writes()) == writes_before
    assert json.loads((campaign.evidence_dir / "cost.json").read_text()) == cost
