"""Role aimemory.swarm.ai_memory_build on localhost against a crate registry on 127.0.0.1: a published release
is downloaded, checked against the index, vendored, built offline with a toolchain that satisfies its
rust-version, cached by its key (a second run builds nothing and changes nothing), refused when no installed
toolchain is new enough or when the download does not match the index; a git commit builds the same way."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.build.registry import MAIN_RS, Registry, cargo_lock, cargo_toml

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
CARGO_HOME = Path.home() / ".cargo"
RUSTUP_HOME = Path.home() / ".rustup"
CARGO_TASK = "Build with cargo, offline and locked"


@pytest.fixture
def registry() -> Iterator[Registry]:
    reg = Registry()
    yield reg
    reg.stop()


def play(tmp_path: Path, variables: dict[str, Any], *args: str) -> tuple[int, str, dict[str, Any]]:
    if not (CARGO_HOME / "bin" / "rustup").exists():
        pytest.fail("the build role test needs rustup in ~/.cargo/bin (this project's machines have it)")
    info = tmp_path / "info.json"
    info.unlink(missing_ok=True)
    env = {"PATH": f"{VENV_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(Path.home()),
           "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"), "ANSIBLE_NOCOLOR": "1",
           "AIMEMORY_PLAY_TIMES_FILE": str(tmp_path / "plays.json")}
    base = {"ai_memory_build_packages": [], "ai_memory_build_dir": str(tmp_path / "build"),
            "ai_memory_build_cache_dir": str(tmp_path / "build"), "ai_memory_build_cargo_home": str(CARGO_HOME),
            "ai_memory_build_rustup_home": str(RUSTUP_HOME), "ai_memory_build_controller_cargo_home": str(CARGO_HOME),
            "ai_memory_build_report_every": 1, "build_info_out": str(info)}
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "tests/build/build_role.yml",
                           "-e", json.dumps({**base, **variables}), *args], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout, json.loads(info.read_text()) if info.exists() else {}


def changed(out: str) -> int:
    return int(re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", out).group(1))  # type: ignore[union-attr]


def crate_vars(registry: Registry, version: str) -> dict[str, Any]:
    return {"ai_memory_build_version": version, "ai_memory_build_crate_index_url": f"{registry.url}/index",
            "ai_memory_build_crate_download_url": registry.url + "/dl/{name}/{name}-{version}.crate"}


def test_a_release_is_built_once_from_the_registry_and_then_taken_from_the_cache(
        tmp_path: Path, registry: Registry) -> None:
    cksum = registry.add("ai-memory", "9.9.1", rust_version="1.80")
    rc, out, info = play(tmp_path, crate_vars(registry, "9.9.1"))
    assert rc == 0, out[-3000:]
    assert CARGO_TASK in out and changed(out) > 0
    assert re.search(r"cargo build on localhost: done, 1/1 crates in \d+ min \d\d s", out), out[-3000:]
    assert info["source"] == {"kind": "crate", "name": "ai-memory", "version": "9.9.1", "sha256": cksum,
                              "vendored": True}
    assert info["package"] == {"name": "ai-memory", "version": "9.9.1", "rust_version": "1.80"}
    assert info["version_output"] == "ai-memory 9.9.1-test +sal-postgres"
    assert info["profile"] == {"name": "fast", "env": {"CARGO_PROFILE_RELEASE_LTO": "off",
                                                       "CARGO_PROFILE_RELEASE_CODEGEN_UNITS": "16"}}
    assert "--offline" in info["cargo_args"] and "--locked" in info["cargo_args"]
    assert "--ignore-rust-version" not in info["cargo_args"]
    assert info["toolchain"]["release"] and not info["cached"]
    binary = Path(info["binary_path"])
    assert hashlib.sha256(binary.read_bytes()).hexdigest() == info["sha256"]
    assert binary.parent.name == info["key"] and info["key"].startswith("ai-memory-9.9.1-")

    # second run: the key is in the cache: no cargo, no download, zero changes
    downloads = len([r for r in registry.requests if r.startswith("/dl/")])
    rc, out, again = play(tmp_path, crate_vars(registry, "9.9.1"))
    assert rc == 0, out[-3000:]
    assert changed(out) == 0 and "cargo build on localhost" not in out
    assert len([r for r in registry.requests if r.startswith("/dl/")]) == downloads
    assert again["cached"] is True and {k: v for k, v in again.items() if k != "cached"} == \
        {k: v for k, v in info.items() if k != "cached"}

    # another profile is another artifact
    rc, out, crate_profile = play(tmp_path, {**crate_vars(registry, "9.9.1"), "ai_memory_build_profile": "crate"})
    assert rc == 0, out[-3000:]
    assert crate_profile["key"] != info["key"] and crate_profile["profile"] == {"name": "crate", "env": {}}


def test_no_toolchain_new_enough_is_a_clear_refusal_before_any_build(tmp_path: Path, registry: Registry) -> None:
    registry.add("ai-memory", "9.9.2", rust_version="1.250")
    rc, out, info = play(tmp_path, crate_vars(registry, "9.9.2"))
    assert rc != 0 and info == {}
    assert "declares rust-version 1.250: no installed toolchain satisfies it (installed:" in out
    assert "rustup toolchain install 1.250.0" in out and "never passes --ignore-rust-version" in out
    assert CARGO_TASK not in out
    assert not list((tmp_path / "build").glob("artifacts/*"))


def test_a_download_that_does_not_match_the_index_is_refused(tmp_path: Path, registry: Registry) -> None:
    registry.add("ai-memory", "9.9.3")
    registry.cksum_override[("ai-memory", "9.9.3")] = "0" * 64
    rc, out, _info = play(tmp_path, crate_vars(registry, "9.9.3"))
    assert rc != 0 and "ai-memory-9.9.3.crate has sha256" in out and "the registry says 0000" in out
    assert not (tmp_path / "build" / "src" / "ai-memory-9.9.3").exists()


def test_check_mode_prepares_nothing(tmp_path: Path, registry: Registry) -> None:
    registry.add("ai-memory", "9.9.4")
    rc, out, info = play(tmp_path, crate_vars(registry, "9.9.4"), "--check")
    assert rc == 0, out[-3000:]
    assert "Would prepare" in out and info == {} and not (tmp_path / "build" / "src").exists()
    assert not [r for r in registry.requests if r.startswith("/dl/")]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@localhost", *args], cwd=repo,
                          check=True, capture_output=True, text=True, timeout=60).stdout.strip()


def test_a_git_commit_builds_the_same_way(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "Cargo.toml").write_text(cargo_toml("ai-memory", "9.9.5", "1.80"))
    (repo / "Cargo.lock").write_text(cargo_lock("ai-memory", "9.9.5"))
    (repo / "src" / "main.rs").write_text(MAIN_RS.replace("VERSION", "9.9.5"))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tiny crate")
    head = git(repo, "rev-parse", "HEAD")
    variables = {"ai_memory_build_source": "git", "ai_memory_build_git_url": f"file://{repo}",
                 "ai_memory_build_git_ref": "main"}
    rc, out, info = play(tmp_path, variables)
    assert rc == 0, out[-3000:]
    assert info["source"] == {"kind": "git", "url": f"file://{repo}", "ref": "main", "commit": head,
                              "vendored": True}
    assert info["version_output"] == "ai-memory 9.9.5-test +sal-postgres"
    rc, out, again = play(tmp_path, variables)
    assert rc == 0 and changed(out) == 0 and again["cached"] is True
