"""Store backends behind one interface, so the server and federation never care which one runs."""

from __future__ import annotations

from typing import Any, Protocol


class Conflict(Exception):
    """UNIQUE (title, namespace) violation."""

    def __init__(self, title: str, namespace: str, existing_id: str) -> None:
        super().__init__(f"memory with title '{title}' already exists in namespace '{namespace}'")
        self.existing_id = existing_id


class Ambiguous(Exception):
    """An id prefix that matches more than one memory."""


class Store(Protocol):
    backend: str

    def create(self, mem: dict[str, Any]) -> None: ...
    def get(self, id_or_prefix: str) -> dict[str, Any] | None: ...
    def all_rows(self, namespace: str | None = None, include_expired: bool = False) -> list[dict[str, Any]]: ...
    def put(self, mem: dict[str, Any]) -> None: ...
    def delete(self, mem_id: str) -> bool: ...
    def apply_remote(self, mem: dict[str, Any], hidden: bool = False) -> str: ...
    def since(self, since: str | None, limit: int) -> list[dict[str, Any]]: ...
    def schema_version(self) -> int: ...
    def close(self) -> None: ...


def open_store(url_or_path: str) -> Store:
    if url_or_path.startswith(("postgres://", "postgresql://")):
        raise ValueError("the stand-in has no PostgreSQL store yet (see docs/standin.md); use SQLite (--db)")
    from ai_memory_standin.store.sqlite import SqliteStore

    path = url_or_path
    if path.startswith("sqlite:///"):
        path = "/" + path[len("sqlite:///"):]
    elif path.startswith("sqlite://"):
        path = path[len("sqlite://"):]
    return SqliteStore(path)
