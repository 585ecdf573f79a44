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
    try:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def collection_version() -> str:
    for line in (ROOT / "galaxy.yml").read_text().splitlines():
        if line.startswith("version:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


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
        "project": {"git_commit": git("rev-parse", "HEAD") or "unknown",
                    "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
                    "collection_version": collection_version()},
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
