# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Write workload (Jepsen client + generator for a set): distinct memories sent to one or more leaders.

Every write has a title unique in its namespace (``<prefix>-<n>``; numbering continues after the writes of the
same prefix already in the history, so re-running a step never collides), a known content, the stable
``X-Agent-Id`` and an explicit scope. Each write is an ``invoke`` op appended before the request and a completion
appended after it: ``ok`` on 201 (certainly written), ``fail`` when it certainly was not (a 4xx, or the connection
failed before the request was sent), ``info`` when unknown (503 quorum_not_met whose local write is kept, other
5xx, 202 pending, timeouts, resets).
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._endpoint import Endpoint, Response
from ansible_collections.aimemory.swarm.plugins.module_utils._history import History, tail
from ansible_collections.aimemory.swarm.plugins.module_utils._workload.records import (
    Varied,
    differing,
    intent_digest,
)

PATH = "/api/v1/memories"
SCOPES = ("private", "team", "unit", "org", "collective")
RESPONSE_HEADERS = ("retry-after", "content-type")
WATCH_INTERVAL_S = 0.02


def digest(title: str, content: str) -> str:
    """Short content fingerprint of the histories recorded before whole records were compared (kept so their
    evidence can still be judged); new writes and reads record ``records.intent_digest``."""
    return hashlib.sha256(f"{title}\0{content}".encode()).hexdigest()[:16]


def outcome(resp: Response) -> str:
    """Jepsen op type of a write's completion."""
    if resp.status == 201:
        return "ok"
    if resp.status is None:
        return "fail" if resp.refused_before_request else "info"
    if 400 <= resp.status < 500:
        return "fail"
    return "info"


def response_record(resp: Response) -> dict[str, Any]:
    """The completion fields of an HTTP op: never the request headers (they carry the API key)."""
    body = resp.body if isinstance(resp.body, dict) else ({"text": resp.body} if resp.body is not None else {})
    rec: dict[str, Any] = {"status": resp.status, "latency_ms": resp.latency_ms, "error_class": resp.error_class,
                           "response": body,
                           "headers": {k: v for k, v in resp.headers.items() if k in RESPONSE_HEADERS}}
    if resp.error_class:
        rec["detail"] = resp.detail
        rec["refused_before_request"] = resp.refused_before_request
    if resp.attestation is not None:
        rec["attestation"] = resp.attestation  # signed or not, by which key id (never the key)
    return rec


def next_numbers(ops: list[dict[str, Any]], namespace: str, prefix: str) -> tuple[int, int]:
    """(first title number, first process id) that do not collide with the history's earlier writes."""
    pattern = re.compile(re.escape(prefix) + r"-(\d+)$")
    number, process = 0, 0
    for op in ops:
        if isinstance(op.get("process"), int) and not isinstance(op.get("process"), bool):
            process = max(process, op["process"] + 1)
        if op.get("f") != "write" or op.get("type") != "invoke":
            continue
        value = op.get("value") or {}
        match = pattern.match(str(value.get("title", "")))
        if match and value.get("namespace") == namespace:
            number = max(number, int(match.group(1)) + 1)
    return number, process


