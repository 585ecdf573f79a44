"""MCP server over stdio (JSON-RPC 2.0): initialize, notifications/initialized, tools/list, tools/call."""

from __future__ import annotations

import json
import sys
from typing import Any

from ai_memory_standin import VERSION
from ai_memory_standin.mcp_catalog import FAMILIES, ORDER, PROFILES
from ai_memory_standin.models import ValidationError, is_expired, new_memory, public_view
from ai_memory_standin.store import Conflict, open_store, touch_all

# ai-memory 0.7.0 answers every initialize with this version, whatever the client asked (src/mcp/mod.rs)
PROTOCOL_VERSION = "2024-11-05"

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_INT = {"type": ["integer", "null"]}
SCHEMAS: dict[str, dict[str, Any]] = {
    "memory_store": {"type": "object", "required": ["title", "content"],
                     "properties": {"title": _STR, "content": _STR, "tier": _NSTR, "namespace": _NSTR,
                                    "tags": {"type": ["array", "null"], "items": _STR}, "priority": _INT}},
    "memory_recall": {"type": "object", "required": ["context"],
                      "properties": {"context": _STR, "namespace": _NSTR, "limit": _INT, "format": _NSTR}},
    "memory_search": {"type": "object", "required": ["query"], "properties": {"query": _STR, "namespace": _NSTR}},
    "memory_list": {"type": "object", "properties": {"namespace": _NSTR, "limit": _INT}},
    "memory_get": {"type": "object", "required": ["id"], "properties": {"id": _STR}},
    "memory_update": {"type": "object", "required": ["id"],
                      "properties": {"id": _STR, "title": _NSTR, "content": _NSTR}},
    "memory_delete": {"type": "object", "required": ["id"], "properties": {"id": _STR}},
    "memory_capabilities": {"type": "object", "properties": {}},
}


class ProfileError(ValueError):
    pass


def profile_tools(profile: str) -> list[str]:
    """The tools a profile lists, in tools/list order: named profiles and families, comma-separated; core (with
    the always-on memory_capabilities) is always loaded."""
    families = {"core"}
    for token in (t.strip().lower() for t in profile.split(",") if t.strip()):
        if token in PROFILES:
            families.update(PROFILES[token])
        elif token in FAMILIES:
            families.add(token)
        else:
            raise ProfileError(f"invalid profile: unknown profile or family '{token}'. Valid profiles: "
                               f"core, graph, admin, power, full. Valid families: {', '.join(FAMILIES)}.")
    loaded = {name for family in families for name in FAMILIES[family]}
    return [name for name in ORDER if name in loaded]


def tool_list(names: list[str]) -> list[dict[str, Any]]:
    return [{"name": n, "description": n.replace("memory_", "").replace("_", " ") if n in SCHEMAS
             else f"{n} (listed; not served by the ai-memory stand-in)",
             "inputSchema": SCHEMAS.get(n, {"type": "object", "properties": {}})} for n in names]


def _text(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}]}


def _toon(rows: list[dict[str, Any]]) -> str:
    """ai-memory's compact recall format (TOON): a header, then one |-separated row per memory."""
    def cell(value: Any) -> str:
        return str(value if value is not None else "").replace("|", "\\|").replace(":", "\\:")
    lines = [f"count:{len(rows)}|mode:keyword|tokens_used:{sum(len(str(r.get('content', '')).split()) for r in rows)}",
             "memories[id|title|tier|namespace|priority|score|tags|agent_id]:"]
    for r in rows:
        values = (r["id"], r["title"], r["tier"], r["namespace"], r.get("priority"), 6.5,
                  ",".join(r.get("tags") or []), (r.get("metadata") or {}).get("agent_id"))
        lines.append("|".join(cell(v) for v in values))
    return "\n".join(lines) + "\n"


def call_tool(db: Any, agent: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    live = [m for m in db.all_rows(args.get("namespace")) if not is_expired(m)]
    if name == "memory_store":
        mem = new_memory({**args, "source": "claude"}, agent)
        db.create(mem)
        return _text(json.dumps({"agent_id": agent, "id": mem["id"], "namespace": mem["namespace"],
                                 "tier": mem["tier"], "title": mem["title"]}, indent=2, sort_keys=True))
    if name in ("memory_recall", "memory_search"):
        words = str(args.get("context") or args.get("query") or "").lower().split()
        rows = [public_view(m) for m in live if any(w in f"{m['title']} {m['content']}".lower() for w in words)]
        rows = rows[: int(args.get("limit") or 10)]
        if name == "memory_recall":
            touch_all(db, [r["id"] for r in rows])  # a recall touches its hits; a search does not
        return _text(_toon(rows) if args.get("format", "toon") == "toon" else json.dumps({"memories": rows}))
    if name == "memory_list":
        rows = [public_view(m) for m in live][: int(args.get("limit") or 20)]
        return _text(json.dumps({"memories": rows, "count": len(rows)}))
    if name == "memory_capabilities":
        return _text(json.dumps({"version": VERSION, "tier": "keyword", "stand_in": True}))
    if name in ("memory_get", "memory_update", "memory_delete"):
        mem = db.get(str(args["id"]))
        if mem is None:
            return {**_text("not found"), "isError": True}
        if name == "memory_get":
            return _text(json.dumps({"memory": public_view(mem)}))
        if name == "memory_delete":
            return _text(json.dumps({"deleted": db.delete(mem["id"])}))
        mem.update({k: args[k] for k in ("title", "content") if k in args})
        db.put(mem)
        return _text(json.dumps({"memory": public_view(mem)}))
    return {**_text(f"{name} is listed but not served by the ai-memory stand-in"), "isError": True}


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
        return ok({"capabilities": {"prompts": {}, "tools": {}}, "protocolVersion": PROTOCOL_VERSION,
                   "serverInfo": {"name": "ai-memory", "version": VERSION}})
    if method == "ping":
        return ok({})
    if method == "tools/list":
        return ok({"tools": tool_list(state["tools"])})
    if method == "tools/call":
        name = params.get("name", "")
        if name not in state["tools"]:
            return err(-32601, f"unknown tool: {name}")
        try:
            return ok(call_tool(db, agent, name, params.get("arguments") or {}))
        except KeyError as exc:
            return err(-32602, f"missing argument: {exc}")
        except (ValidationError, Conflict) as exc:
            return ok({"content": [{"type": "text", "text": str(exc)}], "isError": True})
    return err(-32601, f"method not found: {method}")


def run_mcp(db_path: str, agent: str, profile: str = "core") -> int:
    try:
        tools = profile_tools(profile)
    except ProfileError as exc:
        print(f"ai-memory mcp: {exc}", file=sys.stderr)
        return 2
    db = open_store(db_path)
    state: dict[str, Any] = {"tools": tools}
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
