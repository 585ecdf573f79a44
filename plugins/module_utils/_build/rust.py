# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Which installed Rust toolchain may build a crate: its ``rust-version`` against each toolchain's ``rustc -vV``.

Never a silent ``--ignore-rust-version``: a toolchain older than the crate's ``rust-version`` is refused, and when
none of the installed ones is new enough the refusal names the requirement and every toolchain it looked at.
Choice among those that satisfy it: releases before pre-releases (beta, nightly), and among equals the newest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?$")


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: str = ""  # "nightly", "beta.3", "" for a release

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.match(text.strip())
        if not match:
            raise ValueError(f"not a Rust version: {text!r}")
        major, minor, patch, pre = match.groups()
        return cls(int(major), int(minor), int(patch or 0), pre or "")

    @property
    def triple(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def satisfies(self, required: Version) -> bool:
        """Cargo's rule for ``rust-version``: the compiler's x.y.z (pre-release ignored) is at least the required."""
        return self.triple >= required.triple

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}" + (f"-{self.pre}" if self.pre else "")


@dataclass(frozen=True)
class Toolchain:
    name: str  # as rustup names it: "stable-x86_64-unknown-linux-gnu", "1.95.0-x86_64-unknown-linux-gnu"
    release: Version | None  # None when its rustc could not be asked
    rustc: str = ""  # first line of rustc -vV, e.g. "rustc 1.97.0-nightly (1b2c3d4e5 2026-05-30)"
    commit_hash: str = ""
    host: str = ""
    problem: str = ""

    @property
    def short_name(self) -> str:
        """The name without the host triple (what ``cargo +<name>`` accepts either way)."""
        return self.name[: -len(self.host) - 1] if self.host and self.name.endswith("-" + self.host) else self.name

    def describe(self) -> str:
        return f"{self.short_name} ({self.release})" if self.release else f"{self.short_name} ({self.problem})"


@dataclass
class Choice:
    toolchain: Toolchain | None
    required: Version
    considered: list[Toolchain] = field(default_factory=list)

    def refusal(self, crate: str) -> str:
        seen = ", ".join(t.describe() for t in self.considered) or "none"
        return (f"{crate} declares rust-version {self.required.major}.{self.required.minor}"
                f"{'.' + str(self.required.patch) if self.required.patch else ''}: no installed toolchain "
                f"satisfies it (installed: {seen}). Install one (rustup toolchain install "
                f"{self.required.major}.{self.required.minor}.{self.required.patch}), set "
                f"ai_memory_build_toolchain_install=true to let the build role install it, or name an installed "
                f"toolchain that is new enough in ai_memory_build_toolchain. The build never passes "
                f"--ignore-rust-version.")


def parse_toolchain_list(text: str) -> list[str]:
    """Names from ``rustup toolchain list`` ("stable-x86_64-... (active, default)" -> "stable-x86_64-...")."""
    names = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("no installed toolchains"):
            continue
        names.append(line.split()[0])
    return names


def parse_rustc_vv(name: str, text: str) -> Toolchain:
    """A toolchain from its ``rustc -vV`` output."""
    fields = {}
    first = ""
    for line in text.splitlines():
        if not first and line.startswith("rustc "):
            first = line.strip()
        key, sep, value = line.partition(": ")
        if sep:
            fields[key.strip()] = value.strip()
    try:
        release = Version.parse(fields.get("release", ""))
    except ValueError:
        return Toolchain(name, None, first, problem=f"rustc -vV printed no release: {text.strip()[:120]!r}")
    return Toolchain(name, release, first, fields.get("commit-hash", ""), fields.get("host", ""))


def _rank(t: Toolchain) -> tuple[int, tuple[int, int, int], str]:
    if t.release is None:  # choose() ranks only toolchains whose release was read
        raise ValueError(f"toolchain {t.name} has no release to rank")
    return (0 if t.release.pre else 1, t.release.triple, t.name)


def choose(toolchains: list[Toolchain], required: Version, wanted: str = "auto") -> Choice:
    """The toolchain to build with. ``wanted`` "auto" picks among all; a name picks that one (with or without its
    host triple), and it must satisfy ``required`` too."""
    considered = list(toolchains)
    if wanted != "auto":
        toolchains = [t for t in toolchains if wanted in (t.name, t.short_name)]
    fit = [t for t in toolchains if t.release is not None and t.release.satisfies(required)]
    return Choice(max(fit, key=_rank) if fit else None, required, considered)
