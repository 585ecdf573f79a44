"""HTTP API of the daemon (contract §3): routes, auth, visibility, quorum writes, sync endpoints, mTLS gate."""

from __future__ import annotations

import contextlib
import hmac
import json
import re
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ai_memory_standin import SERVICE, attest, links
from ai_memory_standin.capabilities import capabilities_document
from ai_memory_standin.faults import receive
from ai_memory_standin.federation import Federation
from ai_memory_standin.models import (
    RESERVED_AGENT_IDS,
    TIERS,
    BadBody,
    ValidationError,
    explicit_expiry,
    is_expired,
    is_visible,
    iso,
    new_memory,
    now,
    parse_ts,
    public_view,
    stamp,
    valid_agent_id,
)
from ai_memory_standin.store import Ambiguous, Conflict, StoreError, touch_all
from ai_memory_standin.tlsutil import fingerprint

MAX_BODY = 2 * 1024 * 1024
DAILY_QUOTA = 1000
# Contract §5.5: the registered routes a postgres-backed daemon answers with 501, as (method, path pattern).
POSTGRES_501_ROUTES = tuple((method, re.compile(pattern)) for method, pattern in (
    ("GET", r"/api/v1/namespaces/[^/]+/standard"),
    ("POST", r"/api/v1/find_paths"),
    ("POST", r"/api/v1/skill/register"),
    ("GET", r"/api/v1/skill/list"),
    ("GET", r"/api/v1/skill/[^/]+"),
    ("GET", r"/api/v1/skill/[^/]+/resource"),
    ("POST", r"/api/v1/skill/[^/]+/(?:export|promote|compose)"),
    ("POST", r"/api/v1/share"),
    # memory_reflect, memory_reflection_origin and memory_recall_observations are served by the 0.7.0 postgres
    # branch (src/handlers/postgres_gate.rs), not gated
    ("POST", r"/api/v1/memory_(?:smart_load|dependents_of_invalidated"
             r"|export_reflection|atomise|calibrate_confidence|verify|replay|subscription_replay"
             r"|subscription_dlq_list|rule_list|check_agent_action)"),
))
POSTGRES_501_REMEDIATION = ("use sqlite-backed daemon or wait for v0.7.x trait coverage; see "
                            "docs/postgres-age-guide.md for the supported endpoint inventory")
POSTGRES_PUSH_NOTE = ("postgres-backed receiver: archives, restores, pendings, pending_decisions and namespace_meta "
                      "are sqlite-only and counted as skipped")


def postgres_gated(method: str, path: str) -> bool:
    return any(m == method and rx.fullmatch(path) for m, rx in POSTGRES_501_ROUTES)


def reflect_refusal(body: Any) -> tuple[int, dict[str, Any], None]:
    """POST /api/v1/memory_reflect on PostgreSQL: the real's input checks (400), then 501: the stand-in writes no
    reflections (docs/standin.md)."""
    ids = body.get("source_ids") if isinstance(body, dict) else None
    if not isinstance(ids, list):
        return 400, {"error": "source_ids is required (array of memory IDs)"}, None
    if not ids:
        return 400, {"error": "source_ids cannot be empty"}, None
    wrong = [i for i, v in enumerate(ids) if not isinstance(v, str)]
    if wrong:
        return 400, {"error": f"source_ids[{wrong[0]}] must be a string"}, None
    return 501, {"error": "memory_reflect is not implemented by the ai-memory stand-in"}, None


def log(msg: str, level: str = "INFO") -> None:
    print(f"{stamp()} {level} ai_memory: {msg}", file=sys.stderr, flush=True)