class WriteWorkload:
    """``count`` writes into ``namespace`` over ``leaders`` ([(name, url)], round-robin) by ``concurrency`` workers.

    With ``agents``, worker ``i`` writes as ``agents[i % len(agents)]`` (its own ``X-Agent-Id``): several agents
    writing concurrently, as ship-gate phase 2 does; otherwise every worker uses the endpoint's agent id.
    With ``varied`` (records.Varied), each write's namespace, agent, tier, scope, tags, priority and metadata
    come from its seed instead (``namespace`` and ``agents`` are then ignored).
    With ``held`` ([(name, url)] of every peer) and ``quorum``, right after each acknowledgement the write is read
    by id on every peer at once and a ``held`` op records which nodes hold it (the checker wants at least W).
    """

    def __init__(self, history: History, leaders: list[tuple[str, str]], endpoint_args: dict[str, Any],
                 namespace: str, prefix: str, scope: str = "collective", step: str | None = None,
                 tier: str = "mid", first_number: int = 0, first_process: int = 0,
                 agents: list[str] | None = None, varied: Varied | None = None,
                 held: list[tuple[str, str]] | None = None) -> None:
        if not leaders:
            raise ValueError("at least one leader is needed")
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}")
        self.agents = [str(a) for a in agents or []]
        self.history, self.leaders, self.endpoint_args = history, list(leaders), dict(endpoint_args)
        self.namespace, self.prefix, self.scope, self.step, self.tier = namespace, prefix, scope, step, tier
        self.first_number, self.first_process = first_number, first_process
        self.varied, self.held = varied, list(held or [])
        self._lock = threading.Lock()
        self.counts = {"ok": 0, "fail": 0, "info": 0}
        self.statuses: dict[str, int] = {}
        self.acked_ids: list[str] = []
        self.attempted = 0

    def plan(self, n: int, process: int = 0) -> tuple[str, str, dict[str, Any], str | None]:
        """(leader name, title, request body, agent) of write number ``n``."""
        node = self.leaders[n % len(self.leaders)][0]
        if self.varied is not None:
            _namespace, agent, body = self.varied.body(n, self.prefix)
            return node, body["title"], body, agent
        title = f"{self.prefix}-{n:05d}"
        content = f"{self.prefix} write {n} via {node} in {self.namespace}"
        body = {"title": title, "content": content, "namespace": self.namespace, "tier": self.tier,
                "source": "api", "priority": 5, "scope": self.scope}
        return node, title, body, self.agent_of(process)

    def agent_of(self, process: int) -> str | None:
        if self.agents:
            return self.agents[(process - self.first_process) % len(self.agents)]
        return self.endpoint_args.get("agent_id")

    def _write(self, client: Endpoint, process: int, node: str, title: str, body: dict[str, Any],
               agent: str | None, checkers: dict[str, Endpoint] | None = None) -> bool:
        """One write, recorded; True when the node refused the connection (it is not listening)."""
        scope = body.get("scope", self.scope)
        value = {"title": title, "namespace": body.get("namespace", self.namespace),
                 "digest": intent_digest({**body, "agent_id": agent}), "scope": scope, "agent_id": agent}
        request = {"method": "POST", "path": PATH, **body, "agent_id": agent}
        base = {"process": process, "f": "write", "node": node, "value": value}
        if self.step:
            base["step"] = self.step
        self.history.append({**base, "type": "invoke", "request": request})
        resp = client.request("POST", PATH, body, headers={"X-Agent-Id": agent} if agent else None)
        kind = outcome(resp)
        self.history.append({**base, "type": kind, **response_record(resp)})
        mem_id = resp.body.get("id") if kind == "ok" and isinstance(resp.body, dict) else None
        with self._lock:
            self.counts[kind] += 1
            key = str(resp.status) if resp.status is not None else str(resp.error_class)
            self.statuses[key] = self.statuses.get(key, 0) + 1
            if isinstance(mem_id, str):
                self.acked_ids.append(mem_id)
        if isinstance(mem_id, str) and checkers:
            record_held(self.history, checkers, process, "create", mem_id, value, self.step,
                        {**body, "agent_id": agent})
        return resp.error_class == "connect_refused"

    def run_bulk(self, count: int, batch: int) -> dict[str, Any]:
        """``count`` writes in batches of ``batch`` through ``POST /api/v1/memories/bulk``, each batch through the
        next leader and as one agent. Every memory is an op pair of its own (process ``bulk-<batch>-<i>``, step
        ``bulk``): ``ok`` when the batch answered 200 with every item created and no error, ``info`` otherwise
        (the node may have written some). The answer carries no ids: the checker finds the memories by title."""
        start = time.monotonic()
        clients: dict[str, Endpoint] = {}
        agents = self.varied.agents if self.varied is not None else [self.endpoint_args.get("agent_id")]
        try:
            for b, first in enumerate(range(self.first_number, self.first_number + count, batch)):
                numbers = range(first, min(first + batch, self.first_number + count))
                node, url = self.leaders[b % len(self.leaders)]
                agent = agents[b % len(agents)]
                items, ops = [], []
                for i, n in enumerate(numbers):
                    _node, title, body, _agent = self.plan(n)
                    body = {**body, "metadata": {**(body.get("metadata") or {}), "scope": body.get("scope")}}
                    value = {"title": title, "namespace": body.get("namespace", self.namespace),
                             "digest": intent_digest({**body, "agent_id": agent}), "scope": body.get("scope"),
                             "agent_id": agent}
                    ops.append({"process": f"bulk-{first}-{i}", "f": "write", "node": node, "step": "bulk",
                                "value": value, "request": {"method": "POST", "path": f"{PATH}/bulk", **body,
                                                            "agent_id": agent}})
                    items.append(body)
                self.history.append(*[{**op, "type": "invoke"} for op in ops])
                if node not in clients:
                    clients[node] = Endpoint(url, **self.endpoint_args)
                resp = clients[node].request("POST", f"{PATH}/bulk", items, headers={"X-Agent-Id": agent})
                body = resp.body if isinstance(resp.body, dict) else {}
                whole = resp.status == 200 and body.get("created") == len(items) and not body.get("errors")
                record = response_record(resp)
                outcome = {"type": "ok" if whole else "info", **record}
                self.history.append(*[{k: v for k, v in op.items() if k != "request"} | outcome for op in ops])
                with self._lock:
                    self.attempted += len(items)
                    self.counts["ok" if whole else "info"] += len(items)
                    key = f"bulk:{resp.status or resp.error_class}"
                    self.statuses[key] = self.statuses.get(key, 0) + 1
        finally:
            for client in clients.values():
                client.close()
        return {"attempted": self.attempted, "ok": self.counts["ok"], "fail": self.counts["fail"],
                "info": self.counts["info"], "acked": self.counts["ok"], "acked_ids": [],
                "statuses": dict(sorted(self.statuses.items())), "seconds": round(time.monotonic() - start, 3),
                "namespace": self.namespace, "scope": self.scope, "titles": [], "deadline_reached": False,
                "until_event_seen": None, "errors": []}

    def _watch(self, until_event: str, stop: threading.Event, seen: threading.Event) -> None:
        """Set ``seen`` (and so stop the writers) once a nemesis op ``until_event`` is appended to the history."""
        offset = os.path.getsize(self.history.path) if os.path.exists(self.history.path) else 0
        while not stop.is_set():
            ops, offset = tail(self.history.path, offset)
            if any(op.get("process") == "nemesis" and op.get("f") == until_event for op in ops):
                seen.set()
                return
            stop.wait(WATCH_INTERVAL_S)

    def run(self, count: int, concurrency: int = 1, deadline_s: float | None = None, until_event: str | None = None,
            stagger_s: float = 0.0, refused_pause_s: float = 0.0) -> dict[str, Any]:
        """Run the writes; no new write starts after ``deadline_s`` seconds (each request has its own timeout).

        ``until_event``: write until a nemesis op of that name is appended to the history (``count`` is then a cap),
        so the writes are certainly in flight when the fault lands; ``stagger_s``: pause of each worker between
        two of its writes; ``refused_pause_s``: pause of a worker after a refused connection (a killed node), so a
        dead leader is not hammered while the fault is being recorded.
        """
        start = time.monotonic()
        stop_at = start + deadline_s if deadline_s else None
        numbers = iter(range(self.first_number, self.first_number + count))
        errors: list[str] = []
        finished, event_seen = threading.Event(), threading.Event()
        watcher = None
        if until_event:
            watcher = threading.Thread(target=self._watch, args=(until_event, finished, event_seen), daemon=True)
            watcher.start()

        def worker(process: int) -> None:
            clients: dict[str, Endpoint] = {}
            checkers = {name: Endpoint(url, **self.endpoint_args) for name, url in self.held}
            first, refused = True, False
            try:
                while True:
                    pause = stagger_s + (refused_pause_s if refused else 0.0)
                    if not first and pause > 0 and finished.wait(pause):
                        return
                    first = False
                    with self._lock:
                        n = next(numbers, None)
                        if n is None or (stop_at is not None and time.monotonic() >= stop_at) or event_seen.is_set():
                            return
                        self.attempted += 1
                    node, title, body, agent = self.plan(n, process)
                    if node not in clients:
                        url = dict(self.leaders)[node]
                        clients[node] = Endpoint(url, **{**self.endpoint_args, "agent_id": self.agent_of(process)})
                    refused = self._write(clients[node], process, node, title, body, agent, checkers)
            except Exception as exc:  # a worker that dies must not hide: the module reports it
                with self._lock:
                    errors.append(f"worker {process}: {type(exc).__name__}: {exc}")
            finally:
                for client in [*clients.values(), *checkers.values()]:
                    client.close()

        workers = max(1, min(int(concurrency), max(1, count)))
        if self.agents and workers < len(self.agents):
            raise ValueError(f"{len(self.agents)} agents need at least as many workers, got {workers}")
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for i in range(workers):
                    pool.submit(worker, self.first_process + i)
        finally:
            finished.set()
            if watcher is not None:
                watcher.join(5)
        last = self.first_number + self.attempted - 1
        titles = [f"{self.prefix}-{n:05d}" for n in (self.first_number, last)] if self.attempted else []
        return {"attempted": self.attempted, "ok": self.counts["ok"], "fail": self.counts["fail"],
                "info": self.counts["info"], "acked": self.counts["ok"], "acked_ids": sorted(self.acked_ids),
                "statuses": dict(sorted(self.statuses.items())), "seconds": round(time.monotonic() - start, 3),
                "namespace": self.namespace, "scope": self.scope,
                "titles": titles,
                "deadline_reached": bool(stop_at is not None and self.attempted < count and not event_seen.is_set()),
                "until_event_seen": event_seen.is_set() if until_event else None,
                "errors": errors}


