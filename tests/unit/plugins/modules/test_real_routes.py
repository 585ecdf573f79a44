"""S3's route table against the real ai-memory 0.7.0: the table holds every route of its router (read from the
crate's source when the build cache has it), and the real daemon on 127.0.0.1 refuses every stranger at the TLS
handshake on every route while the allowlisted control gets an HTTP answer on each (when the binary is cached or
given as AIMEMORY_REAL_BINARY; AIMEMORY_REQUIRE_REAL=1 makes a missing binary a failure)."""

from __future__ import annotations

import glob
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.routes import ROUTE_TABLE, routes
from ansible_collections.aimemory.swarm.plugins.modules import history_check, mtls_probe

from tests.unit.plugins.module_utils.fakes import PKI
from tests.unit.plugins.modules.conftest import Runner

SOURCE = Path("/var/lib/aimemory-build/src/ai-memory-0.7.0/src")
IDENTITIES = ["rogue_ca", "own_ca_unlisted", "no_cert", "control"]


def real_binary() -> str | None:
    given = os.environ.get("AIMEMORY_REAL_BINARY")
    if given:
        return given
    cached = sorted(glob.glob("/var/lib/aimemory-build/artifacts/ai-memory-0.7.0-*/ai-memory"))
    return cached[0] if cached else None


def router_routes() -> set[tuple[str, str]]:
    """(method, path) of every ``.route(...)`` of 0.7.0's build_router_with_timeout."""
    lib = (SOURCE / "lib.rs").read_text()
    start = lib.index("pub fn build_router_with_timeout")
    body = lib[start:lib.index(".layer(", start)]
    paths = dict(re.findall(r'pub const (\w+): &str = "([^"]+)"', (SOURCE / "handlers" / "routes.rs").read_text()))
    pairs = re.findall(r"\.route\(\s*handlers::routes::(\w+),\s*(?:axum::routing::)?(get|post|put|delete)\(", body)
    return {(method.upper(), paths[const]) for const, method in pairs}


@pytest.mark.skipif(not (SOURCE / "lib.rs").is_file(), reason="ai-memory 0.7.0's source is not in the build cache")
def test_the_route_table_is_the_routers_and_only_adds_paths_it_does_not_serve() -> None:
    product = router_routes()
    table = {(r["method"], r["route"]): r["group"] for r in routes()}
    assert len(product) == 89
    assert product - set(table) == set()
    assert {k: g for k, g in table.items() if k not in product} == {
        ("POST", "/mcp"): "mcp", ("GET", "/"): "unknown", ("GET", "/api/v1/s3-no-such-route"): "unknown",
        ("POST", "/api/v2/memories"): "unknown", ("GET", "/.well-known/ai-memory"): "unknown"}


def test_real_daemon_refuses_strangers_on_every_route(run_module: Runner, pki: PKI, tmp_path: Path) -> None:
    binary = real_binary()
    if not binary or not os.access(binary, os.X_OK):
        if os.environ.get("AIMEMORY_REQUIRE_REAL") == "1":
            pytest.fail(f"the real ai-memory binary is required and missing: {binary!r}")
        pytest.skip("no real ai-memory binary (AIMEMORY_REAL_BINARY or the build cache)")
    home = tmp_path / "home"
    home.mkdir()
    allowlist = tmp_path / "allowlist.txt"
    allowlist.write_text(pki.client.fingerprint + "\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HOME": str(home), "AI_MEMORY_NO_CONFIG": "1", "AI_MEMORY_DB": str(tmp_path / "db.sqlite")}
    with (tmp_path / "daemon.log").open("w") as log:
        daemon = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--port", str(port), "--tls-cert",
                                   pki.server.cert, "--tls-key", pki.server.key, "--mtls-allowlist", str(allowlist)],
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the daemon did not listen within 60 s"
                time.sleep(0.2)
        idents = [{"name": "rogue_ca", "cert": pki.rogue.cert, "key": pki.rogue.key, "expect": "refused"},
                  {"name": "own_ca_unlisted", "cert": pki.outsider.cert, "key": pki.outsider.key,
                   "expect": "refused"},
                  {"name": "no_cert", "expect": "refused"},
                  {"name": "control", "cert": pki.client.cert, "key": pki.client.key, "expect": "allowed"}]
        hist = str(tmp_path / "s3.jsonl")
        result = run_module(mtls_probe, {"url": f"https://127.0.0.1:{port}", "node": "node-a",
                                         "ca_cert": pki.ca.path, "agent_id": "ai:s3-prober", "namespace": "s3-real",
                                         "history": hist, "identities": idents, "timeout": 10})
        ev = run_module(history_check, {"history": hist, "check": "s3", "kind": "mtls_allowlist",
                                        "params": {"identities": IDENTITIES, "control": "control",
                                                   "nodes": ["node-a"], "route_table": ROUTE_TABLE}})
    finally:
        daemon.terminate()
        daemon.wait(15)
    assert ev["pass"], ev["reasons"]
    assert ev["figures"]["namespace_read_back"]["numerator"] == 1  # the control's create read back, no stranger's
    strangers = [r for r in result["results"] if r["expect"] == "refused"]
    assert len(strangers) == 3 * len(routes()) and result["refused"] == len(strangers)
    control = {f"{r['method']} {r['route']}": r["status"] for r in result["results"] if r["identity"] == "control"}
    assert all(isinstance(s, int) for s in control.values()), control
    # what 0.7.0 serves, and what it does not: the sync routes answer the control, MCP is not served over HTTP
    assert control["GET /api/v1/sync/since"] == 200 and control["GET /api/v1/health"] == 200
    assert control["POST /api/v1/memories"] == 201 and control["POST /mcp"] == 404
