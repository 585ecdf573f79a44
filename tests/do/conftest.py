"""Fixtures of the DigitalOcean tests: a mock API on 127.0.0.1, token files, and a runner for the real plays.

Every run goes to the mock only (campaign_do_api_url), with a throw-away campaign root (state and evidence under
pytest's tmp dir) and without any DigitalOcean token variable inherited from the environment. Each run's output
is kept and checked for the tokens and for private key material before the test looks at anything else.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.do.mock_api import DoMock

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
TOKEN_VARS = ("DO_API_TOKEN", "DIGITALOCEAN_TOKEN", "DO_API_KEY", "DO_OAUTH_TOKEN", "OAUTH_TOKEN", "DO_DEADMAN_TOKEN")
PRIVATE_KEY_RE = re.compile(r"PRIVATE KEY|b3BlbnNzaC1rZXktdjE")  # PEM armour, or the base64 of "openssh-key-v1"
RUN_TIMEOUT = 240


@dataclass
class Run:
    rc: int
    out: str
    seconds: float
    log: Path


@dataclass
class Campaign:
    """One campaign against one mock: its id, its root (state, evidence), its tokens and what its runs wrote."""

    mock: DoMock
    root: Path
    token: str
    deadman: str
    token_file: Path
    deadman_file: Path
    id: str = field(default_factory=lambda: f"t-{uuid.uuid4().hex[:10]}")
    logs: list[Path] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.root / ".state" / self.id

    @property
    def evidence_dir(self) -> Path:
        return self.root / "evidence" / self.id

    def extra(self, **overrides: Any) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "campaign_provider": "digitalocean",
            "campaign_id": self.id,
            "campaign_root": str(self.root),
            "ai_memory_binary": "/bin/true",  # validate wants an executable; nothing is deployed
            "campaign_do_api_url": self.mock.url,
            "campaign_do_token_file": str(self.token_file),
            "campaign_do_deadman_token_file": str(self.deadman_file),
            "campaign_do_ssh_sources": ["203.0.113.7/32"],
            "campaign_do_wait_for_ssh": False,  # mock droplets have no SSH
            "campaign_do_reaper": False,
            "campaign_do_poll_interval": 1,
            "campaign_do_api_retry_seconds": 3,
            "campaign_do_teardown_timeout": 60,
            "campaign_do_active_timeout": 60,
        }
        extra.update(overrides)
        return extra

    def play(self, *playbooks: str, extra: dict[str, Any] | None = None, args: tuple[str, ...] = (),
             env: dict[str, str] | None = None, name: str = "run") -> Run:
        """ansible-playbook <playbooks> -e <extra> from the repository root; output kept and checked for secrets."""
        log = self.root / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        cmd = [str(VENV_BIN / "ansible-playbook"), *playbooks, "-e", json.dumps(extra or self.extra()), *args]
        started = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, env=clean_env(self.root, env), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=RUN_TIMEOUT, check=False)
        log.write_text(proc.stdout)
        self.assert_no_secrets([log])
        return Run(proc.returncode, proc.stdout, time.monotonic() - started, log)

    def provision(self, **overrides: Any) -> Run:
        return self.play("tests/do/playbooks/provision.yml", extra=self.extra(**overrides), name="provision")

    def teardown(self, **overrides: Any) -> Run:
        return self.play("playbooks/teardown.yml", extra=self.extra(**overrides), name="teardown")

    def secrets(self) -> list[str]:
        found = [self.token, self.deadman]
        keys = self.state_dir / "hostkeys"
        if keys.is_dir():  # the host keys' base64 bodies, read while the state exists
            for key in keys.glob("*_ed25519"):
                found += [line for line in key.read_text().splitlines() if line and "-----" not in line]
        return found

    def assert_no_secrets(self, paths: list[Path], extra_secrets: list[str] | None = None) -> None:
        needles = [s for s in self.secrets() + (extra_secrets or []) if len(s) >= 16]
        for path in paths:
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            for file in files:
                text = file.read_text(errors="replace")
                leaked = [n[:12] + "..." for n in needles if n in text]
                assert not leaked, f"{file} holds secrets {leaked}"
                assert not PRIVATE_KEY_RE.search(text), f"{file} holds private key material"


def clean_env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TOKEN_VARS and not k.startswith("ANSIBLE_")}
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
               ANSIBLE_NOCOLOR="1", AIMEMORY_PLAY_TIMES_FILE=str(root / "plays.json"))
    env.update(extra or {})
    return env


def token_file(path: Path, value: str) -> Path:
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def dropped_address() -> Iterator[str]:
    """A loopback address (127.88.x.y, random) whose packets are dropped by a rule in an nftables table this fixture
    creates and always deletes: a host behind a firewall that drops SSH. No other address is touched."""
    address = f"127.88.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"
    table = f"aimemory_test_drop_{secrets.token_hex(4)}"
    ruleset = (f"table ip {table} {{\n  chain out {{\n    type filter hook output priority 0; policy accept;\n"
               f"    ip daddr {address} drop\n  }}\n}}\n")
    made = subprocess.run(["nft", "-f", "-"], input=ruleset, text=True, capture_output=True, timeout=30, check=False)
    assert made.returncode == 0, f"cannot create the nftables table {table} (root and nftables needed): {made.stderr}"
    try:
        yield address
    finally:
        subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True, timeout=30, check=False)


@pytest.fixture
def make_campaign(tmp_path: Path) -> Iterator[Any]:
    mocks: list[DoMock] = []

    def make(**mock_options: Any) -> Campaign:
        token = "dop_v1_" + secrets.token_hex(32)
        deadman = "dop_v1_" + secrets.token_hex(32)
        mock = DoMock(token, **mock_options)
        mocks.append(mock)
        root = tmp_path / f"root{len(mocks)}"
        root.mkdir()
        return Campaign(mock, root, token, deadman, token_file(root / "do-token", token),
                        token_file(root / "deadman-token", deadman))

    yield make
    for mock in mocks:
        mock.close()


@pytest.fixture
def campaign(make_campaign: Any) -> Campaign:
    return make_campaign()
