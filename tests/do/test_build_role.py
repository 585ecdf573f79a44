"""Role aimemory.swarm.ai_memory_build on localhost (connection local) with a tiny crate made here: it builds once,
records commit, toolchain and sha256 in a manifest, fetches the binary with its checksum verified, changes
nothing on a second run (which reuses the artifact of the same commit, features and toolchain without cargo's
target dir), and in check mode reports a new commit as a build without building it.

1.96 cannot be downloaded here: the test passes a toolchain that is installed (1.95.x)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.do.conftest import ROOT, VENV_BIN, clean_env

HOME = Path.home()
CARGO_HOME = HOME / ".cargo"
RUSTUP_HOME = HOME / ".rustup"
MAIN_RS = """fn main() {
    let feature = if cfg!(feature = "sal-postgres") { " +sal-postgres" } else { "" };
    if std::env::args().any(|a| a == "--version") {
        println!("ai-memory 0.7.0-test{}", feature);
    }
}
"""
CARGO_TOML = """[package]
name = "ai-memory"
version = "0.7.0-test"
edition = "2021"

[features]
sal-postgres = []

[[bin]]
name = "ai-memory"
path = "src/main.rs"
"""


def installed_toolchain() -> str:
    rustup = CARGO_HOME / "bin" / "rustup"
    if not rustup.exists():
        pytest.skip("no rustup at ~/.cargo/bin (the role test builds with an installed toolchain)")
    listed = subprocess.run([str(rustup), "toolchain", "list"], capture_output=True, text=True, timeout=60,
                            check=True).stdout
    versions = re.findall(r"^(\d+\.\d+\.\d+)-", listed, re.M)
    if not versions:
        pytest.skip("no pinned (x.y.z) Rust toolchain installed")
    return sorted(versions, key=lambda v: tuple(int(p) for p in v.split(".")))[-1]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@localhost", *args], cwd=repo,
                          check=True, capture_output=True, text=True, timeout=60).stdout.strip()


@pytest.fixture
def crate(tmp_path: Path) -> Path:
    repo = tmp_path / "crate"
    (repo / "src").mkdir(parents=True)
    (repo / "Cargo.toml").write_text(CARGO_TOML)
    (repo / "src" / "main.rs").write_text(MAIN_RS)
    subprocess.run([str(CARGO_HOME / "bin" / "cargo"), "generate-lockfile", "--offline"], cwd=repo, check=True,
                   capture_output=True, timeout=120, env={"PATH": f"{CARGO_HOME / 'bin'}:/usr/bin:/bin",
                                                          "HOME": str(HOME)})
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tiny crate")
    return repo


def play(tmp_path: Path, variables: dict[str, Any], *args: str) -> tuple[int, str, dict[str, Any]]:
    info = tmp_path / "info.json"
    info.unlink(missing_ok=True)
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "tests/do/playbooks/build_role.yml",
                           "-e", json.dumps({**variables, "build_info_out": str(info)}), *args],
                          cwd=ROOT, env=clean_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout, json.loads(info.read_text()) if info.exists() else {}


def changed(out: str) -> int:
    return int(re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", out).group(1))  # type: ignore[union-attr]


def test_build_once_record_fetch_and_reuse(tmp_path: Path, crate: Path) -> None:
    toolchain = installed_toolchain()
    build_dir, fetch_dir = tmp_path / "build", tmp_path / "fetch"
    variables = {"ai_memory_build_git_url": f"file://{crate}", "ai_memory_build_git_ref": "main",
                 "ai_memory_build_toolchain": toolchain, "ai_memory_build_packages": [],
                 "ai_memory_build_dir": str(build_dir), "ai_memory_build_fetch_dir": str(fetch_dir),
                 "ai_memory_build_cargo_home": str(CARGO_HOME), "ai_memory_build_rustup_home": str(RUSTUP_HOME)}
    head = git(crate, "rev-parse", "HEAD")
    cargo_task = "Build ai-memory (cargo build --release)"

    # 1. build, manifest, fetch
    rc, out, info = play(tmp_path, variables)
    assert rc == 0, out[-3000:]
    assert cargo_task in out and changed(out) > 0
    assert info["git_commit"] == head and info["git_ref"] == "main" and info["git_url"] == f"file://{crate}"
    assert info["toolchain"] == toolchain and info["rustc_version"].startswith(f"rustc {toolchain} ")
    assert info["features"] == ["sal-postgres"]
    assert info["cargo_args"] == ["build", "--release", "--bin", "ai-memory", "--locked", "--features", "sal-postgres"]
    assert info["version_output"] == "ai-memory 0.7.0-test +sal-postgres"
    fetched = Path(info["binary_path"])
    assert fetched.is_file() and fetched.stat().st_mode & 0o111
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == info["sha256"]
    artifact = build_dir / "artifacts" / info["key"]
    assert json.loads((artifact / "manifest.json").read_text())["sha256"] == info["sha256"]
    assert hashlib.sha256((artifact / "ai-memory").read_bytes()).hexdigest() == info["sha256"]
    assert info["key"].startswith(head + "-")

    # 2. second run, even without cargo's target dir: zero changes, the artifact of the same (commit, features,
    #    toolchain) is reused and cargo never runs
    shutil.rmtree(build_dir / "target")
    rc, out, again = play(tmp_path, variables)
    assert rc == 0, out[-3000:]
    assert changed(out) == 0 and cargo_task not in out and not (build_dir / "target").exists()
    assert again == info

    # 3. check mode with a new commit: reported as a build, nothing built
    (crate / "src" / "main.rs").write_text(MAIN_RS + "// a change\n")
    git(crate, "commit", "-qam", "a change")
    new_head = git(crate, "rev-parse", "HEAD")
    rc, out, unused = play(tmp_path, variables, "--check")
    assert rc == 0, out[-3000:]
    assert f"Would build {new_head}" in out and changed(out) > 0 and unused == {}
    assert [p.name for p in (build_dir / "artifacts").iterdir()] == [info["key"]]
    assert git(build_dir / "src", "rev-parse", "HEAD") == head  # check mode did not move the checkout
