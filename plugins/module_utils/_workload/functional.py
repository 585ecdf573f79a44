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
from ansible_collections.aimemory.swarm.plugins.module_utils._process import Completed, document

Runner = Callable[..., Completed]  # (argv, stdin=None, timeout=None) -> Completed (always a deadline: _process.run)
KNOWN_CURATOR_ERRORS = {"no LLM client configured"}
# what the round trip needs whatever the profile: the check fails the MCP step when these are not served
ROUND_TRIP_TOOLS = {"memory_store", "memory_recall"}


def _content(resp: dict[str, Any]) -> Any:
    body = resp["body"] if isinstance(resp["body"], dict) else {}
    return (body.get("memory") or {}).get("content")


class Phase1:
    """``tier``: the recall tier the CLI and MCP are asked for ("" = the product's default, no flag);
    ``mcp_profile``: the MCP profile asked for; ``mcp_tools``: the tools that profile must list exactly (from the
    release's expectations), or None to require only the round trip's tools."""

    def __init__(self, run: Runner, binary: str, workdir: str, history: History, node: str, tier: str = "keyword",
                 mcp_profile: str = "core", mcp_tools: list[str] | None = None,
                 default_tier_timeout: float | None = None) -> None:
        self.run, self.binary, self.workdir, self.history, self.node = run, binary, workdir, history, node
        self.tier, self.mcp_profile, self.mcp_tools = tier, mcp_profile, mcp_tools
        self.default_tier_timeout = default_tier_timeout
        self.db = os.path.join(workdir, "phase1.db")

    def op(self, f: str, ok: bool, done: Completed | None = None, **value: Any) -> None:
        if done is not None and not done.ok:
            value["command"] = done.record()  # the command line, how it ended, its stderr tail
        self.history.append({"process": self.node, "type": "ok" if ok else "fail", "f": f, "node": self.node,
                             "value": value})

    def cli(self, *args: str, stdin: str | None = None, timeout: float | None = None) -> Completed:
        return self.run([self.binary, "--db", self.db, *args], stdin, timeout=timeout)

    def _tier(self) -> list[str]:
        return ["--tier", self.tier] if self.tier else []

    def cli_checks(self) -> dict[str, Any]:
        title = f"phase1-{self.node}-{uuid.uuid4().hex[:6]}"
        done = self.cli("store", "--title", title, "--content", f"phase 1 functional check on {self.node}",
                        "--tier", "mid", "--namespace", "ship-gate-phase1")
        self.op("cli_store", done.ok, done, rc=done.rc)
        done = self.cli("--json", "recall", f"functional check on {self.node}", "--limit", "5", *self._tier())
        recall, why = document(done.stdout)
        recall = recall if isinstance(recall, dict) else {}
        recall_count = len(recall.get("memories") or [])
        self.op("cli_recall", done.ok and recall_count >= 1, done, rc=done.rc, tier=self.tier or "default",
                recall_count=recall_count, **({"output": why} if why and done.ok else {}))
        if self.default_tier_timeout:
            # the product's own default tier, as a first `ai-memory recall` on a host without network runs it
            done = self.cli("--json", "recall", f"functional check on {self.node}", "--limit", "5",
                            timeout=self.default_tier_timeout)
            found, why = document(done.stdout)
            count = len((found if isinstance(found, dict) else {}).get("memories") or [])
            self.op("cli_recall_default_tier", done.ok and count >= 1, done, rc=done.rc, recall_count=count,
                    **({"output": why} if why and done.ok else {}))
        done = self.cli("--json", "stats")
        stats, why = document(done.stdout)
        stats = stats if isinstance(stats, dict) else {}
        self.op("cli_stats", done.ok and isinstance(stats.get("total"), int) and stats["total"] >= 1, done,
                rc=done.rc, total=stats.get("total"), **({"output": why} if why and done.ok else {}))
        backup_dir = os.path.join(self.workdir, "backup")
        done = self.cli("backup", "--to", backup_dir, "--keep", "1")
        snapshots = sorted(glob.glob(os.path.join(backup_dir, "ai-memory-*.db")))
        manifests = sorted(glob.glob(os.path.join(backup_dir, "ai-memory-*.manifest.json")))
        verified = False
        if len(snapshots) == 1 and len(manifests) == 1:
            with open(manifests[0]) as fh:
                manifest, _why = document(fh.read())
            with open(snapshots[0], "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
            verified = isinstance(manifest, dict) and manifest.get("sha256") == digest
        self.op("backup", done.ok and verified, done, rc=done.rc, snapshot_count=len(snapshots),
                manifest_count=len(manifests), manifest_sha256_verified=verified)
        restored_total = None
        if snapshots:
            os.unlink(self.db)
            for suffix in ("-wal", "-shm"):
                if os.path.exists(self.db + suffix):
                    os.unlink(self.db + suffix)
            done = self.cli("restore", "--from", backup_dir)
            again = self.cli("--json", "stats")
            restored_total = (document(again.stdout)[0] or {}).get("total") if again.ok else None
            self.op("restore", done.ok and again.ok and restored_total == stats.get("total"),
                    done if not done.ok else again, rc=done.rc, total_before=stats.get("total"),
                    total_after=restored_total)
        else:
            self.op("restore", False, reason="no snapshot to restore")
        done = self.cli("--json", "curator", "--once", "--dry-run", "--max-ops", "10")
        curator, why = document(done.stdout)
        curator = curator if isinstance(curator, dict) else {}
        errors = curator.get("errors", [why or "curator output unreadable"])
        unexpected = [e for e in errors if e not in KNOWN_CURATOR_ERRORS]
        self.op("curator", done.ok and not unexpected, done, rc=done.rc, errors=errors, unexpected_errors=unexpected)
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
        done = self.run([self.binary, "--db", self.db, "mcp", "--profile", self.mcp_profile, *self._tier()],
                        "\n".join(json.dumps(m) for m in msgs) + "\n")
        # JSON-RPC over stdio: one message per line is the protocol's framing, so lines are right here
        replies = {r.get("id"): r for r in (document(line)[0] for line in done.stdout.splitlines()
                                            if line.strip()) if isinstance(r, dict)}
        tools = {t.get("name") for t in (replies.get(2, {}).get("result") or {}).get("tools", [])
                 if isinstance(t, dict)}
        recalled = ""
        with contextlib.suppress(KeyError, IndexError, TypeError):
            recalled = replies[4]["result"]["content"][0]["text"]
        expected = set(self.mcp_tools) if self.mcp_tools is not None else None
        tools_ok = tools == expected if expected is not None else tools >= ROUND_TRIP_TOOLS
        ok = (done.rc == 0 and replies.get(1, {}).get("result", {}).get("protocolVersion") is not None
              and None not in replies and tools_ok and f"{title}-mcp" in recalled)
        value: dict[str, Any] = {"rc": done.rc, "profile": self.mcp_profile,
                                 "protocol_version": replies.get(1, {}).get("result", {}).get("protocolVersion"),
                                 "tools": sorted(t for t in tools if t), "round_trip": f"{title}-mcp" in recalled}
        if expected is not None:
            value.update(tools_expected=sorted(expected), tools_missing=sorted(expected - tools),
                         tools_unexpected=sorted(t for t in tools - expected if t))
        self.op("mcp", ok, done if done.timed_out or done.rc != 0 else None, **value)
        return len(tools)

    def http_checks(self, client: Endpoint, namespace: str) -> None:
        title = f"phase1-http-{uuid.uuid4().hex[:6]}"
        body = {"title": title, "content": "before", "namespace": namespace, "scope": "collective"}
        created = client.request("POST", "/api/v1/memories", body)
        mem_id = (created["body"] or {}).get("id") if isinstance(created["body"], dict) else None
        extra: dict[str, Any] = {"attestation": created.attestation} if created.attestation else {}
        if created["status"] != 201:
            extra["response"] = created["body"]  # why it was refused (403 ATTESTATION_FAILED, ...)
        self.op("http_create", created["status"] == 201 and bool(mem_id), status=created["status"], **extra)
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
