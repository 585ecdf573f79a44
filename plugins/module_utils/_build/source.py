# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""A crate's source tree, ready for an offline build: a published crate (crates.io or a registry like it) checked
against the registry index's checksum, or a git commit; its dependencies vendored with ``cargo vendor --locked``,
so the build host needs no registry (``cargo build --offline --locked``).

The tree lives in ``<dest>/<id>/`` (``<name>-<version>`` or ``git-<commit>``), with ``.aimemory-source.json``
written last: a tree without it is incomplete and is made again from scratch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._process import Completed, run

STAMP = ".aimemory-source.json"
_RUST_VERSION = re.compile(r'^\s*rust-version\s*=\s*"([^"]+)"', re.M)
_PKG_NAME = re.compile(r'^\s*name\s*=\s*"([^"]+)"', re.M)
_PKG_VERSION = re.compile(r'^\s*version\s*=\s*"([^"]+)"', re.M)

Fetch = Callable[[str, float], bytes]  # (url, timeout) -> body; raises SourceError


class SourceError(RuntimeError):
    """The source cannot be prepared; the message says why."""


def index_path(name: str) -> str:
    """The sparse index path of a crate (cargo's layout: 1/, 2/, 3/a/, ab/cd/)."""
    lower = name.lower()
    if len(lower) <= 2:
        return f"{len(lower)}/{lower}"
    if len(lower) == 3:
        return f"3/{lower[0]}/{lower}"
    return f"{lower[:2]}/{lower[2:4]}/{lower}"


def index_checksum(index_text: str, version: str) -> tuple[str, bool]:
    """(sha256, yanked) of ``version`` in a sparse index file (one JSON object per line)."""
    for line in index_text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("vers") == version:
            return str(entry.get("cksum", "")), bool(entry.get("yanked"))
    raise SourceError(f"version {version} is not in the registry index")


def package_of(cargo_toml: str) -> dict[str, str]:
    """name, version and rust-version of a Cargo.toml's [package] (the first of each key after [package])."""
    section = cargo_toml.split("[package]", 1)[-1]
    section = re.split(r"^\[", section, maxsplit=1, flags=re.M)[0]
    found = {}
    for key, pattern in (("name", _PKG_NAME), ("version", _PKG_VERSION), ("rust_version", _RUST_VERSION)):
        match = pattern.search(section)
        if match:
            found[key] = match.group(1)
    return found


def read_stamp(tree: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(tree, STAMP)) as fh:
            stamp = json.load(fh)
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def write_stamp(tree: str, stamp: dict[str, Any]) -> None:
    tmp = os.path.join(tree, STAMP + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(stamp, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, os.path.join(tree, STAMP))


def _safe_extract(archive: str, into: str, top: str) -> None:
    """Extract a .crate (tar.gz with one top directory ``top``) refusing links and paths that leave it."""
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            norm = os.path.normpath(member.name)
            if norm.startswith("..") or os.path.isabs(norm) or not (norm == top or norm.startswith(top + "/")):
                raise SourceError(f"the crate archive holds a path outside {top}/: {member.name}")
            if not (member.isfile() or member.isdir()):
                raise SourceError(f"the crate archive holds a link or device: {member.name}")
        tar.extractall(into)  # every member checked above (no filter= on Debian 12's Python 3.11.2)


def vendor(tree: str, cargo: list[str], env: dict[str, str], timeout: float) -> Completed:
    """``cargo vendor --locked --versioned-dirs vendor`` and the source replacement it prints, appended to the
    tree's ``.cargo/config.toml``."""
    done = run([*cargo, "vendor", "--locked", "--versioned-dirs", "vendor"], timeout=timeout, env=env, cwd=tree)
    if done.ok:
        os.makedirs(os.path.join(tree, ".cargo"), exist_ok=True)
        with open(os.path.join(tree, ".cargo", "config.toml"), "a") as fh:
            fh.write("\n# written by aimemory.swarm.crate_source: build offline from vendor/\n" + done.stdout)
    return done


def prepare_crate(dest: str, name: str, version: str, download_url: str, index_url: str, fetch: Fetch,
                  timeout: float, checksum: str = "") -> tuple[str, dict[str, Any]]:
    """Download ``name-version.crate``, check its sha256 (``checksum`` if given, else the index's), extract it.
    Returns the tree and its identity (without the vendor step)."""
    tree = os.path.join(dest, f"{name}-{version}")
    if not checksum:
        index = fetch(f"{index_url.rstrip('/')}/{index_path(name)}", timeout).decode()
        checksum, yanked = index_checksum(index, version)
        if yanked:
            raise SourceError(f"{name} {version} is yanked from the registry")
    body = fetch(download_url.format(name=name, version=version), timeout)
    digest = hashlib.sha256(body).hexdigest()
    if digest != checksum:
        raise SourceError(f"{name}-{version}.crate has sha256 {digest}, the registry says {checksum}")
    shutil.rmtree(tree, ignore_errors=True)
    with tempfile.NamedTemporaryFile(dir=dest, suffix=".crate", delete=False) as fh:
        fh.write(body)
    try:
        _safe_extract(fh.name, dest, f"{name}-{version}")
    finally:
        os.unlink(fh.name)
    return tree, {"kind": "crate", "name": name, "version": version, "sha256": checksum}


def resolve_git(git: str, url: str, ref: str, env: dict[str, str], timeout: float) -> str:
    """The commit a ref names (a full commit id is taken as is)."""
    if re.fullmatch(r"[0-9a-f]{40}", ref):
        return ref
    done = run([git, "ls-remote", url, ref, f"{ref}^{{}}"], timeout=timeout, env=env)
    if not done.ok:
        raise SourceError(f"cannot resolve {ref} in {url}: {done.why()}")
    lines = [line.split() for line in done.stdout.splitlines() if line.strip()]
    peeled = [sha for sha, name in lines if name.endswith("^{}")]
    commits = peeled or [sha for sha, _name in lines]
    if not commits:
        raise SourceError(f"{url} has no ref {ref}")
    return commits[0]


def prepare_git(dest: str, url: str, ref: str, commit: str, git: str, env: dict[str, str],
                timeout: float) -> tuple[str, dict[str, Any]]:
    tree = os.path.join(dest, f"git-{commit[:12]}")
    shutil.rmtree(tree, ignore_errors=True)
    for argv in ([git, "init", "-q", tree], [git, "-C", tree, "fetch", "-q", "--depth", "1", url, commit],
                 [git, "-C", tree, "checkout", "-q", "--force", "FETCH_HEAD"]):
        done = run(argv, timeout=timeout, env=env)
        if not done.ok:
            raise SourceError(f"git: {done.why()}")
    head = run([git, "-C", tree, "rev-parse", "HEAD"], timeout=timeout, env=env).stdout.strip()
    if head != commit:
        raise SourceError(f"checked out {head}, expected {commit}")
    return tree, {"kind": "git", "url": url, "ref": ref, "commit": commit}
