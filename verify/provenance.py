"""Provenance: this project's commit, the tool versions, the binary that ran, the topology."""

from __future__ import annotations

import json
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

from verify.summary import now

ROOT = Path(__file__).resolve().parent.parent


def git(*args: str) -> str | None:
    """git in this project's own checkout; None when the code is not one (an installed collection, even one that
    sits inside someone else's repository, has no commit of this project to report)."""
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10, check=False)
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != ROOT:
            return None
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def manifest() -> dict[str, Any] | None:
    """MANIFEST.json of an installed collection (ansible-galaxy writes it into the artifact), None in a checkout."""
    try:
        return json.loads((ROOT / "MANIFEST.json").read_text())
    except (OSError, ValueError):
        return None


def collection_version() -> str:
    installed = manifest()
    if installed is not None:
        return str((installed.get("collection_info") or {}).get("version") or "unknown")
    try:
        lines = (ROOT / "galaxy.yml").read_text().splitlines()
    except OSError:
        return "unknown"
    for line in lines:
        if line.startswith("version:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def project() -> dict[str, Any]:
    """Which code of this project ran: a checkout's commit (and whether it had changes), or, for an installed
    collection, the artifact's version and the sha256 of its FILES.json, which names every file's sha256."""
    doc: dict[str, Any] = {"git_commit": git("rev-parse", "HEAD") or "unknown",
                           "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
                           "collection_version": collection_version()}
    installed = manifest()
    if installed is not None:
        doc["installed"] = True
        doc["files_sha256"] = (installed.get("file_manifest_file") or {}).get("chksum_sha256")
    return doc


def build(facts: dict[str, Any]) -> dict[str, Any]:
    try:
        from ansible.release import __version__ as core
    except ImportError:
        core = "unknown"
    try:
        from importlib.metadata import version

        ansible_pkg = version("ansible")
    except Exception:
        ansible_pkg = None
    binary = dict(facts.get("binary") or {})
    binary.pop("per_node", None)
    return {
        "campaign_id": facts["campaign_id"],
        "project": project(),
        "ansible": {"ansible_core": core, "ansible": ansible_pkg},
        "controller": {"hostname": socket.gethostname(), "python": platform.python_version()},
        "provider": facts["provider"],
        "binary": binary,
        "binary_per_node": (facts.get("binary") or {}).get("per_node", {}),
        # role ai_memory_build's manifest (source, features, profile, toolchain, build time) when it built the binary
        "build": {k: v for k, v in (facts.get("build") or {}).items() if k != "binary_path"} or None,
        "expectations": facts.get("expectations") or None,
        "settings": facts.get("settings") or {},
        # the write-attestation posture the nodes ran: a permissive run (or any posture that is not the release's
        # default) says so here, in the summary and in the certification table
        "posture": (facts.get("settings") or {}).get("posture") or None,
        # checks the campaign could not judge on this release, and why (never a silent pass)
        "not_judged": facts.get("not_judged") or {},
        "topology": facts["topology"],
        # PostgreSQL, pgvector and AGE as they run (role postgres_age), when the campaign deployed them
        "postgres": facts.get("postgres") or None,
        "recorded_at": now(),
    }


def load_facts(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
