"""A crate registry on 127.0.0.1 for the build role's tests: a sparse index and .crate downloads of crates made
here (tar.gz with one top directory, like `cargo package` makes), so the role's crates.io path runs without
leaving the machine."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAIN_RS = """fn main() {
    let feature = if cfg!(feature = "sal-postgres") { " +sal-postgres" } else { "" };
    if std::env::args().any(|a| a == "--version") {
        println!("ai-memory VERSION-test{}", feature);
    }
}
"""


def cargo_toml(name: str, version: str, rust_version: str) -> str:
    return (f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\nrust-version = "{rust_version}"\n\n'
            f'[features]\nsal-postgres = []\n\n[[bin]]\nname = "ai-memory"\npath = "src/main.rs"\n')


def cargo_lock(name: str, version: str) -> str:
    return f'version = 4\n\n[[package]]\nname = "{name}"\nversion = "{version}"\n'


def make_crate(name: str, version: str, rust_version: str = "1.80") -> bytes:
    files = {"Cargo.toml": cargo_toml(name, version, rust_version), "Cargo.lock": cargo_lock(name, version),
             "src/main.rs": MAIN_RS.replace("VERSION", version)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-{version}/{path}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Registry:
    """Serves /index/<sparse path> and /dl/<name>/<name>-<version>.crate; counts requests per path."""

    def __init__(self) -> None:
        self.crates: dict[tuple[str, str], bytes] = {}
        self.cksum_override: dict[tuple[str, str], str] = {}
        self.requests: list[str] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                registry.requests.append(self.path)
                body = registry.answer(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, name: str, version: str, rust_version: str = "1.80") -> str:
        self.crates[(name, version)] = make_crate(name, version, rust_version)
        return hashlib.sha256(self.crates[(name, version)]).hexdigest()

    def answer(self, path: str) -> bytes | None:
        if path.startswith("/index/"):
            name = path.rsplit("/", 1)[-1]
            lines = [json.dumps({"name": n, "vers": v, "deps": [], "features": {}, "yanked": False,
                                 "cksum": self.cksum_override.get((n, v), hashlib.sha256(body).hexdigest())})
                     for (n, v), body in self.crates.items() if n == name]
            return ("\n".join(lines) + "\n").encode() if lines else None
        if path.startswith("/dl/"):
            _dl, name, file = path.strip("/").split("/")
            version = file[len(name) + 1:-len(".crate")]
            return self.crates.get((name, version))
        return None

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
