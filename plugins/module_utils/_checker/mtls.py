# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""S3 checker: strangers are refused at the TLS layer on every path of every node; the allowlisted identity is served.

Contract §4: a client without a certificate, or whose leaf fingerprint is not on the allowlist, fails the TLS
handshake: no HTTP response at all, on every path including ``/api/v1/health``. So a refusal is ``status`` None
with ``error_class`` ``tls_refused``; an HTTP 401/403 (or anything else with a status) means the TLS layer let the
stranger in. A timeout or a refused TCP connection proves nothing and is red as well.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._checker.convergence import examples
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.ops import (
    COMPLETIONS,
    error_class,
    figure,
    outcome_text,
    status,
)

DEFAULT_PATHS = ["GET /api/v1/health", "POST /api/v1/memories"]
CONTROL_STATUS = {"GET": 200, "POST": 201}


def _path_key(value: dict[str, Any]) -> str:
    return f"{str(value.get('method', 'GET')).upper()} {value.get('path')}"


def mtls_allowlist(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """params: ``identities`` (names; the control may be listed too), ``control`` (name of the allowlisted
    identity, default ``control``), ``nodes`` (every node must be probed), ``paths`` (``"METHOD /path"``, default
    GET health and POST memories). The control must get 200 on GET and 201 on POST.
    """
    control = str(params.get("control", "control"))
    strangers = [str(i) for i in params.get("identities", []) if str(i) != control]
    if not strangers:
        raise ValueError("params.identities names no identity to refuse")
    paths = [str(p) for p in params.get("paths") or DEFAULT_PATHS]
    nodes = [str(n) for n in params.get("nodes") or []]
    probes = [op for op in ops if op.get("f") == "probe" and op.get("type") in COMPLETIONS]
    invokes = [op for op in ops if op.get("f") == "probe" and op.get("type") == "invoke"]
    reasons: list[str] = []
    if len(invokes) != len(probes):
        reasons.append(f"{len(invokes) - len(probes)} probe(s) invoked but never completed")
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
    for node in node_keys:
        for path in paths:
            method = path.split(" ", 1)[0]
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
            want = CONTROL_STATUS.get(method, 200)
            wrong = [op for op in got if status(op) != want]
            if not wrong:
                served_cells += 1
            control_bad += [f"{control} {path} on {op.get('node', node)}: expected {want}, got {outcome_text(op)}"
                            for op in wrong]
    if accepted:
        reasons.append(f"{len(accepted)} stranger probe(s) accepted by the TLS layer: {examples(accepted)}")
    if not_refused:
        reasons.append(f"{len(not_refused)} stranger probe(s) failed without a TLS refusal (proves nothing): "
                       + examples(not_refused))
    if control_bad:
        reasons.append(f"the allowlisted identity was not served: {examples(control_bad)}")
    if uncovered:
        reasons.append(f"{len(uncovered)} identity/path/node combination(s) never probed: {examples(uncovered)}")
    expected = len(node_keys) * len(paths)
    return {"valid": not reasons, "reasons": reasons,
            "figures": {"strangers_refused_at_handshake": figure(refused_cells, expected * len(strangers)),
                        "control_served": figure(served_cells, expected)},
            "accepted": accepted, "not_refused": not_refused, "control_not_served": control_bad,
            "never_probed": uncovered, "probes": len(probes), "note": reasons_note or None}
