# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
"""Quorum checkers: S1 (quorum write) and S2 (quorum shortfall), contract §3.7.

N = 1 + peers, W = ``--quorum-writes``; the local commit counts as 1 of W. Success is 201 with
``W <= quorum_acks <= live nodes``; a shortfall is answered in the release's shape (``params["shortfall"]``, from
the release table ``_releases.py``; the v0.7 contract's when not given): 0.7 says 503, ``Retry-After: 2``, body
exactly ``{"error": "quorum_not_met", "got": <W, "needed": W, "reason": "timeout"|"unreachable"}``; 0.8.1 on say
202, body exactly ``{"quorum_met": false, "acks": <W, "needed": W, "reason": ..., "durability": "local"}``; an
unknown release (``shortfall: null``) may give either, exactly. In every shape the leader keeps the local write.
Which nodes were live at each write comes from the nemesis ops (stop/kill, start/restart) of the same history, so
a ``quorum_acks`` larger than the live nodes is a phantom ack.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._checker.convergence import (
    UNREAD,
    SetFull,
    examples,
    held_right_after_ack,
    judge,
    replicated_observations,
    select_writes,
    set_figures,
    ttc_figure,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.ops import as_bool, figure, observed_nemesis_ops
from ansible_collections.aimemory.swarm.plugins.module_utils._ops import (
    GET_F,
    READ_F,
    UP_EVENTS,
    Snapshots,
    Write,
    as_int,
    event_nodes,
    header,
    live_nodes,
    nemesis_ops,
    outcome_text,
    pair_mutations,
)
from ansible_collections.aimemory.swarm.plugins.module_utils._releases import SHORTFALL_202, SHORTFALL_503

SHORTFALL_REASONS = ("timeout", "unreachable")


def ack_problem(w: Write, quorum: int, live: int) -> str | None:
    """Why a write is not a correct quorum acknowledgement, or None."""
    if w.completion is None:
        return f"{w.title}: never completed (outcome unknown)"
    if w.status != 201:
        return f"{w.title}: expected 201, got {outcome_text(w.completion)}"
    acks = w.acks
    if acks is None:
        return f"{w.title}: 201 without an integer quorum_acks"
    if acks < quorum:
        return f"{w.title}: 201 with quorum_acks {acks} < W={quorum} (acknowledged without quorum)"
    if acks > live:
        return f"{w.title}: phantom ack, quorum_acks {acks} > {live} live node(s)"
    if not w.id:
        return f"{w.title}: 201 without an id"
    return None


def visibility(writes: list[Write], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """How reads can see the writes (contract §3.3): the scopes and agent ids the writes and reads used."""
    read_agents = sorted({str((op.get("request") or {}).get("agent_id")) for op in ops
                          if op.get("f") in (READ_F, GET_F) and (op.get("request") or {}).get("agent_id")})
    return {"write_scopes": sorted({str(w.scope) for w in writes if w.scope}),
            "write_agent_ids": sorted({str(w.agent_id) for w in writes if w.agent_id}),
            "read_agent_ids": read_agents}


def _visibility_hint(vis: dict[str, Any]) -> str:
    if "private" in vis["write_scopes"] and set(vis["read_agent_ids"]) - set(vis["write_agent_ids"]):
        return " (writes are scope private and reads used another X-Agent-Id: they cannot see them)"
    return ""


def quorum_write(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """S1: every write 201 with W <= quorum_acks <= live nodes; every update and delete of them (through other
    peers) 200; with ``held``, each acknowledgement held by at least W nodes right after it; at the end every node
    holds every acknowledged write as its last acknowledged update left it (whole records, the same on every
    node) and none of the deleted ones.

    params: ``w``, ``n``, ``nodes`` (all N nodes); optional ``namespace`` (one or a list), ``write_steps``,
    ``deadline_ms``, ``held`` (judge the held ops), ``seed`` (recorded).
    """
    quorum, size, nodes = int(params["w"]), int(params["n"]), [str(n) for n in params["nodes"]]
    if not 1 <= quorum <= size or len(nodes) != size:
        raise ValueError(f"need 1 <= w <= n and n nodes: w={quorum} n={size} nodes={nodes}")
    writes, problems = select_writes(ops, params)
    reasons = list(problems)
    bad = []
    for w in writes:
        if w.step == "bulk":  # a bulk create answers 200 {created, errors} for the batch: all created, no error
            problem = None if w.type == "ok" else \
                f"{w.title}: bulk create through {w.node} answered {outcome_text(w.completion)}"
        else:
            problem = ack_problem(w, quorum, len(live_nodes(ops, nodes, w.index)))
        if problem:
            bad.append(problem)
    if not writes:
        reasons.append("no write was attempted")
    if bad:
        reasons.append(f"{len(bad)} of {len(writes)} write(s) not a quorum acknowledgement: {examples(bad)}")
    mutations = [m for m in pair_mutations(ops)[0]
                 if not params.get("namespace") or (m.invoke.get("value") or {}).get("namespace")
                 in (params["namespace"] if isinstance(params["namespace"], list) else [params["namespace"]])]
    refused = [f"{m.f} {(m.invoke.get('value') or {}).get('title')}: {outcome_text(m.completion)}"
               for m in mutations if m.type != "ok"]
    if refused:
        reasons.append(f"{len(refused)} of {len(mutations)} update(s)/delete(s) not acknowledged with 200: "
                       f"{examples(refused)}")
    acked = [w for w in writes if w.type == "ok"]
    vis = visibility(writes, ops)
    held = held_right_after_ack(ops, acked, quorum) if as_bool(params.get("held")) else None
    if held is not None:
        reasons += held["reasons"]
    result = judge(ops, nodes, acked, attempted=writes, namespace=params.get("namespace"))
    conv_reasons = result.pop("reasons")
    if conv_reasons and result["lost"]:
        conv_reasons = [r + _visibility_hint(vis) if "missing" in r else r for r in conv_reasons]
    reasons += conv_reasons
    deadline = params.get("deadline_ms")
    ttc = result["time_to_converge_ms"]
    if deadline is not None and ttc is not None and ttc > float(deadline):
        reasons.append(f"replicated in {ttc} ms, later than the deadline of {deadline} ms")
    figs = {"quorum_writes_acknowledged": figure(len(writes) - len(bad), len(writes)), **set_figures(result)}
    if mutations:
        figs["updates_and_deletes_acknowledged"] = figure(len(mutations) - len(refused), len(mutations))
    if held is not None:
        figs["acks_held_by_w_right_after"] = held["figure"]
    if ttc is not None or deadline is not None:
        figs["time_to_converge_ms"] = ttc_figure(ttc, deadline)
    extra = {k: v for k, v in (held or {}).items() if k not in ("reasons", "figure")}
    return {"valid": not reasons, "reasons": reasons, "figures": figs, "visibility": vis, "seed": params.get("seed"),
            "writes_attempted": len(writes), "not_acknowledged": bad, "mutations": len(mutations), **extra,
            "replicated_observations": replicated_observations(result, acked, nodes), **result}


def shortfall_contract(params: dict[str, Any], status: int | None) -> dict[str, Any]:
    """The shortfall answer a write must match: the declared one (``params["shortfall"]``), the v0.7 contract's
    when none is declared, the known shape of the answer's status when the release is unknown (declared null)."""
    if "shortfall" not in params:
        return SHORTFALL_503
    declared = params["shortfall"]
    if isinstance(declared, dict):
        return declared
    return SHORTFALL_202 if status == SHORTFALL_202["status"] else SHORTFALL_503


