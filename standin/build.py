#!/usr/bin/env python
"""Build the stand-in into one executable file (a zipapp run by Debian's /usr/bin/python3): build/ai-memory."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import zipapp
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "app"
        shutil.copytree(HERE / "ai_memory_standin", src / "ai_memory_standin",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        partial = out.with_name(out.name + ".partial")
        zipapp.create_archive(src, partial, interpreter="/usr/bin/python3",
                              main="ai_memory_standin.cli:_entry")
        partial.chmod(0o755)
        partial.replace(out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=HERE.parent / "build" / "ai-memory")
    print(build(parser.parse_args().out))
