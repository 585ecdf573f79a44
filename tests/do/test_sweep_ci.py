"""scripts/ci-campaign (ansible-runner) provisions a short-lived campaign with tokens from the environment; the run
"crashes" (its state is deleted); the sweep, run from ci-campaign too, removes everything the campaign left and
leaves non-expired and non-project resources alone. No token or private key reaches the runner's artifacts."""

from __future__ import annotations

import base64
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.do.conftest import ROOT, Campaign, clean_env

CI = ROOT / "scripts" / "ci-campaign"
FAR = 4102444800  # 2100-01-01


def ci(campaign: Campaign, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(CI), "--artifacts", str(campaign.root / "runner"), *args], cwd=ROOT,
                          env=clean_env(campaign.root, env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300, check=False)
    log = campaign.root / f"ci-{len(campaign.logs)}.log"
    log.write_text(proc.stdout)
    campaign.logs.append(log)
    return proc


def ed25519_public_key() -> str:
    blob = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + os.urandom(32)
    return "ssh-ed25519 " + base64.b64encode(blob).decode() + " live"


def seed_neighbours(campaign: Campaign) -> dict[str, object]:
    """A live campaign of the project, a project droplet without expiry, and another project's resources."""
    mock = campaign.mock
    live_sid = hashlib.sha256(b"live").hexdigest()[:8]
    live_name = f"aimemory-swarm-{live_sid}-{FAR}"
    return {
        "live_vpc": mock.seed_vpc(live_name, "10.199.0.0/24"),
        "live_fw": mock.seed_firewall(live_name, ["campaign-live"]),
        "live_key": mock.seed_key(live_name, ed25519_public_key()),
        "live_droplet": mock.seed_droplet(f"aimemory-swarm-{live_sid}-node-a",
                                          ["aimemory-swarm", "campaign-live", f"expires-{FAR}"]),
        "unexpiring": mock.seed_droplet("aimemory-swarm-handmade", ["aimemory-swarm"]),
        "foreign_droplet": mock.seed_droplet("web-1", ["web", "expires-1"]),
        "foreign_vpc": mock.seed_vpc("staging", "10.30.0.0/24"),
        "foreign_fw": mock.seed_firewall("web-fw", ["web"]),
        # an old-looking name but another prefix: not ours
        "foreign_named": mock.seed_vpc("other-project-0123abcd-1000000000", "10.31.0.0/24"),
    }


