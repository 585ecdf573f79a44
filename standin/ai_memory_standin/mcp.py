"""MCP server over stdio (JSON-RPC 2.0): initialize, notifications/initialized, tools/list, tools/call."""

from __future__ import annotations

import json
import sys
from typing import Any

from ai_memory_standin import VERSION
from ai_memory_standin.models import ValidationError, is_expired, new_memory, public_view
from ai_memory_standin.store import Conflict, open_store

PROTOCOL_VERSIONS = ("2025-06-18", "2025-03-26", "2024-11-05")

_STR = {"type": "string"}
TOOLS: list[dict[str, Any]] = [
    {"name": "memory_store", "description": "Store a memory",
     "inputSchema": {"type": "object", "required": ["title", "content"],
                     "properties": {"title": _STR, "content": _STR, "tier": _STR, "namespace": _STR,
                                    "tags": {"type": "array", "items": _STR}, "priority": {"type": "integer"}}}},
    {"name": "memory_recall", "description": "Recall memories relevant to a context",
     "inputSchema": {"type": "object", "required": ["context"],
                     "properties": {"context": _STR, "namespace": _STR, "limit": {"type": "integer"}}}},
    {"name": "memory_search", "description": "Keyword search", "inputSchema": {
        "type": "object", "required": ["query"], "properties": {"query": _STR, "namespace": _STR}}},
    {"name": "memory_list", "description": "List memories", "inputSchema": {
        "type": "object", "properties": {"namespace": _STR, "limit": {"type": "integer"}}}},
    {"name": "memory_get", "description": "Get a memory by id", "inputSchema": {
        "type": "object", "required": ["id"], "properties": {"id": _STR}}},
    {"name": "memory_update", "description": "Update a memory", "inputSchema": {
        "type": "object", "required": ["id"], "properties": {"id": _STR, "title": _STR, "content": _STR}}},
    {"name": "memory_delete", "description": "Delete a memory", "inputSchema": {
        "type": "object", "required": ["id"], "properties": {"id": _STR}}},
    {"name": "memory_stats", "description": "Store statistics", "inputSchema": {"type": "object", "properties": {}}},
]


def _text(doc: Any) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": json.dumps(doc)}], "isError": False}


def call_tool(db: Any, agent: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    live = [m for m in db.all_rows(args.get("namespace")) if not is_expired(m)]
    if name == "memory_store":
        mem = new_memory({**args, "source": "claude"}, agent)
        db.create(mem)
        return _text({"id": mem["id"], "tier": mem["tier"], "namespace": mem["namespace"], "title": mem["title"]})
    if name in ("memory_recall", "memory_search"):
        words = str(args.get("context") or args.get("query") or "").lower().split()
        rows = [public_view(m) for m in live if any(w in f"{m['title']} {m['content']}".lower() for w in words)]
        return _text({"memories": rows[: int(args.get("limit", 10))], "count": len(rows)})
    if name == "memory_list":
        rows = [public_view(m) for m in live][: int(args.get("limit", 20))]
        return _text({"memories": rows, "count": len(rows)})
    if name in ("memory_get", "memory_update", "memory_delete"):
        mem = db.get(str(args["id"]))
        if mem is None:
            return {"content": [{"type": "text", "text": "not found"}], "isError": True}
        if name == "memory_get":
            return _text({"memory": public_view(mem)})
        if name == "memory_delete":
            return _text({"deleted": db.delete(mem["id"])})
        mem.update({k: args[k] for k in ("title", "content") if k in args})
        db.put(mem)
        return _text({"memory": public_view(mem)})
    if name == "memory_stats":
        return _text({"total": len(live)})
    raise KeyError(name)


def handle(db: Any, agent: str, msg: dict[str, Any], state: dict[str, Any]) -> dict[str, Any] | None:
    method, mid, params = msg.get("method"), msg.get("id"), msg.get("params") or {}
    if mid is None:  # a notification: never answered
        if method == "notifications/initialized":
            state["initialized"] = True
        return None

    def ok(result: Any) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": mid, "result": result}

    def err(code: int, message: str) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": mid, "error": {"code": code, "message": message}}

    if method == "initialize":
        requested = params.get("protocolVersion")
        if not requested:
            return err(-32602, "initialize requires params.protocolVersion")
        version = requested if requested in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0]
        return ok({"protocolVersion": version, "capabilities": {"tools": {"listChanged": False}},
                   "serverInfo": {"name": "ai-memory", "version": VERSION}})
    if method == "ping":
        return ok({})
    if method == "tools/list":
        return ok({"tools": TOOLS})
    if method == "tools/call":
        try:
            return ok(call_tool(db, agent, params.get("name", ""), params.get("arguments") or {}))
        except KeyError as exc:
            return err(-32602, f"unknown tool or missing argument: {exc}")
        except (ValidationError, Conflict) as exc:
            return ok({"content": [{"type": "text", "text": str(exc)}], "isError": True})
    return err(-32601, f"method not found: {method}")


def run_mcp(db_path: str, agent: str) -> int:
    db = open_store(db_path)
    state: dict[str, Any] = {}
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                reply: dict[str, Any] | None = {"jsonrpc": "2.0", "id": None,
                                                "error": {"code": -32700, "message": "parse error"}}
            else:
                reply = handle(db, agent, msg, state)
            if reply is not None:
                sys.stdout.write(json.dumps(reply) + "\n")
                sys.stdout.flush()
    finally:
        db.close()
    return 0
