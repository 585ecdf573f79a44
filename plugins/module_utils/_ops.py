# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Reading a history: op kinds, op times, HTTP fields, write pairs, snapshots of reads, node liveness.

The base of the collection (with ``_history.py``, which stores and reads the op lines): pure functions of the
recorded ops, no I/O. The controller imports this (Python 3.11) to recompute verdicts, the modules and every layer
above (workloads, nemeses, checkers) import it on the host. Histories recorded by earlier versions of the modules
(float seconds in ``time``, ``error`` and ``retry_after`` as top-level keys, reads keyed by title) are read as
well, so stored evidence can always be judged again. What a checker makes of the ops (figures, whether a fault was
observed) is in ``_checker/ops.py``.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

WRITE_F = "write"
UPDATE_F = "update"
DELETE_F = "delete"
HELD_F = "held"
READ_F = "read"
GET_F = "get"
NEMESIS = "nemesis"
COMPLETIONS = ("ok", "fail", "info")
DOWN_EVENTS = ("stop", "kill")
UP_EVENTS = ("start", "restart")

_FRACTION = re.compile(r"\.(\d+)")


def time_ns(value: Any) -> int | None:
    """Unix time in ns from an op time: int ns, float/int seconds (older histories) or RFC 3339 text."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if abs(value) >= 10**14 else value * 10**9
    if isinstance(value, float):
        return int(value) if abs(value) >= 1e14 else round(value * 1e9)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        frac = _FRACTION.search(text)
        nanos = 0
        if frac:
            digits = frac.group(1)
            nanos = int((digits + "000000000")[:9])
            text = text[:frac.start()] + text[frac.end():]
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError:
            return None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=timezone.utc)
        return int(stamp.timestamp()) * 10**9 + nanos
    return None


def op_time(op: dict[str, Any]) -> int | None:
    """When an op took effect: ``at`` (a nemesis' own timestamp) if recorded, else its ``time``."""
    at = time_ns(op.get("at"))
    return at if at is not None else time_ns(op.get("time"))


def rfc3339(ns: int) -> str:
    stamp = datetime.fromtimestamp(ns // 10**9, timezone.utc).replace(microsecond=(ns % 10**9) // 1000)
    return stamp.isoformat(timespec="microseconds").replace("+00:00", "Z")


def status(op: dict[str, Any]) -> int | None:
    value = op.get("status")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def error_class(op: dict[str, Any]) -> str | None:
    return op.get("error_class", op.get("error"))


def header(op: dict[str, Any], name: str) -> str | None:
    headers = op.get("headers")
    if isinstance(headers, dict) and name.lower() in headers:
        return headers[name.lower()]
    return op.get(name.lower().replace("-", "_"))


def response(op: dict[str, Any]) -> dict[str, Any]:
    body = op.get("response")
    return body if isinstance(body, dict) else {}


def outcome_text(op: dict[str, Any] | None) -> str:
    if op is None:
        return "no completion"
    return str(status(op) if status(op) is not None else error_class(op) or op.get("type"))


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Write:
    """One write: its invoke and its completion (None while pending: the outcome is unknown).

    After ``apply_mutations``: ``allowed`` holds the intent digests a node may hold of it (the last acknowledged
    update's, or any of several concurrent ones the ordering rule may pick), ``deleted`` says an acknowledged
    delete removed it (every node must then lack it) and ``maybe_deleted`` that a delete's outcome is unknown."""

    __slots__ = ("_id", "allowed", "completion", "deleted", "digest", "invoke", "maybe_deleted", "namespace",
                 "node", "process", "title", "updates")

    def __init__(self, invoke: dict[str, Any]) -> None:
        value = invoke.get("value") or {}
        self.invoke = invoke
        self.completion: dict[str, Any] | None = None
        self.title: str = str(value.get("title"))
        self.digest: str | None = value.get("digest")
        self.namespace: str | None = value.get("namespace")
        self.node: str | None = invoke.get("node")
        self.process = invoke.get("process")
        self._id: tuple[dict[str, Any] | None, str | None] | None = None  # (completion it was read from, id)
        self.allowed: set[str] | None = None
        self.deleted = False
        self.maybe_deleted = False
        self.updates = 0

    def holds(self, digest: str | None) -> bool:
        """Whether a memory with this intent digest is this write as it must now be."""
        if self.digest is None:
            return True
        return digest in (self.allowed if self.allowed is not None else {self.digest})

    @property
    def type(self) -> str:
        return self.completion["type"] if self.completion else "pending"

    @property
    def step(self) -> str | None:
        return self.invoke.get("step")

    @property
    def index(self) -> int:
        return int(self.invoke.get("index", -1))

    @property
    def status(self) -> int | None:
        return status(self.completion) if self.completion else None

    @property
    def body(self) -> dict[str, Any]:
        return response(self.completion) if self.completion else {}

    @property
    def id(self) -> str | None:
        """The id the node acknowledged (201 only); read once per completion (checkers ask for it millions of
        times on a large history)."""
        if self._id is None or self._id[0] is not self.completion:
            found = self.body["id"] if self.status == 201 and isinstance(self.body.get("id"), str) else None
            self._id = (self.completion, found)
        return self._id[1]

    @property
    def acks(self) -> int | None:
        return as_int(self.body.get("quorum_acks"))

    @property
    def kept(self) -> bool:
        """A quorum shortfall whose local commit the leader keeps (``is_shortfall``)."""
        return is_shortfall(self.status, self.body)

    @property
    def scope(self) -> str | None:
        return (self.invoke.get("value") or {}).get("scope")

    @property
    def agent_id(self) -> str | None:
        return (self.invoke.get("value") or {}).get("agent_id")

    def label(self) -> str:
        return self.title


def is_shortfall(status: int | None, body: dict[str, Any]) -> bool:
    """Whether an answer says "committed here, quorum not met", in either shape a release gives it: 503
    ``{"error": "quorum_not_met", ...}`` (0.7) or 202 ``{"quorum_met": false, "durability": "local", ...}`` (0.8.1
    on). Never an acknowledgement; which shape a release must give is the checkers' concern (``_releases.py``)."""
    if status == 503:
        return body.get("error") == "quorum_not_met"
    return status == 202 and body.get("quorum_met") is False


def pair_writes(ops: list[dict[str, Any]]) -> tuple[list[Write], list[str]]:
    """Writes in invoke order, each with its completion; problems for completions that match no invoke."""
    open_by_process: dict[Any, Write] = {}
    writes: list[Write] = []
    problems: list[str] = []
    for op in ops:
        if op.get("f") != WRITE_F:
            continue
        if op.get("type") == "invoke":
            key = op.get("process")
            if key in open_by_process:
                problems.append(f"op {op.get('index')}: process {key} invoked a write while one was pending")
            write = Write(op)
            open_by_process[key] = write
            writes.append(write)
        elif op.get("type") in COMPLETIONS:
            write = open_by_process.pop(op.get("process"), None)
            if write is None or str((op.get("value") or {}).get("title")) != write.title:
                problems.append(f"op {op.get('index')}: a write completion that matches no pending invoke")
                continue
            write.completion = op
    return writes, problems


class Mutation:
    """An update (PUT) or a delete of an acknowledged write, with its completion."""

    __slots__ = ("completion", "f", "invoke")

    def __init__(self, invoke: dict[str, Any]) -> None:
        self.invoke, self.f = invoke, str(invoke.get("f"))
        self.completion: dict[str, Any] | None = None

    @property
    def id(self) -> str | None:
        return (self.invoke.get("value") or {}).get("id")

    @property
    def digest(self) -> str | None:
        return (self.invoke.get("value") or {}).get("digest")

    @property
    def type(self) -> str:
        return self.completion["type"] if self.completion else "pending"

    @property
    def started(self) -> int:
        return int(self.invoke.get("index", -1))

    @property
    def ended(self) -> int:
        return int(self.completion.get("index", 1 << 62)) if self.completion else 1 << 62

    @property
    def updated_at(self) -> int | None:
        body = response(self.completion) if self.completion else {}
        record = body.get("memory") if isinstance(body.get("memory"), dict) else body
        return time_ns(record.get("updated_at")) if isinstance(record, dict) else None


def pair_mutations(ops: list[dict[str, Any]]) -> tuple[list[Mutation], list[str]]:
    """Updates and deletes in invoke order, each with its completion."""
    open_by_process: dict[Any, Mutation] = {}
    out: list[Mutation] = []
    problems: list[str] = []
    for op in ops:
        if op.get("f") not in (UPDATE_F, DELETE_F):
            continue
        if op.get("type") == "invoke":
            mutation = Mutation(op)
            open_by_process[op.get("process")] = mutation
            out.append(mutation)
        elif op.get("type") in COMPLETIONS:
            mutation = open_by_process.pop(op.get("process"), None)
            if mutation is None or (op.get("value") or {}).get("id") != mutation.id:
                problems.append(f"op {op.get('index')}: a {op.get('f')} completion that matches no pending invoke")
                continue
            mutation.completion = op
    return out, problems


def apply_mutations(writes: list[Write], mutations: list[Mutation]) -> list[str]:
    """Fold the acknowledged updates and deletes into the writes they change (see ``Write``); problems found.

    Ordering rule of concurrent updates (invoke/completion intervals overlap): the one with the later
    ``updated_at`` in its response wins (ai-memory's last-writer-wins); sequential updates: the last one."""
    by_id = {w.id: w for w in writes if w.id}
    problems: list[str] = []
    for mem_id, group in _group(mutations).items():
        w = by_id.get(mem_id)
        if w is None:
            problems.append(f"{len(group)} update/delete op(s) of {mem_id}, which no acknowledged write created")
            continue
        updates = [m for m in group if m.f == UPDATE_F]
        acked = [m for m in updates if m.type == "ok"]
        unknown = [m for m in updates if m.type in ("info", "pending")]
        w.updates = len(acked)
        if acked:
            last = max(acked, key=lambda m: m.ended)
            rivals = [m for m in acked if m.ended > last.started]  # overlap the last one: concurrent with it
            if len(rivals) > 1:
                stamps = {m: m.updated_at for m in rivals}
                newest = max((t for t in stamps.values() if t is not None), default=None)
                winners = [m for m in rivals if stamps[m] == newest] if newest is not None else rivals
            else:
                winners = [last]
            w.allowed = {m.digest for m in winners if m.digest} | {m.digest for m in unknown if m.digest}
        elif unknown:
            w.allowed = {w.digest or ""} | {m.digest for m in unknown if m.digest}
        deletes = [m for m in group if m.f == DELETE_F]
        if any(m.type == "ok" for m in deletes):
            w.deleted = True
        elif any(m.type in ("info", "pending") for m in deletes):
            w.maybe_deleted = True
    return problems


def _group(mutations: list[Mutation]) -> dict[str, list[Mutation]]:
    out: dict[str, list[Mutation]] = {}
    for m in mutations:
        if m.id:
            out.setdefault(m.id, []).append(m)
    return out


def nemesis_ops(ops: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    return [op for op in ops if op.get("process") == NEMESIS and (not names or op.get("f") in names)]


def event_nodes(op: dict[str, Any]) -> list[str]:
    """Nodes a nemesis op concerns: ``value`` as a list, ``value.nodes``, or ``node``."""
    value = op.get("value")
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict) and isinstance(value.get("nodes"), list):
        return [str(v) for v in value["nodes"]]
    if isinstance(op.get("node"), str):
        return [op["node"]]
    return []


_LIVENESS_CACHE: dict[int, tuple[int, list[dict[str, Any]]]] = {}


def _liveness_ops(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stop/kill/start/restart nemesis ops of a history, computed once per history (a checker asks for every
    write: scanning the whole history each time made a 4700-write S1 take minutes)."""
    key = id(ops)
    cached = _LIVENESS_CACHE.get(key)
    if cached is not None and cached[0] == len(ops):
        return cached[1]
    found = nemesis_ops(ops, *DOWN_EVENTS, *UP_EVENTS)
    _LIVENESS_CACHE.clear()
    _LIVENESS_CACHE[key] = (len(ops), found)
    return found


def live_nodes(ops: list[dict[str, Any]], nodes: list[str], before_index: int) -> list[str]:
    """Nodes running at a point of the history, from the stop/kill and start/restart nemesis ops before it."""
    down: set[str] = set()
    for op in _liveness_ops(ops):
        if int(op.get("index", -1)) >= before_index:
            break
        if op.get("f") in DOWN_EVENTS:
            down |= set(event_nodes(op))
        else:
            down -= set(event_nodes(op))
    return [n for n in nodes if n not in down]


def fingerprint(found: Any) -> tuple[str, str | None, str | None, str | None] | None:
    """(title, intent digest, replicated-record digest, vector-clock digest) of a memory a read saw (older
    histories: no third or fourth)."""
    if isinstance(found, (list, tuple)) and len(found) >= 2:
        return (str(found[0]), found[1], (found[2] if len(found) > 2 else None),
                (found[3] if len(found) > 3 else None))
    return None


class Snapshots:
    """Resolves what a read op saw: ``{id: (title, digest)}``; follows ``unchanged_since`` references."""

    def __init__(self, ops: list[dict[str, Any]]) -> None:
        self._by_index = {op.get("index"): op for op in ops if op.get("f") == READ_F}
        self._cache: dict[Any, dict[str, tuple[str, str | None, str | None, str | None]] | None] = {}
        self.problems: list[str] = []

    def add(self, op: dict[str, Any]) -> None:
        """Make a read appended after construction resolvable (for observers that follow a live history)."""
        if op.get("f") == READ_F:
            self._by_index[op.get("index")] = op

    def of(self, op: dict[str, Any]) -> dict[str, tuple[str, str | None, str | None, str | None]] | None:
        key = op.get("index")
        if key in self._cache:
            return self._cache[key]
        self._cache[key] = None  # guards reference cycles
        value = op.get("value") if isinstance(op.get("value"), dict) else {}
        result: dict[str, tuple[str, str | None, str | None, str | None]] | None = None
        if "unchanged_since" in value:
            ref = self._by_index.get(value["unchanged_since"])
            if ref is None or int(value["unchanged_since"]) >= int(key if key is not None else -1) \
                    or ref.get("node") != op.get("node"):
                self.problems.append(f"op {key}: refers to read {value['unchanged_since']!r}, "
                                     "which is not an earlier read of the same node")
            else:
                result = self.of(ref)
        elif isinstance(value.get("found"), dict):
            result = {}
            for k, v in value["found"].items():
                fp = fingerprint(v)
                if fp is None:
                    continue
                if value.get("key") == "id":
                    result[str(k)] = fp
                else:  # older histories: {title: [id, digest]}
                    result[fp[0]] = (str(k), fp[1], None, None)
        self._cache[key] = result
        return result