def test_ci_campaign_then_crash_then_sweep(campaign: Campaign) -> None:
    seeded = seed_neighbours(campaign)
    extra = campaign.extra(campaign_max_lifetime_minutes=0.1)  # expires 6 s after provisioning starts
    del extra["campaign_do_token_file"], extra["campaign_do_deadman_token_file"]
    provision = ci(campaign, "--campaign-id", campaign.id, "--playbook", "tests/do/playbooks/provision.yml",
                   "-e", json.dumps(extra), env={"DO_API_TOKEN": campaign.token, "DO_DEADMAN_TOKEN": campaign.deadman})
    assert provision.returncode == 0, provision.stdout[-3000:]
    assert "ci-campaign: SUCCESS" in provision.stdout
    secrets = campaign.secrets()
    artifacts = campaign.root / "runner"
    assert (artifacts / "artifacts" / campaign.id / "command").is_file()
    assert (artifacts / "artifacts" / campaign.id / "job_events").is_dir()
    campaign.assert_no_secrets([*campaign.logs, artifacts], secrets)
    command = json.loads((artifacts / "artifacts" / campaign.id / "command").read_text())
    assert not {"DO_API_TOKEN", "DO_DEADMAN_TOKEN"} & set(command["env"])
    ours = {d["id"] for d in campaign.mock.droplets.values() if f"campaign-{campaign.id}" in d["tags"]}
    assert len(ours) == 5
    user_data = next(iter(campaign.mock.user_data[i] for i in ours))
    assert f"Authorization: Bearer {campaign.deadman}" in user_data  # the env's dead-man token went in

    # the crash: the runner's state is gone; only the cloud knows the campaign now
    shutil.rmtree(campaign.state_dir)
    droplet = campaign.mock.droplets[next(iter(ours))]
    expires_at = int(next(t for t in droplet["tags"] if t.startswith("expires-"))[len("expires-"):])
    assert expires_at - time.time() < 30
    deadline = time.monotonic() + 30
    while time.time() <= expires_at and time.monotonic() < deadline:
        time.sleep(0.5)

    sweep = ci(campaign, "--campaign-id", f"{campaign.id}-sweep", "--playbook", "playbooks/sweep.yml",
               "--tags", "digitalocean", "--token-file", str(campaign.token_file),
               "-e", json.dumps({"campaign_do_api_url": campaign.mock.url, "campaign_do_poll_interval": 1}))
    assert sweep.returncode == 0, sweep.stdout[-3000:]
    mock = campaign.mock
    assert set(mock.droplets) == {seeded["live_droplet"], seeded["unexpiring"], seeded["foreign_droplet"]}
    assert set(mock.vpcs) - {v["id"] for v in mock.vpcs.values() if v["default"]} == {
        seeded["live_vpc"], seeded["foreign_vpc"], seeded["foreign_named"]}
    assert set(mock.firewalls) == {seeded["live_fw"], seeded["foreign_fw"]}
    assert set(mock.keys) == {seeded["live_key"]}
    assert f"campaign-{campaign.id}" not in mock.tags and f"expires-{expires_at}" not in mock.tags
    assert {"campaign-live", f"expires-{FAR}", "web", "expires-1", "aimemory-swarm"} <= set(mock.tags)
    assert "aimemory-swarm-handmade" in sweep.stdout  # reported as never swept

    # again: nothing left to remove; and without a token the DigitalOcean part is skipped, not failed
    writes = len(mock.writes())
    again = ci(campaign, "--campaign-id", f"{campaign.id}-sweep2", "--playbook", "playbooks/sweep.yml",
               "--tags", "digitalocean", "--token-file", str(campaign.token_file),
               "-e", json.dumps({"campaign_do_api_url": campaign.mock.url}))
    assert again.returncode == 0 and len(mock.writes()) == writes, again.stdout[-2000:]
    requests = len(mock.log)
    skipped = campaign.play("playbooks/sweep.yml", "--tags", "digitalocean", name="sweep-no-token",
                            extra={"campaign_do_api_url": campaign.mock.url})
    assert skipped.rc == 0 and "DigitalOcean not swept" in skipped.out, skipped.out[-2000:]
    assert len(mock.log) == requests
    campaign.assert_no_secrets([*campaign.logs, artifacts], secrets)


def load_ci() -> object:
    loader = importlib.machinery.SourceFileLoader("ci_campaign", str(CI))
    spec = importlib.util.spec_from_loader("ci_campaign", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_ci_exit_status_is_the_verdict(tmp_path: Path) -> None:
    ci_module = load_ci()
    verdict = ci_module.verdict  # type: ignore[attr-defined]
    summary = tmp_path / "campaign-summary.json"
    assert verdict("campaign.yml", 0, summary) == (2, "NO VERDICT")
    summary.write_text(json.dumps({"overall_pass": True}))
    assert verdict("campaign.yml", 0, summary) == (0, "GREEN")
    assert verdict("campaign.yml", 2, summary) == (1, "RED")
    summary.write_text(json.dumps({"overall_pass": False}))
    assert verdict("campaign.yml", 2, summary) == (1, "RED")
    assert verdict("playbooks/sweep.yml", 0, summary) == (0, "SUCCESS")
    assert verdict("playbooks/sweep.yml", 2, summary) == (2, "FAILED")


def test_ci_refuses_tokens_as_variables(tmp_path: Path) -> None:
    proc = subprocess.run([str(CI), "--artifacts", str(tmp_path), "-e", "campaign_do_token=dop_v1_x"],
                          env=clean_env(tmp_path), capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 3 and "pass tokens as files" in proc.stderr
    loose = tmp_path / "loose"
    loose.write_text("dop_v1_x\n")
    loose.chmod(0o644)
    proc = subprocess.run([str(CI), "--artifacts", str(tmp_path), "--token-file", str(loose)],
                          env=clean_env(tmp_path), capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 3 and "chmod 600" in proc.stderr
