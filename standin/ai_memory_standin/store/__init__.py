"""Store backends behind one interface, so the server and federation never care which one runs."""

from __future__ import annotations

import re
from typing import Any, Protocol
from urllib.parse import urlsplit

POSTGRES_SCHEMES = ("postgres://", "postgresql://")


class Conflict(Exception):
    """UNIQUE (title, namespace) violation."""

    def __init__(self, title: str, namespace: str, existing_id: str) -> None:
        super().__init__(f"memory with title '{title}' already exists in namespace '{namespace}'")
        self.existing_id = existing_id


class Ambiguous(Exception):
    """An id prefix that matches more than one memory."""


class StoreError(ValueError):
    """The store cannot be opened or used (missing extension, unreachable server, SQLite-only operation)."""


class Store(Protocol):
    backend: str

    def create(self, mem: dict[str, Any]) -> None: ...
    def get(self, id_or_prefix: str) -> dict[str, Any] | None: ...
    def all_rows(self, namespace: str | None = None, include_expired: bool = False) -> list[dict[str, Any]]: ...
    def put(self, mem: dict[str, Any]) -> None: ...
    def delete(self, mem_id: str) -> bool: ...
    def apply_remote(self, mem: dict[str, Any], hidden: bool = False) -> str: ...
    def since(self, since: str | None, limit: int) -> list[dict[str, Any]]: ...
    def upsert(self, mem: dict[str, Any]) -> None: ...
    def touch(self, mem: dict[str, Any]) -> None: ...
    def exists(self, mem_id: str) -> bool: ...
    def link(self, link: dict[str, Any]) -> bool: ...
    def links_of(self, mem_id: str) -> list[dict[str, Any]]: ...
    def list_links(self, namespace: str | None = None) -> list[dict[str, Any]]: ...
    def links_count(self) -> int: ...
    def schema_version(self) -> int: ...
    def close(self) -> None: ...


def touch_all(store: Store, ids: list[str]) -> None:
    """What a recall does to its hits: access counted, expiry extended, a mid memory promoted at the threshold
    (models.touched); the version counter does not move."""
    from ai_memory_standin.models import touched

    for mem_id in ids:
        mem = store.get(mem_id)
        if mem is not None:
            store.touch(touched(mem))


def is_postgres_url(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


_PASSWORD_PARAM = re.compile(r"(?i)([?&]password=)[^&#]*")


def redact_url(url: str) -> str:
    """The URL with its password (userinfo or ?password=) replaced by ***, for logs and reports."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable store url>"
    out = url
    if password is not None:
        userinfo, _at, hostinfo = parts.netloc.rpartition("@")
        out = out.replace(f"//{parts.netloc}", f"//{userinfo.split(':', 1)[0]}:***@{hostinfo}", 1)
    return _PASSWORD_PARAM.sub(r"\1***", out)


def sqlite_path(url_or_path: str) -> str:
    """sqlite:///abs/path -> /abs/path, sqlite://./rel.db -> ./rel.db, a plain path unchanged."""
    if url_or_path.startswith("sqlite:///"):
        return "/" + url_or_path[len("sqlite:///"):]
    if url_or_path.startswith("sqlite://"):
        return url_or_path[len("sqlite://"):]
    return url_or_path


def open_store(url_or_path: str, *, scratch: str | None = None, statement_timeout_s: float = 30.0,
               embedding_dim: int = 384) -> Store:
    """A SQLite store for a path or sqlite:// URL, a PostgreSQL store for postgres:// and postgresql:// URLs.

    `scratch` is the SQLite file a postgres-backed daemon still opens (contract §2 step 2): it holds the
    catch-up watermarks (sync_state) and the node identity; the CLI commands open PostgreSQL without it."""
    if is_postgres_url(url_or_path):
        from ai_memory_standin.store.postgres import PostgresStore

        return PostgresStore(url_or_path, scratch=scratch, statement_timeout_s=statement_timeout_s,
                             embedding_dim=embedding_dim)
    from ai_memory_standin.store.sqlite import SqliteStore

    return SqliteStore(sqlite_path(url_or_path))
