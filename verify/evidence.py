"""Evidence files: atomic writes, the `latest` link, and loading with a classified outcome."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).parent / "schemas"


def write_json_atomic(path: Path, obj: Any) -> None:
    """Temp file in the same directory, fsync, rename, fsync the directory: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def update_latest(root: Path, campaign_dir: Path) -> None:
    link = root / "latest"
    tmp = root / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(campaign_dir.name)
    os.replace(tmp, link)


@cache
def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


@dataclass
class Loaded:
    status: str  # ok | missing | empty | malformed | schema_invalid
    reason: str
    data: Any = None
    sha256: str | None = None


def load(path: Path, schema_name: str) -> Loaded:
    import hashlib

    if not path.is_file():
        return Loaded("missing", f"{path.name} is missing")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if not raw.strip():
        return Loaded("empty", f"{path.name} is empty", sha256=digest)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        return Loaded("malformed", f"{path.name} is not valid JSON: {exc}", sha256=digest)
    errors = sorted(jsonschema.Draft202012Validator(schema(schema_name)).iter_errors(data), key=lambda e: e.path)
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        return Loaded("schema_invalid", f"{path.name} does not match its schema at {where}: {first.message}",
                      data, digest)
    return Loaded("ok", "", data, digest)
