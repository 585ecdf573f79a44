"""Configuration as the real binary reads it: $HOME/.config/ai-memory/config.toml and AI_MEMORY_* variables."""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DB = "ai-memory.db"

TEMPLATE = """# ai-memory configuration (written because none existed).
# tier = "keyword"          # keyword | semantic | smart | autonomous
# api_key = "..."           # required for a non-loopback bind; clients send X-API-Key
# db = "~/ai-memory.db"
# [admin]
# agent_ids = ["ai:admin"]
"""


@dataclass
class Config:
    api_key: str | None = None
    tier: str = "semantic"
    db: str | None = None
    admin_agent_ids: set[str] = field(default_factory=set)


def config_path() -> Path | None:
    home = os.environ.get("HOME")
    return Path(home) / ".config" / "ai-memory" / "config.toml" if home else None


def load_config() -> Config:
    cfg = Config()
    path = config_path()
    if path is not None and not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(TEMPLATE)
        except OSError:
            pass
    if os.environ.get("AI_MEMORY_NO_CONFIG") != "1" and path is not None and path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, OSError) as exc:
            print(f"ai-memory: config {path}: {exc}; running with defaults", file=sys.stderr)
            data = {}
        cfg.api_key = data.get("api_key") or None
        cfg.tier = str(data.get("tier", cfg.tier))
        cfg.db = data.get("db")
        admin = data.get("admin") or {}
        cfg.admin_agent_ids = set(admin.get("agent_ids") or [])
    env_admins = os.environ.get("AI_MEMORY_ADMIN_AGENT_IDS", "")
    cfg.admin_agent_ids |= {a.strip() for a in env_admins.split(",") if a.strip() and a.strip() != "*"}
    return cfg


def resolve_db(flag: str | None, cfg: Config) -> str:
    """CLI flag > AI_MEMORY_DB > config db > ai-memory.db (relative to the working directory)."""
    value = flag or os.environ.get("AI_MEMORY_DB")
    if not value or value == DEFAULT_DB:
        value = cfg.db or DEFAULT_DB
    return os.path.expanduser(value)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true")
