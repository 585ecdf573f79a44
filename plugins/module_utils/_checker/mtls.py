# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""S3 checker: strangers are refused at the TLS layer on every route of every node; the allowlisted identity is served.

Contract §4: a client without a certificate, or whose leaf fingerprint is not on the allowlist, fails the TLS
handshake: no HTTP response at all, on every path including ``/api/v1/health``. So a refusal is ``status`` None
with ``error_class`` ``tls_refused`` (a failed handshake, or the fresh connection closed before any HTTP byte); any
HTTP status (a 401/403 as much as a 200) means the TLS layer let the stranger in, and names identity, method and
route. A timeout or a refused TCP connection proves nothing and is red as well.

The routes walked are the API's whole route table (``route_table``: ``_checker/routes.py``, the one list the probe
module walks too), or an explicit ``paths`` list; histories recorded before the walk (no ``route_table``, no
``paths``) are judged on the two paths they probed.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._checker.convergence import examples
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.ops import figure
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.routes import (
    control_statuses,
    route_key,
    route_keys,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._ops import COMPLETIONS, error_class, outcome_text, status

DEFAULT_PATHS = ["GET /api/v1/health", "POST /api/v1/memories"]
CONTROL_STATUS = {"GET": 200, "POST": 201}


def probe_type(op: dict[str, Any]) -> str:
    """The type a probe completion must have: ``ok`` when the node answered (any status), ``fail`` when it was
    refused (certainly nothing done), ``info`` otherwise (the module records exactly this)."""
    if status(op) is not None:
        return "ok"
    if error_class(op) == "tls_refused" or op.get("refused_before_request") is True:
        return "fail"
    return "info"


def _path_key(value: dict[str, Any]) -> str:
    """A probe's route: its ``route`` template when recorded (the route-table walk), else its path."""
    return route_key(str(value.get("method", "GET")), str(value.get("route") or value.get("path")))


def _plan(params: dict[str, Any]) -> tuple[list[str], dict[str, int | None]]:
    """(route keys to cover, the status the control must get per route: None = any HTTP status)."""
    table = params.get("route_table")
    if table:
        keys = route_keys(str(table))
        wanted = control_statuses(str(table))
        return keys, {k: wanted.get(k) for k in keys}
    keys = [str(p) for p in params.get("paths") or DEFAULT_PATHS]
    return keys, {k: CONTROL_STATUS.get(k.split(" ", 1)[0], 200) for k in keys}


def _read_backs(ops: list[dict[str, Any]], control: str, nodes: list[str],
                required: bool) -> tuple[list[str], int, list[str]]:
    """The control's list of the probe's namespace after each node's walk (``probe_read``): no stranger's create
    may be there (a server that acted on a request and closed without answering looks refused from the client);
    the control's own create of that node must (else the read proves nothing). Required per node with the route
    table; judged wherever recorded. (reasons, nodes read back as required, stranger creates found)."""
    strangers: dict[str, str] = {}
    own: dict[str, set[str]] = {}
    for op in ops:
        if op.get("f") != "probe" or op.get("type") != "invoke":
            continue
        title = (op.get("request") or {}).get("title")
        ident = str((op.get("value") or {}).get("identity"))
        if title:
            if ident == control:
                own.setdefault(str(op.get("node")), set()).add(str(title))
            else:
                strangers[str(title)] = ident
    reads = [op for op in ops if op.get("f") == "probe_read" and op.get("type") in COMPLETIONS]
    invoked = [op for op in ops if op.get("f") == "probe_read" and op.get("type") == "invoke"]
    reasons: list[str] = []
    if len(invoked) != len(reads):
        reasons.append(f"{len(invoked) - len(reads)} read-back(s) of the probe's namespace invoked but never "
                       "completed")
    seen: dict[str, set[str]] = {}
    leaked: list[str] = []
    for op in reads:
        if op.get("type") != "ok":
            continue
        node = str(op.get("node"))
        titles = {str(t) for t in (op.get("value") or {}).get("titles") or []}
        seen.setdefault(node, set()).update(titles)
        leaked += [f"{strangers[t]}'s create {t} on {node}" for t in sorted(titles) if t in strangers]
    if leaked:
        reasons.append(f"{len(leaked)} stranger create(s) landed although the stranger got no HTTP answer: "
                       + examples(leaked))
    good = 0
    for node in nodes:
        if node not in seen:
            if required:
                reasons.append(f"the probe's namespace was never read back on {node}: whether a stranger's create "
                               "landed is unknown")
            continue
        missing = sorted(own.get(node, set()) - seen[node])
        if missing or not own.get(node):
            reasons.append(f"the read-back on {node} does not hold the control's create {missing or '(none made)'}: "
                           "it proves nothing")
        else:
            good += 1
    return reasons, good, leaked


def mtls_allowlist(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """params: ``identities`` (names; the control may be listed too), ``control`` (name of the allowlisted
    identity, default ``control``), ``nodes`` (every node must be probed), and the routes: ``route_table`` (name
    of the table in ``routes.py``: every route, the control must get an HTTP answer on each, 200 on health and
    201 on a create) or ``paths`` (``"METHOD /path"``; the control must get 200 on GET and 201 on POST), default
    GET health and POST memories.
    """
    control = str(params.get("control", "control"))
    strangers = [str(i) for i in params.get("identities", []) if str(i) != control]
    if not strangers:
        raise ValueError("params.identities names no identity to refuse")
    paths, control_wants = _plan(params)
    nodes = [str(n) for n in params.get("nodes") or []]
    probes = [op for op in ops if op.get("f") == "probe" and op.get("type") in COMPLETIONS]
    invokes = [op for op in ops if op.get("f") == "probe" and op.get("type") == "invoke"]
    reasons: list[str] = []
    if len(invokes) != len(probes):
        reasons.append(f"{len(invokes) - len(probes)} probe(s) invoked but never completed")
    mislabelled = [f"op {op.get('index')}: {op.get('type')} but its outcome is {probe_type(op)} "
                   f"({outcome_text(op)})" for op in probes if op.get("type") != probe_type(op)]
    if mislabelled:
        reasons.append(f"{len(mislabelled)} probe completion(s) whose type contradicts their outcome: "
                       + examples(mislabelled))
    probed = {str(op.get("node")) for op in probes if op.get("node") is not None}
    by_node = bool(probed) and (not nodes or bool(probed & set(nodes)))
    reasons_note = ""
    if nodes and not by_node:  # older probes carry no node, or a URL instead of the node's name
        reasons_note = (f"probes name no node of {nodes}: coverage is judged per identity and path, "
                        f"{len(nodes)} probe(s) each")
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for op in probes:
        value = op.get("value") or {}
        node = str(op.get("node")) if by_node else "*"
        cells.setdefault((node, str(value.get("identity")), _path_key(value)), []).append(op)
    node_keys = (nodes or sorted({k[0] for k in cells})) if by_node else ["*"]

    accepted, not_refused, uncovered, control_bad = [], [], [], []
    refused_cells = served_cells = 0
    answers: dict[str, dict[str, int]] = {}
    for node in node_keys:
        for path in paths:
            for ident in strangers:
                got = cells.get((node, ident, path), [])
                if len(got) < (len(nodes) if node == "*" and nodes else 1):
                    uncovered.append(f"{ident} {path} on {node}")
                    continue
                wrong = [op for op in got if not (status(op) is None and error_class(op) == "tls_refused")]
                if not wrong:
                    refused_cells += 1
                for op in wrong:
                    where = f"{ident} {path} on {op.get('node', node)}"
                    if status(op) is not None:
                        accepted.append(f"{where}: served with HTTP {status(op)}")
                    else:
                        not_refused.append(f"{where}: {outcome_text(op)}, not a TLS refusal")
            got = cells.get((node, control, path), [])
            if len(got) < (len(nodes) if node == "*" and nodes else 1):
                uncovered.append(f"{control} {path} on {node}")
                continue
            want = control_wants.get(path)
            wrong = [op for op in got if (status(op) is None if want is None else status(op) != want)]
            if not wrong:
                served_cells += 1
            for op in got:
                answers.setdefault(path, {}).setdefault(outcome_text(op), 0)
                answers[path][outcome_text(op)] += 1
            control_bad += [f"{control} {path} on {op.get('node', node)}: expected "
                            f"{'an HTTP answer' if want is None else want}, got {outcome_text(op)}" for op in wrong]
    if accepted:
        reasons.append(f"{len(accepted)} stranger probe(s) accepted by the TLS layer: {examples(accepted)}")
    if not_refused:
        reasons.append(f"{len(not_refused)} stranger probe(s) failed without a TLS refusal (proves nothing): "
                       + examples(not_refused))
    if control_bad:
        reasons.append(f"the allowlisted identity was not served: {examples(control_bad)}")
    if uncovered:
        reasons.append(f"{len(uncovered)} identity/path/node combination(s) never probed: {examples(uncovered)}")
    read_reasons, read_nodes, leaked = _read_backs(ops, control, node_keys if by_node else [],
                                                   required=bool(params.get("route_table")) and by_node)
    reasons += read_reasons
    expected = len(node_keys) * len(paths)
    figures = {"strangers_refused_at_handshake": figure(refused_cells, expected * len(strangers)),
               "control_served": figure(served_cells, expected)}
    if params.get("route_table") and by_node:
        figures["namespace_read_back"] = figure(read_nodes, len(node_keys))
    return {"valid": not reasons, "reasons": reasons, "figures": figures, "stranger_creates_found": leaked,
            "accepted": accepted, "not_refused": not_refused, "control_not_served": control_bad,
            "never_probed": uncovered, "probes": len(probes), "note": reasons_note or None,
            "route_table": params.get("route_table") or None, "routes": len(paths),
            # what the control got per route (status or error class: count), for a reader of the evidence
            "control_answers": answers}