def describe(contract: dict[str, Any]) -> str:
    """How reasons name a shortfall answer: "503 quorum_not_met", "202 quorum_met=false durability=local"."""
    return str(contract.get("text") or contract["status"])


def shortfall_problems(w: Write, quorum: int, live: int, contract: dict[str, Any]) -> list[str]:
    """Why a write made without a reachable quorum was not answered as ``contract`` says (``_releases.py``)."""
    if w.completion is None:
        return ["never completed (outcome unknown)"]
    expected = describe(contract)
    if w.status == 201:
        return [f"201 with quorum_acks {w.acks} while only {live} of the W={quorum} needed node(s) were live "
                f"(acknowledged without quorum); expected {expected}"]
    problems = []
    if w.status != contract["status"]:
        problems.append(f"expected {expected}, got {outcome_text(w.completion)}")
    retry_after = header(w.completion, "Retry-After")
    if contract.get("retry_after") is not None and retry_after != contract["retry_after"]:
        problems.append(f"Retry-After {retry_after!r}, expected {contract['retry_after']!r}")
    body = w.body
    if set(body) != set(contract["keys"]):
        problems.append(f"body keys {sorted(body)}, expected exactly {sorted(contract['keys'])}")
    for key, value in contract["marker"].items():
        if body.get(key) != value or type(body.get(key)) is not type(value):
            problems.append(f"body {key} {body.get(key)!r}, expected {value!r}")
    if as_int(body.get("needed")) != quorum:
        problems.append(f"body needed {body.get('needed')!r}, expected W={quorum}")
    key = contract["acks_key"]
    got = as_int(body.get(key))
    if got is None or not got < quorum:
        problems.append(f"body {key} {body.get(key)!r}, expected an integer < W={quorum}")
    elif got > live:
        problems.append(f"body {key} {got} > {live} live node(s) (phantom ack)")
    if body.get("reason") not in SHORTFALL_REASONS:
        problems.append(f"body reason {body.get('reason')!r}, expected one of {list(SHORTFALL_REASONS)}")
    return problems


