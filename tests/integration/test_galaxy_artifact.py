"""The artifact is the product (issue 12): `ansible-galaxy collection build` makes the tarball, `ansible-galaxy
collection install` puts it into an empty collections path (offline: its dependencies resolve against the
collections the pinned ansible package ships), and a campaign run from there, by FQCN, in a directory that is not
this checkout, reaches a green verdict.

Nothing of the checkout takes part in the campaign: the working directory is a temporary one with no ansible.cfg,
no ANSIBLE_* variable is inherited, and ANSIBLE_COLLECTIONS_PATH names only the installed copy (ansible's own
collections are found on sys.path, as for any installed ansible). The campaign is short: the stand-in (built from
the shipped source), one check, no phase. The check is S3 (every route, every identity, on every peer: a few
seconds); S1 is sized for the campaign's detection power, which the verdict requires whenever S1 is declared, and
at that size it takes minutes (docs/checks.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.integration.swarm import ROOT, free_subnets, leftovers

BIN = Path(sys.executable).parent
CAMPAIGN = f"gal-{os.getpid()}-{int(time.time())}"
# VPC ranges no other module uses; public ranges from the middle of 198.19.0.0/16 (test_real_campaign.py starts
# at its bottom), so modules running at once on the two pytest workers never pick the same subnet
SUBNETS = free_subnets("10.253.{}.0/24", "198.19.{}.0/24", first=128)
# what ansible 12.3.0 (requirements.txt) ships of the collections galaxy.yml depends on
SHIPPED_DEPENDENCIES = {"ansible.posix": "2.1.0", "community.crypto": "3.0.5", "community.digitalocean": "1.27.0",
                        "community.general": "11.4.2", "community.postgresql": "4.2.0"}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user who installed the collection: no ANSIBLE_* setting of this checkout's runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "AIMEMORY_"))}
    return {**env, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", **extra}


def run(*cmd: str | Path, cwd: Path, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = run(BIN / "ansible-galaxy", "collection", "build", "--output-path", out, ROOT, cwd=ROOT, env=clean_env())
    assert built.returncode == 0, built.stdout + built.stderr
    (tarball,) = out.glob("aimemory-swarm-*.tar.gz")
    return tarball


@pytest.fixture(scope="module")
def installed(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collections path the artifact was installed into (empty before), dependencies resolved offline."""
    path = tmp_path_factory.mktemp("collections")
    done = run(BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", path, artifact, cwd=path,
               env=clean_env(ANSIBLE_COLLECTIONS_PATH=str(path)))
    assert done.returncode == 0, done.stdout + done.stderr
    # every dependency is satisfied by what the pinned ansible ships (nothing downloaded, nothing installed here)
    for name, version in SHIPPED_DEPENDENCIES.items():
        assert f"'{name}:{version}' is already installed" in done.stdout, done.stdout
    assert sorted(p.name for p in (path / "ansible_collections").iterdir()) == ["aimemory"]
    return path


def members(tarball: Path) -> set[str]:
    with tarfile.open(tarball) as tar:
        return {m.name.removeprefix("./") for m in tar.getmembers()}


def test_the_tarball_holds_what_a_campaign_needs(artifact: Path) -> None:
    names = members(artifact)
    # the verdict code, whole: every module and schema of the checkout's verify/ package
    verify = {str(p.relative_to(ROOT)) for p in (ROOT / "verify").rglob("*") if p.is_file()
              and "__pycache__" not in p.parts}
    assert verify and verify <= names, sorted(verify - names)
    # the stand-in's source (built on the controller when a campaign certifies it)
    standin = {str(p.relative_to(ROOT)) for p in (ROOT / "standin").rglob("*") if p.is_file()
               and "__pycache__" not in p.parts}
    assert "standin/build.py" in standin and standin <= names, sorted(standin - names)
    # one license, its text, and the entry point
    assert {"LICENSE", "playbooks/campaign.yml"} <= names
    # the campaign's defaults beside the playbooks (links to inventory/group_vars/all/*.yml), which an FQCN run
    # reads without an inventory
    defaults = {f"playbooks/group_vars/all/{p.name}" for p in (ROOT / "inventory" / "group_vars" / "all").glob("*.yml")}
    assert defaults and defaults <= names, sorted(defaults - names)
    # every file a play runs from the collection's own directory
    named = set()
    for play in [*(ROOT / "playbooks").rglob("*.yml"), *(ROOT / "roles").rglob("*.yml")]:
        named |= set(re.findall(r"collection_dir(?:\s*\+\s*'|\s*}}\s*)/([\w./-]+)", play.read_text()))
    assert {"scripts/campaign-reaper", "standin/build.py"} <= named
    # (build/ai-memory: a checkout's stand-in from scripts/bootstrap; an installed collection builds its own)
    assert named - {"build/ai-memory"} <= names, sorted(named - names)
    # the checkout's own tools and whatever runs produce stay out
    for absent in ("scripts/bootstrap", "scripts/test", "scripts/sanity", "scripts/ci-campaign", "ansible.cfg",
                   "requirements.txt", "pyproject.toml", "build", "evidence", ".state", ".venv", ".collections"):
        assert not any(n == absent or n.startswith(absent + "/") for n in names), absent