class HttpError(Exception):
    def __init__(self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class App:
    """Everything a request handler needs, shared by all connections."""

    def __init__(self, *, store: Any, cfg: Any, fed: Federation | None, faults: frozenset[str],
                 allowlist: frozenset[str] | None, mtls_enforced: bool) -> None:
        self.store, self.cfg, self.fed, self.faults = store, cfg, fed, faults
        self.allowlist, self.mtls_enforced = allowlist, mtls_enforced
        self.counters: Counter[str] = Counter()
        self.quota: Counter[tuple[str, str, str]] = Counter()
        self.lock = threading.Lock()
        # agent attestation as the impersonated release does it (attest.py)
        self.release = attest.impersonated()
        self.attest_required = attest.required(self.release)
        self.signer = links.Signer.create()

    # --- helpers -------------------------------------------------------------------------------
    def admin(self, agent: str) -> None:
        if agent not in self.cfg.admin_agent_ids:
            raise HttpError(403, {"error": "admin role required"})

    def charge_quota(self, agent: str, namespace: str) -> None:
        key = (agent, namespace, datetime.now(UTC).strftime("%Y-%m-%d"))
        with self.lock:
            if self.quota[key] >= DAILY_QUOTA:
                raise HttpError(429, {"code": "QUOTA_EXCEEDED", "error": "daily memory quota exceeded",
                                      "limit": "memories_per_day", "current": self.quota[key],
                                      "max": DAILY_QUOTA, "agent_id": agent})
            self.quota[key] += 1

    def replicate(self, body: dict[str, Any], mem_id: str | None, retry: bool = True) -> dict[str, Any]:
        """Fan out a committed change; raise the quorum shortfall (the impersonated release's) unless W acks
        arrived. ``retry``: a failed push goes to the DLQ (memories); links are pushed once, never queued, as the real
        does."""
        if self.fed is None:
            return {}
        got, reason = self.fed.replicate(body, mem_id, retry=retry)
        if got >= self.fed.w:
            return {"quorum_acks": got}
        if "ack_without_quorum" in self.faults:
            return {"quorum_acks": got}  # FAULT: 201 although the quorum was not met
        if attest.RELEASES[self.release]["shortfall_accepted"]:  # 0.8.1 on: the local write is durable
            raise HttpError(202, {"quorum_met": False, "acks": got, "needed": self.fed.w, "reason": reason,
                                  "durability": "local"})
        raise HttpError(503, {"error": "quorum_not_met", "got": got, "needed": self.fed.w, "reason": reason},
                        {"Retry-After": "2"})

    # --- agent attestation (attest.py) ---------------------------------------------------------------
    def _registration(self, agent_id: str) -> dict[str, Any] | None:
        rows = [m for m in self.store.all_rows(attest.REGISTRY) if m["title"] == f"agent:{agent_id}"]
        return rows[0] if rows else None

    def bound_key(self, agent_id: str) -> str | None:
        reg = self._registration(agent_id)
        return ((reg or {}).get("metadata") or {}).get("agent_pubkey") or None

    def attested(self, body: dict[str, Any], agent: str) -> tuple[str | None, str | None]:
        try:
            return attest.gate(self.release, self.attest_required, "accept_unsigned" in self.faults, agent, body,
                               self.bound_key(agent))
        except attest.AttestationError as exc:
            if exc.status == 403:
                raise HttpError(403, {"code": "ATTESTATION_FAILED", "error": str(exc)}) from exc
            raise HttpError(exc.status, {"error": str(exc)}) from exc

    def register_agent(self, body: dict[str, Any]) -> dict[str, Any]:
        agent_id, agent_type = body.get("agent_id"), body.get("agent_type")
        if not isinstance(agent_id, str) or not valid_agent_id(agent_id) or not isinstance(agent_type, str):
            raise HttpError(400, {"error": "invalid agent_id or agent_type"})
        reg = self._registration(agent_id)
        if reg is None:  # a registration is a memory of _agents and replicates like one
            reg = new_memory({"title": f"agent:{agent_id}", "content": f"agent {agent_id} ({agent_type})",
                              "namespace": attest.REGISTRY, "tier": "long", "scope": "collective",
                              "metadata": {"agent_type": agent_type}}, agent_id)
            self.store.create(reg)
        extra = self.replicate({"memories": [reg]}, reg["id"])
        return {"registered": True, "id": reg["id"], "agent_id": agent_id, "agent_type": agent_type,
                "capabilities": body.get("capabilities") or [], **extra}

    def bind_key(self, agent_id: str, body: dict[str, Any], caller: str) -> dict[str, Any]:
        self.admin(caller)
        try:
            attest.raw_key(str(body.get("pubkey_b64") or ""))
        except ValueError as exc:
            raise HttpError(400, {"error": f"invalid pubkey_b64: {exc}"}) from exc
        reg = self._registration(agent_id)
        if reg is None:
            raise HttpError(404, {"error": f"cannot bind pubkey: agent '{agent_id}' is not registered"})
        reg["metadata"] = {**(reg.get("metadata") or {}), "agent_pubkey": str(body["pubkey_b64"]).strip()}
        reg["updated_at"] = iso(now())
        self.store.put(reg)  # local: a binding is not fanned out
        return {"bound": True, "agent_id": agent_id}

    def create(self, body: dict[str, Any], agent: str) -> dict[str, Any]:
        for where in (body.get("agent_id"), (body.get("metadata") or {}).get("agent_id")):
            if where is not None and where != agent:
                raise HttpError(403, {"error": "agent_id body parameter does not match authenticated caller"})
        level, signed_at = self.attested(body, agent)
        mem = new_memory(body, agent)
        if signed_at:
            mem["created_at"] = mem["updated_at"] = signed_at
        if level:
            mem["metadata"]["attest_level"] = level
        self.charge_quota(agent, mem["namespace"])
        try:
            self.store.create(mem)
        except Conflict as exc:
            raise HttpError(409, {"code": "CONFLICT", "error": str(exc), "existing_id": exc.existing_id}) from exc
        with self.lock:
            self.counters["store"] += 1
        replicated = self.replicate({"memories": [mem]}, mem["id"])
        if self.store.backend == "postgres":
            # the real's postgres branch answers the memory it built before storing it: the whole memory, no acks
            # count, its times at nanoseconds, and no expires_at unless the caller gave one (the store adds the
            # tier's default expiry to the row, not to the answer)
            return public_view({**mem, "expires_at": explicit_expiry(body, mem)})
        return {"id": mem["id"], "tier": mem["tier"], "namespace": mem["namespace"], "title": mem["title"],
                "agent_id": agent, **replicated}

    def link(self, raw: Any, agent: str) -> dict[str, Any]:
        """POST /api/v1/links. SQLite: the caller must own the source memory, the link is fanned out (quorum,
        no retry) and the answer is {linked, attest_level}; PostgreSQL: no owner gate, no fan-out, the answer
        also names the link."""
        source, target, relation = links.parse_body(raw)
        pg = self.store.backend == "postgres"
        if not pg:
            self._owner_gate(source, agent)
        link = self.signer.sign(links.new_link(source, target, relation))
        try:
            self.store.link(link)
        except StoreError as exc:
            if pg:
                raise HttpError(400, {"error": f"invalid input: {exc}"}) from exc
            raise HttpError(500, {"error": "internal server error"}) from exc  # the real's answer (a defect)
        if pg:
            return {"linked": True, "source_id": source, "target_id": target, "relation": relation,
                    "attest_level": link["attest_level"]}
        self.replicate({"memories": [], "links": [links.wire(link)]}, None, retry=False)
        return {"linked": True, "attest_level": link["attest_level"]}

    def _owner_gate(self, source: str, agent: str) -> None:
        mem = self.store.get(source)
        if mem is None:
            raise HttpError(404, {"error": "source memory not found", "source_id": source})
        meta = mem.get("metadata") or {}
        owner = meta.get("agent_id") or ""
        if owner and agent not in (owner, meta.get("target_agent_id"), "daemon"):
            raise HttpError(403, {"error": "caller does not own this source memory", "owner": owner,
                                  "caller": agent, "source_id": source})

    def visible_rows(self, q: dict[str, str], agent: str) -> list[dict[str, Any]]:
        rows = self.store.all_rows(q.get("namespace"))
        at = now()
        out = []
        for mem in rows:
            if is_expired(mem, at) or not is_visible(mem, agent):
                continue
            if q.get("tier") and mem["tier"] != q["tier"]:
                continue
            if q.get("agent_id") and (mem.get("metadata") or {}).get("agent_id") != q["agent_id"]:
                continue
            if q.get("min_priority") and mem["priority"] < int(q["min_priority"]):
                continue
            if q.get("tags") and not set(q["tags"].split(",")) <= set(mem.get("tags") or []):
                continue
            out.append(mem)
        return out

    def health(self) -> dict[str, Any]:
        doc = {"status": "ok", "service": SERVICE, "version": self.release, "embedder_ready": False,
               "federation_enabled": self.fed is not None}
        if self.faults:
            doc["standin_faults"] = sorted(self.faults)
        if self.store.backend == "postgres" and not self.store.ping():  # contract §3.5: DB check failure -> 503
            doc["status"] = "error"
        return doc

    def capabilities(self) -> dict[str, Any]:
        return capabilities_document(tier=self.cfg.tier, storage_backend=self.store.backend,
                                     db_schema_version=self.store.schema_version())

    def metrics(self) -> str:
        rows = self.store.all_rows()
        fed = self.fed.metrics if self.fed else {}
        lines = [
            "# TYPE ai_memory_store_total counter", f"ai_memory_store_total {self.counters['store']}",
            "# TYPE ai_memory_recall_total counter", f"ai_memory_recall_total {self.counters['recall']}",
            "# TYPE ai_memory_memories gauge", f"ai_memory_memories {len(rows)}",
            "# TYPE ai_memory_federation_fanout_dropped_total counter",
            f'ai_memory_federation_fanout_dropped_total{{reason="abandoned"}} {fed.get("fanout_dropped", 0)}',
            "# TYPE ai_memory_federation_fanout_retry_total counter",
            f'ai_memory_federation_fanout_retry_total{{result="ok"}} {fed.get("retry_ok", 0)}',
            f'ai_memory_federation_fanout_retry_total{{result="fail"}} {fed.get("retry_fail", 0)}',
            "# TYPE ai_memory_federation_partial_quorum_total counter",
            f"ai_memory_federation_partial_quorum_total {fed.get('partial_quorum', 0)}",
            "# TYPE ai_memory_federation_push_dlq_depth gauge",
            f"ai_memory_federation_push_dlq_depth {self.store.dlq_depth() if self.fed else 0}",
        ]
        return "\n".join(lines) + "\n"

    def stats(self) -> dict[str, Any]:
        rows = [m for m in self.store.all_rows() if not is_expired(m)]
        tiers = Counter(m["tier"] for m in rows)
        spaces = Counter(m["namespace"] for m in rows)
        soon = sum(1 for m in rows if m.get("expires_at")
                   and (parse_ts(m["expires_at"]) - now()).total_seconds() < 86400)
        size = 0
        path = getattr(self.store, "path", None)
        if path:
            try:
                import os

                size = os.path.getsize(path)
            except OSError:
                size = 0
        return {"total": len(rows), "by_tier": [{"tier": t, "count": c} for t, c in sorted(tiers.items())],
                "by_namespace": [{"namespace": n, "count": c} for n, c in sorted(spaces.items())],
                "expiring_soon": soon, "links_count": self.store.links_count(), "db_size_bytes": size,
                "dim_violations": 0, "index_evictions_total": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ai-memory"
    sys_version = ""
    app: App

    def log_message(self, format: str, *args: Any) -> None:
        return

    # --- plumbing ------------------------------------------------------------------------------
    def _send(self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, str):
            data, ctype = body.encode(), "text/plain; charset=utf-8"
        else:
            data, ctype = json.dumps(body, separators=(",", ":")).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        # status line, headers and body in one write: one TLS record, no Nagle/delayed-ACK stall
        self._headers_buffer.append(b"\r\n" + data)
        self.flush_headers()

    def _json_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise HttpError(413, "length limit exceeded")
        raw = self.rfile.read(length) if length else b""
        if "application/json" not in (self.headers.get("Content-Type") or ""):
            raise HttpError(415, "Expected request with `Content-Type: application/json`")
        try:
            return json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            raise HttpError(400, f"Failed to parse the request body as JSON: {exc}") from exc

    def _create_body(self) -> dict[str, Any]:
        """The body of POST /api/v1/memories, refused as the real's JSON extractor does: 400 {error, fields}."""
        if "application/json" not in (self.headers.get("Content-Type") or ""):
            self._json_raw()
            raise HttpError(400, {"error": "expected Content-Type: application/json", "fields": []})
        try:
            body = json.loads(self._json_raw() or b"null")
        except json.JSONDecodeError as exc:
            raise HttpError(400, {"error": "malformed JSON body", "fields": []}) from exc
        if not isinstance(body, dict):
            raise HttpError(400, {"error": "malformed JSON body", "fields": []})
        return body

    def _json_raw(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise HttpError(413, "length limit exceeded")
        return self.rfile.read(length) if length else b""

    def _object_body(self) -> dict[str, Any]:
        body = self._json_body()
        if not isinstance(body, dict):
            raise HttpError(422, "Failed to deserialize the JSON body into the target type: expected an object")
        return body

    def _agent(self) -> str:
        agent = self.headers.get("X-Agent-Id")
        if agent is None:
            return f"anonymous:req-{uuid.uuid4().hex[:8]}"
        if not valid_agent_id(agent) or agent in RESERVED_AGENT_IDS:
            raise HttpError(400, {"error": f"invalid agent_id: {agent}"})
        return agent

    def _auth(self, path: str, query: dict[str, str]) -> None:
        key = self.app.cfg.api_key
        if not key or path == "/api/v1/health":
            return
        if self.app.mtls_enforced and path.startswith("/api/v1/sync/"):
            return  # the client certificate is the peer identity
        given = self.headers.get("X-API-Key") or query.get("api_key") or ""
        if not hmac.compare_digest(given.encode(), key.encode()):
            raise HttpError(401, {"error": "missing or invalid API key"})

    def _dispatch(self, method: str) -> None:
        with self.server.request_scope():  # type: ignore[attr-defined]
            self._dispatch_request(method)

    def _dispatch_request(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        if getattr(self.connection, "aimem_stranger", False) and not path.startswith("/api/v1/sync/"):
            self.close_connection = True  # FAULT route_left_open: every route but sync looks refused
            return
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            if self.app.store.backend == "postgres" and postgres_gated(method, path):  # before api-key auth
                raise HttpError(501, {"error": "endpoint not yet implemented for postgres-backed daemon",
                                      "endpoint": path, "method": method, "storage_backend": "postgres",
                                      "remediation": POSTGRES_501_REMEDIATION})
            self._auth(path, query)
            status, body, headers = self._route(method, path, query)
            self._send(status, body, headers)
        except HttpError as err:
            self._send(err.status, err.body, err.headers)
        except links.LinkRefused as err:
            self._send(400, err.body)
        except BadBody as err:
            self._send(400, {"error": str(err), "fields": err.fields})
        except ValidationError as err:
            self._send(400, {"error": str(err)})
        except Ambiguous as err:
            self._send(400, {"error": f"ambiguous id prefix: {err}"})
        except Exception as err:
            log(f"internal error on {method} {path}: {err!r}")
            self._send(500, {"error": "internal server error"})

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # --- routes --------------------------------------------------------------------------------
    def _route(self, method: str, path: str, q: dict[str, str]) -> tuple[int, Any, dict[str, str] | None]:
        app = self.app
        if path == "/api/v1/health" and method == "GET":
            doc = app.health()
            return (200 if doc["status"] == "ok" else 503), doc, None
        if path in ("/metrics", "/api/v1/metrics") and method == "GET":
            return 200, app.metrics(), None
        if path == "/api/v1/capabilities" and method == "GET":
            return 200, app.capabilities(), None
        if path == "/api/v1/sync/push" and method == "POST":
            return 200, self._sync_push(), None
        if path == "/api/v1/sync/since" and method == "GET":
            return 200, self._sync_since(q), None
        agent = self._agent()
        if path == "/api/v1/stats" and method == "GET":
            app.admin(agent)
            return 200, app.stats(), None
        if path == "/api/v1/memories" and method == "POST":
            return 201, app.create(self._create_body(), agent), None
        if path == "/api/v1/memory_reflect" and method == "POST" and app.store.backend == "postgres":
            return reflect_refusal(self._json_body())
        if path == "/api/v1/links" and method == "POST":
            return 201, app.link(self._json_body(), agent), None
        if path == "/api/v1/agents" and method == "POST":
            return 201, app.register_agent(self._object_body()), None
        if path.startswith("/api/v1/agents/") and path.endswith("/pubkey") and method == "PUT":
            return 200, app.bind_key(unquote(path.split("/")[4]), self._object_body(), agent), None
        if path == "/api/v1/memories" and method == "GET":
            return 200, self._list(q, agent), None
        if path == "/api/v1/memories/bulk" and method == "POST":
            return 200, self._bulk(agent), None
        if path.startswith("/api/v1/memories/") and path.count("/") == 4:
            mem_id = path.rsplit("/", 1)[1]
            if method == "GET":
                return 200, self._get(mem_id, agent), None
            if method == "PUT":
                return 200, self._update(mem_id, agent), None
            if method == "DELETE":
                return 200, self._delete(mem_id, agent), None
        if path == "/api/v1/search" and method == "GET":
            rows = self._search(q.get("q", ""), q, agent)
            return 200, {"results": rows, "count": len(rows), "query": q.get("q", "")}, None
        if path == "/api/v1/recall" and method in ("GET", "POST"):
            body = self._object_body() if method == "POST" else {}
            context = body.get("context") or q.get("context") or q.get("q") or ""
            limit = int(body.get("limit") or q.get("limit") or 10)
            rows = self._search(context, {**q, **{k: str(v) for k, v in body.items() if k == "namespace"}}, agent)
            app.counters["recall"] += 1
            touch_all(app.store, [r["id"] for r in rows[:limit]])
            return 200, {"memories": rows[:limit], "count": len(rows[:limit])}, None
        raise HttpError(404, {"error": "not found"})

    def _list(self, q: dict[str, str], agent: str) -> dict[str, Any]:
        try:
            limit = min(max(int(q.get("limit", 20)), 0), 1000)
            offset = max(int(q.get("offset", 0)), 0)
        except ValueError as exc:
            raise HttpError(400, {"error": "invalid limit or offset"}) from exc
        if q.get("tier") and q["tier"] not in TIERS:
            raise HttpError(400, {"error": f"invalid tier: {q['tier']}"})
        if self.app.store.backend == "postgres":  # contract §5.5: list ignores offset and min_priority
            offset = 0
            q = {k: v for k, v in q.items() if k != "min_priority"}
        rows = self.app.visible_rows(q, agent)[offset:offset + limit]
        return {"memories": [public_view(m) for m in rows], "count": len(rows)}

    def _search(self, text: str, q: dict[str, str], agent: str) -> list[dict[str, Any]]:
        words = [w.lower() for w in text.split() if w]
        rows = []
        for mem in self.app.visible_rows(q, agent):
            hay = f"{mem['title']} {mem['content']} {' '.join(mem.get('tags') or [])}".lower()
            if all(w in hay for w in words):
                rows.append(public_view(mem))
        return rows

    def _visible(self, mem_id: str, agent: str) -> dict[str, Any]:
        mem = self.app.store.get(mem_id)
        if mem is None or is_expired(mem) or not is_visible(mem, agent):
            raise HttpError(404, {"error": "not found"})
        return mem

    def _get(self, mem_id: str, agent: str) -> dict[str, Any]:
        mem = self._visible(mem_id, agent)
        pg = self.app.store.backend == "postgres"
        return {"memory": public_view(mem),
                "links": [links.view(link, with_signature=pg) for link in self.app.store.links_of(mem["id"])]}

    def _update(self, mem_id: str, agent: str) -> dict[str, Any]:
        mem = self._visible(mem_id, agent)
        body = self._object_body()
        self._check_version(mem)
        for key in ("title", "content", "tags", "priority", "confidence", "expires_at", "source"):
            if key in body:
                mem[key] = body[key]
        if "tier" in body:
            if body["tier"] not in TIERS:
                raise ValidationError(f"invalid tier: {body['tier']}")
            mem["tier"] = body["tier"]
        if isinstance(body.get("metadata"), dict):
            mem["metadata"] = {**body["metadata"], "agent_id": mem["metadata"].get("agent_id")}
        mem["updated_at"] = stamp()
        mem["version"] = int(mem.get("version") or 1) + 1
        try:
            self.app.store.put(mem)
        except Conflict as exc:  # a new title taken in the namespace (raised by the postgres store)
            raise HttpError(409, {"code": "CONFLICT", "error": str(exc), "existing_id": exc.existing_id}) from exc
        written = self.app.store.get(mem["id"]) or mem  # the answer: the row as this node wrote it
        if self.app.store.backend != "postgres":  # the real's postgres branch does not fan an update out
            self.app.replicate({"memories": [written]}, mem["id"])
        return public_view(written)

    def _check_version(self, mem: dict[str, Any]) -> None:
        """If-Match: "<version>" (optimistic concurrency): 409 with the real's conflict body on a mismatch."""
        given = (self.headers.get("If-Match") or "").strip().strip('"')
        if not given.lstrip("-").isdigit():
            return  # absent or not a number: the real ignores it
        current = int(mem.get("version") or 1)
        if int(given) != current:
            raise HttpError(409, {"status": "conflict", "id": mem["id"], "expected_version": int(given),
                                  "current_version": current,
                                  "error": f"CONFLICT: memory {mem['id']} expected_version={given} but stored "
                                           f"version={current}"})

    def _delete(self, mem_id: str, agent: str) -> dict[str, Any]:
        mem = self._visible(mem_id, agent)
        self.app.store.delete(mem["id"])
        if self.app.store.backend == "postgres":  # contract §3.6/§3.7: postgres-backed leaders do not fan out deletes
            return {"deleted": True, "id": mem["id"]}
        extra = self.app.replicate({"memories": [], "deletions": [mem["id"]]}, mem["id"])
        return {"deleted": True, **extra}

    def _bulk(self, agent: str) -> dict[str, Any]:
        body = self._json_body()
        if not isinstance(body, list):
            raise HttpError(422, "Failed to deserialize the JSON body into the target type: expected a sequence")
        if len(body) > 1000:
            raise HttpError(400, {"error": "bulk create accepts at most 1000 memories"})
        created, errors, mems = 0, [], []
        unsigned = any(not str((i or {}).get("signature") or "").strip() for i in body if isinstance(i, dict))
        if unsigned and self.app.attest_required and "accept_unsigned" not in self.app.faults:
            raise HttpError(403, {"code": "ATTESTATION_FAILED", "error": "bulk_create requires every row to carry an "
                                  "agent-attestation signature when AI_MEMORY_REQUIRE_AGENT_ATTESTATION is set"})
        for i, item in enumerate(body):
            try:
                if not isinstance(item, dict):
                    raise ValidationError("expected an object")
                level, signed_at = self.app.attested(item, agent)
                mem = new_memory(item, agent)
                if signed_at:
                    mem["created_at"] = mem["updated_at"] = signed_at
                if level:
                    mem["metadata"]["attest_level"] = level
                self.app.charge_quota(agent, mem["namespace"])
                self.app.store.create(mem)
                mems.append(mem)
                created += 1
            except (ValidationError, Conflict, HttpError) as exc:
                errors.append({"index": i, "error": str(exc.body if isinstance(exc, HttpError) else exc)})
        if self.app.fed is not None and mems:
            # as 0.7.0: every created row through the quorum fan-out (a row whose quorum was not met is an error
            # of the answer, the batch still 200), failed pushes to the dead-letter queue (a federated node once
            # answered 500 here after writing locally: it called a fan-out pool that did not exist)
            for mem in mems:
                got, reason = self.app.fed.replicate({"memories": [mem]}, mem["id"])
                if got < self.app.fed.w:
                    errors.append(f"{mem['id']}: quorum not met: got {got}, needed {self.app.fed.w} ({reason})")
        return {"created": created, "errors": errors}

    def _sync_push(self) -> dict[str, Any]:
        body = self._object_body()
        if not body.get("sender_agent_id") or not isinstance(body.get("memories"), list):
            raise HttpError(422, "Failed to deserialize the JSON body: sender_agent_id and memories are required")
        if len(body["memories"]) > 1000:
            raise HttpError(400, {"error": "sync_push accepts at most 1000 memories"})
        applied = noop = deleted = 0
        hidden = bool(body.get("standin_hidden"))
        dry = bool(body.get("dry_run"))
        for mem in body["memories"]:
            if dry:
                continue
            agent = str((mem.get("metadata") or {}).get("agent_id") or "")
            level = attest.relayed_level(self.app.release, mem, self.app.bound_key(agent) if agent else None)
            if level:  # 0.10.0: the receiver re-stamps what it verified itself
                mem = {**mem, "metadata": {**mem["metadata"], "attest_level": level}}
            if receive(self.app.store, mem, self.app.faults, hidden) == "applied":
                applied += 1
            else:
                noop += 1
        for mem_id in body.get("deletions") or []:
            if "delete_not_applied" in self.app.faults:  # FAULT: acknowledged, not deleted
                deleted += 1
                continue
            if not dry and self.app.store.delete(mem_id):
                deleted += 1
        links_applied, skipped = self._apply_links(body.get("links") or [], dry)
        noop += dry * len(body.get("links") or [])
        doc = {"applied": applied, "deleted": deleted, "archived": 0, "restored": 0, "links_applied": links_applied,
               "pendings_applied": 0, "pending_decisions_applied": 0, "namespace_meta_applied": 0,
               "namespace_meta_cleared": 0, "noop": noop, "skipped": skipped, "quota_refused": 0, "dry_run": dry,
               "receiver_agent_id": f"host:{socket.gethostname()}", "receiver_clock": stamp()}
        if self.app.store.backend == "postgres":
            sqlite_only = ("archives", "restores", "pendings", "pending_decisions", "namespace_meta")
            doc["skipped"] += sum(len(body[k]) for k in sqlite_only if isinstance(body.get(k), list))
            doc.update(storage_backend="postgres", note=POSTGRES_PUSH_NOTE)
        return doc

    def _apply_links(self, pushed: list[Any], dry: bool) -> tuple[int, int]:
        """sync_push "links": each valid one lands unsigned (no peer key enrolled) unless it exists; a link whose
        memories are not here (yet) is skipped, as the real does. (applied, skipped)"""
        applied = skipped = 0
        for item in pushed:
            try:
                if not isinstance(item, dict):
                    raise ValidationError("not a link")
                links.validate_triple(str(item.get("source_id") or ""), str(item.get("target_id") or ""),
                                      str(item.get("relation") or "related_to"))
                if item.get("relation", "related_to") not in links.RELATIONS:
                    raise ValidationError("unknown relation")
            except ValidationError:
                skipped += 1
                continue
            if dry:
                continue
            try:
                self.app.store.link(links.inbound({"relation": "related_to", **item}))
                applied += 1
            except StoreError:
                skipped += 1
        return applied, skipped

    def _sync_since(self, q: dict[str, str]) -> dict[str, Any]:
        since = q.get("since")
        if since:
            try:
                since = iso(parse_ts(since))
            except ValidationError as exc:
                raise HttpError(400, {"error": f"invalid since: {q['since']}"}) from exc
        limit = min(max(int(q.get("limit", 500)), 1), 10000)
        # updated_since echoes the caller's text as given ("...Z" stays "...Z")
        base = {"limit": limit, "updated_since": q.get("since") or None, "excluded_for_scope": 0,
                "excluded_for_scope_private": 0}
        if not self.app.fed or not self.app.fed.sync_trust_peer:
            return {**base, "count": 0, "earliest_updated_at": None, "latest_updated_at": None, "memories": [],
                    "scope_status": "no_allowlist_default_deny"}
        rows = self.app.store.since(since, limit)
        return {**base, "count": len(rows), "memories": rows,
                "earliest_updated_at": rows[0]["updated_at"] if rows else None,
                "latest_updated_at": rows[-1]["updated_at"] if rows else None, "scope_status": "legacy_bypass"}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], app: App, tls: ssl.SSLContext | None) -> None:
        self.app, self.tls = app, tls
        handler = type("BoundHandler", (Handler,), {"app": app})
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.address_family = family
        super().__init__(addr, handler)
        # requests being handled (not idle keep-alive connections: those never hold a shutdown)
        self.inflight = 0
        self.inflight_lock = threading.Condition()
        self.connections: set[Any] = set()

    @contextlib.contextmanager
    def request_scope(self) -> Iterator[None]:
        with self.inflight_lock:
            self.inflight += 1
        try:
            yield
        finally:
            with self.inflight_lock:
                self.inflight -= 1
                self.inflight_lock.notify_all()

    def drain(self, grace_secs: float) -> None:
        """Wait up to ``grace_secs`` for in-flight requests, then close every connection (idle keep-alives too)."""
        deadline = time.monotonic() + grace_secs
        with self.inflight_lock:
            while self.inflight and time.monotonic() < deadline:
                self.inflight_lock.wait(max(0.0, deadline - time.monotonic()))
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                request.settimeout(10)
                try:
                    request = self.tls.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    request.close()
                    return
                if self.app.allowlist is not None and "mtls_accept_any" not in self.app.faults:
                    der = request.getpeercert(binary_form=True)
                    if der is None or fingerprint(der) not in self.app.allowlist:
                        if "route_left_open" not in self.app.faults or der is None:
                            request.close()  # refused before any HTTP is read or served
                            return
                        request.aimem_stranger = True  # FAULT: judged per route (see _dispatch_request)
                request.settimeout(None)
            with self.inflight_lock:
                self.connections.add(request)
            super().process_request_thread(request, client_address)
        finally:
            with self.inflight_lock:
                self.connections.discard(request)


def serve(server: Server, app: App, grace_secs: int) -> int:
    stopping = threading.Event()

    def on_sigint(signum: int, frame: Any) -> None:
        stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, on_sigint)
    if app.fed is not None:
        app.fed.start()
    server.serve_forever(poll_interval=0.2)
    # graceful drain: wait for in-flight requests up to the grace period, close idle connections, checkpoint
    server.drain(grace_secs)
    if app.fed is not None:
        app.fed.stop()
    server.server_close()
    if hasattr(app.store, "checkpoint"):
        app.store.checkpoint()
    app.store.close()
    log("shutdown complete")
    return 0
