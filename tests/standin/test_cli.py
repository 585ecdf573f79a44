"""CLI contract of the stand-in: version, bind guard, allowlist, backup/restore, migrate, curator, MCP."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from standin.ai_memory_standin.tlsutil import AllowlistError, parse_allowlist


def run(binary: Path, home: Path, *args: str, faults: str = "", stdin: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "AI_MEMORY_STANDIN_FAULTS": faults}
    proc = subprocess.run([str(binary), *args], cwd=home, env=env, input=stdin, capture_output=True, text=True,
                          timeout=30, check=False)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


def test_version_says_stand_in_and_faults(binary: Path, home: Path) -> None:
    assert "stand-in" in run(binary, home, "--version").stdout
    out = run(binary, home, "--version", faults="no_catchup,drop_fanout").stdout
    assert out.splitlines()[1] == "stand-in faults: drop_fanout,no_catchup"
    bad = run(binary, home, "--version", faults="typo", check=False)
    assert bad.returncode != 0 and "unknown stand-in fault" in bad.stderr


def test_non_loopback_bind_needs_an_api_key(binary: Path, home: Path) -> None:
    proc = run(binary, home, "serve", "--host", "0.0.0.0", "--port", "1", check=False)
    assert proc.returncode != 0
    assert "refusing to bind to non-loopback address 0.0.0.0 without an API key" in proc.stderr
    assert (home / ".config" / "ai-memory" / "config.toml").exists()  # template written like the real one


def test_allowlist_format(tmp_path: Path) -> None:
    fp = "ab" * 32
    good = tmp_path / "ok.txt"
    good.write_text(f"# peers\n{fp}  # node-a\nsha256:{':'.join(['cd'] * 32)}\n\n{fp.upper()}\n")
    assert parse_allowlist(str(good)) == {fp, "cd" * 32}
    for text, needle in (("# only comments\n", "is empty"), (f"{fp[:-1]}\n", "not a SHA-256"),
                         (f"{fp[:10]} {fp[10:]}\n", "not a SHA-256")):
        bad = tmp_path / "bad.txt"
        bad.write_text(text)
        with pytest.raises(AllowlistError, match=needle):
            parse_allowlist(str(bad))


def test_store_recall_stats_json(binary: Path, home: Path) -> None:
    run(binary, home, "store", "--title", "phase1", "--content", "functional check", "--namespace", "p1")
    recall = json.loads(run(binary, home, "--json", "recall", "functional check").stdout)
    assert recall["count"] == 1 and recall["memories"][0]["title"] == "phase1"
    stats = json.loads(run(binary, home, "--json", "stats").stdout)
    assert stats["total"] == 1 and stats["by_namespace"] == [{"namespace": "p1", "count": 1}]


def test_backup_manifest_and_restore_round_trip(binary: Path, home: Path) -> None:
    run(binary, home, "store", "--title", "keep-me", "--content", "x")
    manifest = json.loads(run(binary, home, "--json", "backup", "--to", "bk", "--keep", "1").stdout)
    snapshot = home / "bk" / manifest["snapshot"]
    assert snapshot.exists() and manifest["bytes"] == snapshot.stat().st_size
    import hashlib

    assert manifest["sha256"] == hashlib.sha256(snapshot.read_bytes()).hexdigest()
    (home / "ai-memory.db").unlink()
    run(binary, home, "restore", "--from", "bk")
    assert json.loads(run(binary, home, "--json", "stats").stdout)["total"] == 1


def test_fault_backup_no_snapshot(binary: Path, home: Path) -> None:
    run(binary, home, "store", "--title", "t", "--content", "x")
    run(binary, home, "backup", "--to", "bk", faults="backup_no_snapshot")
    assert list((home / "bk").glob("*.manifest.json")) and not list((home / "bk").glob("*.db"))


def test_migrate_is_idempotent_and_the_fault_loses_tags(binary: Path, home: Path) -> None:
    run(binary, home, "store", "--title", "m1", "--content", "x", "--tags", "a,b")
    src, dst = f"sqlite://{home}/ai-memory.db", f"sqlite://{home}/copy.db"
    first = json.loads(run(binary, home, "--json", "migrate", "--from", src, "--to", dst).stdout)
    assert first["memories_read"] == 1 and first["memories_written"] == 1 and first["errors"] == []
    again = json.loads(run(binary, home, "--json", "migrate", "--from", src, "--to", dst).stdout)
    assert again["errors"] == []
    rows = sqlite3.connect(home / "copy.db").execute("SELECT body FROM memories").fetchall()
    assert len(rows) == 1 and json.loads(rows[0][0])["tags"] == ["a", "b"]
    run(binary, home, "--json", "migrate", "--from", src, "--to", f"sqlite://{home}/lossy.db",
        faults="migrate_drop_field")
    lossy = sqlite3.connect(home / "lossy.db").execute("SELECT body FROM memories").fetchone()
    assert json.loads(lossy[0])["tags"] == []


def test_curator_dry_run_reports_its_error(binary: Path, home: Path) -> None:
    doc = json.loads(run(binary, home, "--json", "curator", "--once", "--dry-run", "--max-ops", "10").stdout)
    assert doc["dry_run"] is True and doc["errors"] == ["no LLM client configured"]


def test_mcp_session_is_protocol_complete(binary: Path, home: Path) -> None:
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "clientInfo": {"name": "test"}, "capabilities": {}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "memory_store", "arguments": {"title": "mcp-1", "content": "via mcp"}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
         "params": {"name": "memory_recall", "arguments": {"context": "via mcp"}}},
        {"jsonrpc": "2.0", "id": 5, "method": "initialize", "params": {}},
    ]
    out = run(binary, home, "mcp", stdin="\n".join(json.dumps(x) for x in lines) + "\n").stdout
    replies = {r["id"]: r for r in map(json.loads, out.splitlines())}
    assert set(replies) == {1, 2, 3, 4, 5}  # the notification got no answer
    # ai-memory 0.7.0 answers every initialize with 2024-11-05, whatever the client asked (or did not ask)
    assert replies[1]["result"]["protocolVersion"] == "2024-11-05"
    assert replies[5]["result"]["protocolVersion"] == "2024-11-05"
    names = [t["name"] for t in replies[2]["result"]["tools"]]  # the default profile, core
    assert names == ["memory_store", "memory_recall", "memory_search", "memory_list", "memory_load_family",
                     "memory_smart_load", "memory_get", "memory_capabilities"]
    stored = json.loads(replies[3]["result"]["content"][0]["text"])
    assert stored["title"] == "mcp-1" and set(stored) == {"agent_id", "id", "namespace", "tier", "title"}
    recalled = replies[4]["result"]["content"][0]["text"]  # TOON: a header line, then one row per memory
    assert recalled.startswith("count:1|mode:keyword|") and f"{stored['id']}|mcp-1|mid|global|" in recalled


def test_faults_come_from_the_host_file_when_the_variable_is_unset(binary: Path, home: Path) -> None:
    faults_file = home / "standin-faults"
    faults_file.write_text("backup_no_snapshot\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "AI_MEMORY_STANDIN_FAULTS_FILE": str(faults_file)}
    out = subprocess.run([str(binary), "--version"], env=env, capture_output=True, text=True, timeout=30, check=True)
    assert "stand-in faults: backup_no_snapshot" in out.stdout
    env["AI_MEMORY_STANDIN_FAULTS"] = ""  # an explicit (empty) variable wins over the file
    out = subprocess.run([str(binary), "--version"], env=env, capture_output=True, text=True, timeout=30, check=True)
    assert "faults" not in out.stdout