def test_the_manifest_declares_one_license_dependencies_and_where_the_project_lives(artifact: Path) -> None:
    with tarfile.open(artifact) as tar:
        info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]  # type: ignore[arg-type]
        license_text = tar.extractfile("LICENSE").read().decode()  # type: ignore[union-attr]
    assert info["license"] == ["GPL-3.0-or-later"] and "GNU GENERAL PUBLIC LICENSE" in license_text
    assert "Version 3, 29 June 2007" in license_text
    assert set(info["dependencies"]) == set(SHIPPED_DEPENDENCIES)
    for url in ("repository", "documentation", "issues"):
        assert info[url].startswith("https://github.com/aimemory/ansible-collection-swarm"), info[url]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'license = "GPL-3.0-or-later"' in pyproject


def test_a_campaign_from_the_installed_collection_reaches_a_verdict(installed: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    collection = installed / "ansible_collections" / "aimemory" / "swarm"
    declared = {"campaign_checks": ["s3_mtls_allowlist"], "campaign_phases": []}
    env = clean_env(ANSIBLE_COLLECTIONS_PATH=str(installed), ANSIBLE_CALLBACKS_ENABLED="aimemory.swarm.play_timer")
    started = time.monotonic()
    result = run(BIN / "ansible-playbook", "aimemory.swarm.campaign", "-e", f"campaign_id={CAMPAIGN}",
                 "-e", "ai_memory_sut=standin", *SUBNETS, "-e", json.dumps(declared), cwd=work, env=env, timeout=1500)
    seconds = time.monotonic() - started
    try:
        evidence = work / "evidence" / CAMPAIGN
        doc = json.loads((evidence / "campaign-summary.json").read_text())
    finally:
        assert leftovers(CAMPAIGN) == []  # teardown always runs
    print(f"campaign from the installed collection: {seconds:.0f} s, verdict "
          f"{'GREEN' if doc['overall_pass'] else 'RED'}")
    assert result.returncode == 0, result.stdout[-6000:]
    assert doc["overall_pass"] is True and doc["reasons"] == [], doc["reasons"]
    assert doc["declared_checks"] == ["s3_mtls_allowlist"] and doc["checks"]["s3_mtls_allowlist"]["status"] == "pass"
    assert (evidence / "index.html").is_file() and (evidence / "plays.json").is_file()
    # provenance names the artifact that ran: its version and the sha256 of its file list
    manifest = json.loads((collection / "MANIFEST.json").read_text())
    project = doc["provenance"]["project"]
    assert project["installed"] is True and project["git_commit"] == "unknown"
    assert project["files_sha256"] == manifest["file_manifest_file"]["chksum_sha256"]
    assert project["collection_version"] == manifest["collection_info"]["version"]
    # the stand-in was built from the shipped source, into this campaign's state (removed at teardown)
    binary = doc["provenance"]["binary"]
    assert binary["kind"] == "stand-in" and binary["path"] == str(work / ".state" / CAMPAIGN / "standin" / "ai-memory")
    assert not (work / ".state" / CAMPAIGN).exists()
    # state and evidence went to the working directory: nothing into the installed collection, nothing here
    assert not (collection / "evidence").exists() and not (collection / ".state").exists()
    assert not (ROOT / "evidence" / CAMPAIGN).exists() and not (ROOT / ".state" / CAMPAIGN).exists()
