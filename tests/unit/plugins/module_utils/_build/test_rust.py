"""Toolchain choice: the crate's rust-version against each installed toolchain's rustc -vV, never ignored."""

from __future__ import annotations

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._build.rust import (
    Version,
    choose,
    parse_rustc_vv,
    parse_toolchain_list,
)

HOST = "x86_64-unknown-linux-gnu"
LIST = f"stable-{HOST} (active, default)\nnightly-{HOST}\n1.95.0-{HOST}\n"


def vv(release: str, commit: str = "abc123") -> str:
    return (f"rustc {release} ({commit[:9]} 2026-05-30)\nbinary: rustc\ncommit-hash: {commit}\n"
            f"commit-date: 2026-05-30\nhost: {HOST}\nrelease: {release}\nLLVM version: 20.1.0\n")


def this_machine() -> list:
    releases = {f"stable-{HOST}": "1.95.0", f"nightly-{HOST}": "1.97.0-nightly", f"1.95.0-{HOST}": "1.95.0"}
    return [parse_rustc_vv(name, vv(releases[name])) for name in parse_toolchain_list(LIST)]


def test_parse_list_and_rustc_vv() -> None:
    assert parse_toolchain_list(LIST) == [f"stable-{HOST}", f"nightly-{HOST}", f"1.95.0-{HOST}"]
    t = parse_rustc_vv(f"nightly-{HOST}", vv("1.97.0-nightly"))
    assert str(t.release) == "1.97.0-nightly" and t.short_name == "nightly" and t.host == HOST
    assert t.rustc.startswith("rustc 1.97.0-nightly")
    broken = parse_rustc_vv("odd", "error: toolchain 'odd' is not installed")
    assert broken.release is None and "no release" in broken.problem


def test_nightly_197_is_the_only_choice_for_rust_version_196_on_this_machine() -> None:
    choice = choose(this_machine(), Version.parse("1.96"))
    assert choice.toolchain is not None and choice.toolchain.short_name == "nightly"


def test_a_release_is_preferred_to_a_nightly_and_the_newest_release_wins() -> None:
    tcs = this_machine() + [parse_rustc_vv(f"1.96.0-{HOST}", vv("1.96.0")),
                            parse_rustc_vv(f"1.98.1-{HOST}", vv("1.98.1"))]
    assert choose(tcs, Version.parse("1.96")).toolchain.short_name == "1.98.1"  # type: ignore[union-attr]
    assert choose(tcs, Version.parse("1.95")).toolchain.short_name == "1.98.1"  # type: ignore[union-attr]


def test_none_satisfies_rust_version_and_the_refusal_names_everything() -> None:
    machine = [t for t in this_machine() if not t.release.pre]  # type: ignore[union-attr]
    choice = choose(machine, Version.parse("1.96"))
    assert choice.toolchain is None
    text = choice.refusal("ai-memory 0.7.0")
    assert "rust-version 1.96" in text and "stable (1.95.0)" in text and "1.95.0 (1.95.0)" in text
    assert "rustup toolchain install 1.96.0" in text and "ai_memory_build_toolchain_install" in text
    assert "never passes --ignore-rust-version" in text


def test_a_named_toolchain_must_satisfy_rust_version_too() -> None:
    assert choose(this_machine(), Version.parse("1.96"), "stable").toolchain is None
    named = choose(this_machine(), Version.parse("1.96"), f"nightly-{HOST}").toolchain
    assert named is not None and named.short_name == "nightly"


@pytest.mark.parametrize("text,triple,pre", [("1.96", (1, 96, 0), ""), ("1.97.0-nightly", (1, 97, 0), "nightly"),
                                             ("1.96.1", (1, 96, 1), "")])
def test_versions(text: str, triple: tuple[int, int, int], pre: str) -> None:
    v = Version.parse(text)
    assert v.triple == triple and v.pre == pre
    with pytest.raises(ValueError):
        Version.parse("one.two")