def _window_state(ops: list[dict[str, Any]], nodes: list[str], writes: list[Write], start: int,
                  end: int) -> SetFull:
    """What reads between two op indexes saw of ``writes``."""
    sf = SetFull(nodes, writes, Snapshots(ops))
    for op in ops:
        if start < int(op.get("index", -1)) < end and op.get("f") in (READ_F, GET_F):
            sf.observe(op)
    return sf


def quorum_shortfall(ops: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """S2: shortfall answered exactly and kept on the leader; one peer down still 201 and on the live peers;
    after restart every acknowledged and every kept write on every node.

    params: ``w``, ``n``, ``nodes``, ``leader``; optional ``namespace``, ``one_down_applies`` (default: N-1 >= W),
    ``live_during_one_down`` (nodes live during the one-down writes; default from the nemesis ops),
    ``shortfall_step``/``one_down_step`` (step labels of the writes, default ``shortfall``/``one_down``; writes
    without a step are classed by the live nodes at their time), ``deadline_ms``, ``check_all_up`` (default true:
    writes made with every node up must be quorum acknowledgements; false when another checker judges them, as
    phase 2 does for its burst).
    """
    quorum, size = int(params["w"]), int(params["n"])
    nodes, leader = [str(n) for n in params["nodes"]], str(params["leader"])
    if leader not in nodes or len(nodes) != size or not 1 <= quorum <= size:
        raise ValueError(f"need the leader among n nodes and 1 <= w <= n: {params}")
    short_step, one_step = params.get("shortfall_step", "shortfall"), params.get("one_down_step", "one_down")
    one_down_applies = as_bool(params.get("one_down_applies"), size - 1 >= quorum)
    writes, problems = select_writes(ops, {**params, "write_steps": None})
    reasons = list(problems)

    def live(w: Write) -> list[str]:
        if w.step == one_step and params.get("live_during_one_down"):
            return [str(n) for n in params["live_during_one_down"]]
        return live_nodes(ops, nodes, w.index)

    def phase(w: Write) -> str:
        if w.step == short_step:
            return "shortfall"
        if w.step == one_step:
            return "one_down"
        n_live = len(live(w))
        return "shortfall" if n_live < quorum else "one_down" if n_live < size else "all_up"

    phases = {w: phase(w) for w in writes}
    shortfall = [w for w in writes if phases[w] == "shortfall"]
    one_down = [w for w in writes if phases[w] == "one_down"]
    all_up = [w for w in writes if phases[w] == "all_up"]
    stops = nemesis_ops(ops, "stop", "kill")
    restarts = nemesis_ops(ops, *UP_EVENTS)
    if not stops:
        reasons.append("the history holds no stop/kill nemesis op: no peer was ever stopped")
    elif as_bool(params.get("observed_faults"), True):
        reasons += observed_nemesis_ops(ops, "stop", "kill")[1]
    if not shortfall:
        reasons.append("no write was attempted with the quorum unreachable")
    if one_down_applies and not one_down:
        reasons.append("no write was attempted with one peer down")
    last_restart = restarts[-1] if restarts else None
    if last_restart is None or (writes and int(last_restart.get("index", -1)) < writes[-1].index):
        reasons.append("the stopped peers were not restarted after the writes: catch-up was never exercised")
        last_restart = None

    # 1. the shortfall: answered exactly in the release's shape
    exact, wrong = 0, []
    for w in shortfall:
        probs = shortfall_problems(w, quorum, len(live(w)), shortfall_contract(params, w.status))
        if probs:
            wrong.append(f"{w.title}: " + "; ".join(probs))
        else:
            exact += 1
    if wrong:
        reasons.append(f"{len(wrong)} of {len(shortfall)} shortfall write(s) not answered per contract: "
                       + examples(wrong))

    # 2. the shortfall writes are kept on the leader (read before the peers came back)
    kept = [w for w in shortfall if w.kept]
    kept_on_leader = 0
    if shortfall:
        start = max(w.completion["index"] if w.completion else w.index for w in shortfall)
        later_up = [int(op["index"]) for op in restarts if int(op.get("index", -1)) > start]
        end = later_up[0] if later_up else 1 << 62
        sf = _window_state(ops, [leader], kept, start, end)
        states = [sf.where(leader, w)[0] for w in kept]
        kept_on_leader = states.count("present")
        if kept and UNREAD in states:
            reasons.append(f"the leader {leader} was not read after the shortfall writes and before the restart")
        elif kept_on_leader < len(kept):
            missing = [w.title for i, w in enumerate(kept) if states[i] != "present"]
            reasons.append(f"{len(missing)} shortfall write(s) not kept on the leader {leader} "
                           f"(the contract keeps the local write): {examples(missing)}")

    # 3. one peer down: 201 with W <= acks <= live, and on every live node
    one_ok, one_bad, on_live_pairs, live_pairs = 0, [], 0, 0
    for w in one_down:
        problem = ack_problem(w, quorum, len(live(w)))
        if problem:
            one_bad.append(problem)
        else:
            one_ok += 1
    if one_bad:
        reasons.append(f"{len(one_bad)} of {len(one_down)} write(s) with one peer down not a quorum "
                       f"acknowledgement: {examples(one_bad)}")
    acked_one = [w for w in one_down if w.type == "ok"]
    if acked_one:
        live_set = live(acked_one[0])
        start = acked_one[0].index
        end = int(last_restart["index"]) if last_restart else 1 << 62
        sf = _window_state(ops, live_set, acked_one, start, end)
        live_pairs = len(acked_one) * len(live_set)
        on_live_pairs = sum(sf.present.values())
        unread = [n for n in live_set if sf.state[n].snapshot is None and not sf.state[n].gets]
        if unread:
            reasons.append(f"live node(s) {unread} not read while one peer was down")
        elif on_live_pairs < live_pairs:
            missing = [f"{w.title}@{n}" for n in live_set for w in acked_one if sf.where(n, w)[0] != "present"]
            reasons.append(f"{len(missing)} write(s) acknowledged with one peer down missing on a live node: "
                           + examples(missing))

    # 4. writes with every node up (if any): ordinary quorum writes
    up_bad = [p for p in (ack_problem(w, quorum, len(live(w))) for w in all_up) if p] \
        if as_bool(params.get("check_all_up"), True) else []
    if up_bad:
        reasons.append(f"{len(up_bad)} write(s) with every node up not a quorum acknowledgement: {examples(up_bad)}")

    # 5. after the restart: every acknowledged and every kept write on every node
    required = [w for w in writes if w.type == "ok"] + kept
    after = judge(ops, nodes, required, attempted=writes, anchor=last_restart, namespace=params.get("namespace"),
                  label="after restart") if last_restart is not None else None
    if after is not None:
        reasons += after.pop("reasons")
    deadline = params.get("deadline_ms")
    ttc = after["time_to_converge_ms"] if after else None
    if deadline is not None and ttc is not None and ttc > float(deadline):
        reasons.append(f"caught up in {ttc} ms after restart, later than the deadline of {deadline} ms")

    figs = {"shortfall_answered_exactly": figure(exact, len(shortfall)),
            "shortfall_kept_on_leader": figure(kept_on_leader, len(shortfall))}
    if one_down_applies or one_down:
        figs["one_down_acknowledged"] = figure(one_ok, len(one_down))
        figs["one_down_on_live_nodes"] = figure(on_live_pairs, live_pairs)
    if after is not None:
        figs.update(set_figures(after, "after_restart_"))
        if ttc is not None or deadline is not None:
            figs["after_restart_time_to_converge_ms"] = ttc_figure(ttc, deadline)
    else:
        figs["after_restart_writes_present_on_every_node"] = figure(0, 0)
    details: dict[str, Any] = {
        "shortfall_writes": [w.title for w in shortfall], "shortfall_not_per_contract": wrong,
        "one_down_writes": [w.title for w in one_down], "one_down_not_acknowledged": one_bad,
        "stopped": sorted({n for op in stops for n in event_nodes(op)}),
        "lost": after["lost"] if after else [], "time_to_converge_ms": ttc, "after_restart": after,
    }
    return {"valid": not reasons, "reasons": reasons, "figures": figs, **details}
