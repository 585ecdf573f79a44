# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Ship-gate phase 1 on one node: the CLI on a scratch database, the HTTP API of the running service."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import Endpoint
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History

Runner = Callable[..., tuple[int, str, str]]  # (argv, stdin or None) -> (rc, stdout, stderr)
KNOWN_CURATOR_ERRORS = {"no LLM client configured"}
MEMORY_TOOLS = {"memory_store", "memory_recall", "memory_list", "memory_get", "memory_delete"}


def _content(resp: dict[str, Any]) -> Any:
    body = resp["body"] if isinstance(resp["body"], dict) else {}
    return (body.get("memory") or {}).get("content")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


class Phase1:
    def __init__(self, run: Runner, binary: str, workdir: str, history: History, node: str) -> None:
        self.run, self.binary, self.workdir, self.history, self.node = run, binary, workdir, history, node
        self.db = os.path.join(workdir, "phase1.db")

    def op(self, f: str, ok: bool, **value: Any) -> None:
        self.history.append({"process": self.node, "type": "ok" if ok else "fail", "f": f, "node": self.node,
                             "value": value})

    def cli(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        return self.run([self.binary, "--db", self.db, *args], stdin)

    def cli_checks(self) -> dict[str, Any]:
        title = f"phase1-{self.node}-{uuid.uuid4().hex[:6]}"
        rc, _out, err = self.cli("store", "--title", title, "--content", f"phase 1 functional check on {self.node}",
                                 "--tier", "mid", "--namespace", "ship-gate-phase1")
        self.op("cli_store", rc == 0, rc=rc, stderr=err[-500:])
        rc, out, _err = self.cli("--json", "recall", f"functional check on {self.node}", "--limit", "5")
        recall = _json(out) or {}
        recall_count = len(recall.get("memories") or [])
        self.op("cli_recall", rc == 0 and recall_count >= 1, rc=rc, recall_count=recall_count)
        rc, out, _err = self.cli("--json", "stats")
        stats = _json(out) or {}
        self.op("cli_stats", rc == 0 and int(stats.get("total", 0)) >= 1, rc=rc, total=stats.get("total"))
        backup_dir = os.path.join(self.workdir, "backup")
        rc, _out, err = self.cli("backup", "--to", backup_dir, "--keep", "1")
        snapshots = sorted(glob.glob(os.path.join(backup_dir, "ai-memory-*.db")))
        manifests = sorted(glob.glob(os.path.join(backup_dir, "ai-memory-*.manifest.json")))
        verified = False
        if len(snapshots) == 1 and len(manifests) == 1:
            manifest = _json(open(manifests[0]).read()) or {}
            with open(snapshots[0], "rb") as fh:
                verified = manifest.get("sha256") == hashlib.sha256(fh.read()).hexdigest()
        self.op("backup", rc == 0 and verified, rc=rc, snapshot_count=len(snapshots),
                manifest_count=len(manifests), manifest_sha256_verified=verified, stderr=err[-500:])
        restored_total = None
        if snapshots:
            os.unlink(self.db)
            for suffix in ("-wal", "-shm"):
                if os.path.exists(self.db + suffix):
                    os.unlink(self.db + suffix)
            rc, _out, err = self.cli("restore", "--from", backup_dir)
            rc2, out, _err = self.cli("--json", "stats")
            restored_total = (_json(out) or {}).get("total")
            self.op("restore", rc == 0 and rc2 == 0 and restored_total == stats.get("total"), rc=rc,
                    total_before=stats.get("total"), total_after=restored_total, stderr=err[-500:])
        else:
            self.op("restore", False, reason="no snapshot to restore")
        rc, out, _err = self.cli("--json", "curator", "--once", "--dry-run", "--max-ops", "10")
        curator = _json(out) or {}
        unexpected = [e for e in curator.get("errors", ["curator output unreadable"]) if e not in KNOWN_CURATOR_ERRORS]
        self.op("curator", rc == 0 and not unexpected, rc=rc, errors=curator.get("errors"),
                unexpected_errors=unexpected)
        mcp = self.mcp_session(title)
        return {"stats": stats, "curator": curator, "recall_count": recall_count,
                "snapshot_count": len(snapshots), "manifest_count": len(manifests), "mcp_tool_count": mcp}

    def mcp_session(self, title: str) -> int:
        msgs = [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": {"name": "aimemory.swarm phase1", "version": "1"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
             "params": {"name": "memory_store", "arguments": {"title": f"{title}-mcp", "content": "stored over mcp"}}},
            {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
             "params": {"name": "memory_recall", "arguments": {"context": "stored over mcp"}}},
        ]
        rc, out, _err = self.run([self.binary, "--db", self.db, "mcp", "--tier", "keyword"],
                                 "\n".join(json.dumps(m) for m in msgs) + "\n")
        replies = {r.get("id"): r for r in (_json(line) for line in out.splitlines()) if isinstance(r, dict)}
        tools = {t.get("name") for t in (replies.get(2, {}).get("result") or {}).get("tools", [])}
        recalled = ""
        with contextlib.suppress(KeyError, IndexError, TypeError):
            recalled = replies[4]["result"]["content"][0]["text"]
        ok = (rc == 0 and replies.get(1, {}).get("result", {}).get("protocolVersion") is not None
              and None not in replies and tools >= MEMORY_TOOLS and f"{title}-mcp" in recalled)
        self.op("mcp", ok, rc=rc, protocol_version=replies.get(1, {}).get("result", {}).get("protocolVersion"),
                tools=sorted(t for t in tools if t), round_trip=f"{title}-mcp" in recalled)
        return len(tools)

    def http_checks(self, client: Endpoint, namespace: str) -> None:
        title = f"phase1-http-{uuid.uuid4().hex[:6]}"
        body = {"title": title, "content": "before", "namespace": namespace, "scope": "collective"}
        created = client.request("POST", "/api/v1/memories", body)
        mem_id = (created["body"] or {}).get("id") if isinstance(created["body"], dict) else None
        self.op("http_create", created["status"] == 201 and bool(mem_id), status=created["status"])
        got = client.request("GET", f"/api/v1/memories/{mem_id}")
        self.op("http_get", got["status"] == 200 and _content(got) == "before", status=got["status"])
        upd = client.request("PUT", f"/api/v1/memories/{mem_id}", {"content": "after"})
        again = client.request("GET", f"/api/v1/memories/{mem_id}")
        self.op("http_update", upd["status"] == 200 and _content(again) == "after", status=upd["status"])
        found = client.request("GET", f"/api/v1/search?q=after&namespace={namespace}")
        count = (found["body"] or {}).get("count") if isinstance(found["body"], dict) else None
        self.op("http_search", found["status"] == 200 and count == 1, status=found["status"], count=count)
        gone = client.request("DELETE", f"/api/v1/memories/{mem_id}")
        after = client.request("GET", f"/api/v1/memories/{mem_id}")
        self.op("http_delete", gone["status"] == 200 and after["status"] == 404, status=gone["status"],
                status_after=after["status"])