def held_by(checkers: dict[str, Endpoint], mem_id: str, want: str | None,
            expected: dict[str, Any] | None = None) -> dict[str, str]:
    """Read ``mem_id`` on every node at once: ``{node: "held" | "absent" | "other(<fields>)" | <error class>}``
    where "other" is a record whose intent digest is not ``want``, with the fields in which it differs from
    ``expected`` (None: the write was a delete, so "absent" is what counts)."""
    out: dict[str, str] = {}

    def one(name: str, client: Endpoint) -> None:
        resp = client.request("GET", f"{PATH}/{mem_id}")
        if resp.status == 404:
            out[name] = "absent"
        elif resp.status == 200 and isinstance(resp.body, dict):
            record = resp.body.get("memory", resp.body) if isinstance(resp.body.get("memory"), dict) else resp.body
            if want is not None and intent_digest(record) == want:
                out[name] = "held"
            else:
                out[name] = f"other({','.join(differing(expected, record)) if expected else 'a record'})"
        else:
            out[name] = str(resp.status or resp.error_class)

    threads = [threading.Thread(target=one, args=(name, client)) for name, client in checkers.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return dict(sorted(out.items()))


def record_held(history: History, checkers: dict[str, Endpoint], process: int, kind: str, mem_id: str,
                value: dict[str, Any], step: str | None, expected: dict[str, Any] | None = None) -> None:
    """A ``held`` op: right after the acknowledgement of a create/update/delete, what every node holds of it
    (``expected``: the record the write asked for, to name the fields a node holds otherwise)."""
    want = None if kind == "delete" else value.get("digest")
    seen = held_by(checkers, mem_id, want, expected)
    holders = sorted(n for n, state in seen.items() if state == ("absent" if kind == "delete" else "held"))
    op: dict[str, Any] = {"process": process, "type": "ok", "f": "held", "node": None,
                          "value": {"id": mem_id, "title": value.get("title"), "kind": kind, "holders": holders,
                                    "states": seen, "namespace": value.get("namespace")}}
    if step:
        op["step"] = step
    history.append(op)


class MutationWorkload:
    """Updates (PUT) and deletes of the acknowledged writes of a history, each sent through another peer than the
    one that created it, so what is judged is replication of every write kind, not one node's local state.

    ``concurrent`` of the updates are pairs: two different updates of one memory sent at once through two
    different peers, so the ordering rule (last writer wins by ``updated_at``) decides. Each mutation is an
    ``update``/``delete`` op pair; with ``held`` peers a ``held`` op records, right after each acknowledgement,
    which nodes already hold the result (the updated record, or the memory's absence)."""

    def __init__(self, history: History, leaders: list[tuple[str, str]], endpoint_args: dict[str, Any],
                 seed: int, step: str | None = None, held: list[tuple[str, str]] | None = None) -> None:
        if len(leaders) < 2:
            raise ValueError("updates and deletes go through another peer: at least two leaders are needed")
        self.history, self.leaders, self.endpoint_args = history, list(leaders), dict(endpoint_args)
        self.seed, self.step, self.held = int(seed), step, list(held or [])
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def _via(self, creator: str | None, shift: int) -> tuple[str, str]:
        names = [n for n, _url in self.leaders]
        start = names.index(creator) if creator in names else 0
        return self.leaders[(start + shift) % len(self.leaders)]

    def plan(self, creates: list[dict[str, Any]], updates: int, deletes: int,
             concurrent: int) -> list[list[dict[str, Any]]]:
        """Groups of mutations (a group runs at once): ``creates`` are the acknowledged write ops (invoke with its
        completion's id). Deterministic for a seed: the first ``deletes`` of a seeded shuffle are deleted, the next
        ``updates`` updated, and of those the first ``concurrent`` twice at once."""
        rng = random.Random(f"{self.seed}/mutations")
        pool = sorted(creates, key=lambda c: c["id"])
        rng.shuffle(pool)
        groups: list[list[dict[str, Any]]] = []
        for c in pool[:deletes]:
            groups.append([{"kind": "delete", "create": c, "via": self._via(c["node"], 1)}])
        for i, c in enumerate(pool[deletes:deletes + updates]):
            body = Varied(self.seed, [c["namespace"]], [c["agent_id"] or "-"]).update(i, 1, c["request"])
            body["metadata"]["scope"] = c["request"].get("scope")
            first = {"kind": "update", "create": c, "via": self._via(c["node"], 1), "body": body}
            if i < concurrent:
                rival = Varied(self.seed, [c["namespace"]], [c["agent_id"] or "-"]).update(i, 2, c["request"])
                rival["metadata"]["scope"] = c["request"].get("scope")
                groups.append([first, {"kind": "update", "create": c, "via": self._via(c["node"], 2),
                                       "body": rival}])
            else:
                groups.append([first])
        return groups

    def _one(self, process: int, m: dict[str, Any], clients: dict[str, Endpoint], checkers: dict[str, Endpoint],
             barrier: threading.Barrier | None) -> None:
        c, (node, url) = m["create"], m["via"]
        if node not in clients:
            clients[node] = Endpoint(url, **self.endpoint_args)
        agent = c.get("agent_id")
        path = f"{PATH}/{c['id']}"
        value: dict[str, Any] = {"id": c["id"], "title": c["title"], "namespace": c["namespace"], "via": node}
        request: dict[str, Any] = {"method": "DELETE" if m["kind"] == "delete" else "PUT", "path": path}
        if m["kind"] == "update":
            merged = {**c["request"], **m["body"]}
            value["digest"] = intent_digest(merged)
            request.update(m["body"])
        base = {"process": process, "f": m["kind"], "node": node, "value": value}
        if self.step:
            base["step"] = self.step
        if barrier is not None:
            barrier.wait(30)
        self.history.append({**base, "type": "invoke", "request": request})
        headers = {"X-Agent-Id": agent} if agent else None
        if m["kind"] == "update":
            resp = clients[node].request("PUT", path, m["body"], headers=headers)
        else:
            resp = clients[node].request("DELETE", path, headers=headers)
        kind = "ok" if resp.status == 200 else ("fail" if resp.status is not None and 400 <= resp.status < 500
                                                else "info")
        self.history.append({**base, "type": kind, **response_record(resp)})
        with self._lock:
            key = f"{m['kind']}:{resp.status or resp.error_class}"
            self.counts[key] = self.counts.get(key, 0) + 1
        if kind == "ok" and checkers:
            expected = {**c["request"], **m["body"]} if m["kind"] == "update" else None
            record_held(self.history, checkers, process, m["kind"], c["id"], value, self.step, expected)

    def run(self, groups: list[list[dict[str, Any]]], concurrency: int, first_process: int) -> dict[str, Any]:
        start = time.monotonic()
        work = iter(groups)
        errors: list[str] = []

        def worker(slot: int) -> None:
            clients: dict[str, Endpoint] = {}
            checkers = {name: Endpoint(url, **self.endpoint_args) for name, url in self.held}
            try:
                while True:
                    with self._lock:
                        group = next(work, None)
                    if group is None:
                        return
                    if len(group) == 1:
                        self._one(first_process + 2 * slot, group[0], clients, checkers, None)
                        continue
                    barrier = threading.Barrier(len(group))
                    threads = [threading.Thread(target=self._one, args=(first_process + 2 * slot + i, m,
                                                                        {}, {}, barrier))
                               for i, m in enumerate(group)]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
            except Exception as exc:  # a worker that dies must not hide: the module reports it
                with self._lock:
                    errors.append(f"worker {slot}: {type(exc).__name__}: {exc}")
            finally:
                for client in [*clients.values(), *checkers.values()]:
                    client.close()

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            for slot in range(max(1, concurrency)):
                pool.submit(worker, slot)
        return {"counts": dict(sorted(self.counts.items())), "groups": len(groups),
                "seconds": round(time.monotonic() - start, 3), "errors": errors}


def acked_creates(ops: list[dict[str, Any]], namespaces: list[str] | None = None) -> list[dict[str, Any]]:
    """The acknowledged writes of a history with what a mutation needs: id, title, namespace, creating node,
    agent and the request body that created it."""
    pending: dict[Any, dict[str, Any]] = {}
    out = []
    for op in ops:
        if op.get("f") != "write":
            continue
        if op.get("type") == "invoke":
            pending[op.get("process")] = op
            continue
        invoke = pending.pop(op.get("process"), None)
        body = op.get("response") if isinstance(op.get("response"), dict) else {}
        if invoke is None or op.get("type") != "ok" or not isinstance(body.get("id"), str):
            continue
        value = invoke.get("value") or {}
        if namespaces and value.get("namespace") not in namespaces:
            continue
        request = {k: v for k, v in (invoke.get("request") or {}).items() if k not in ("method", "path")}
        out.append({"id": body["id"], "title": value.get("title"), "namespace": value.get("namespace"),
                    "node": invoke.get("node"), "agent_id": value.get("agent_id"), "request": request})
    return out
