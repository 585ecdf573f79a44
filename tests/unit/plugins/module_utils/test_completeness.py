"""A history is whole or red, whatever its checker concludes (issue 17, item 7)."""

from __future__ import annotations

from typing import Any

from ansible_collections.aimemory.swarm.plugins.module_utils._checker.completeness import EXPECTED_FAILURES
from ansible_collections.aimemory.swarm.plugins.module_utils._checker.registry import KINDS

from tests.unit.plugins.module_utils.test_checkers import S4, has, judged, s4_history


def renumbered(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**op, "index": i} for i, op in enumerate(ops)]


def test_every_checker_kind_says_which_failures_it_judges() -> None:
    assert set(EXPECTED_FAILURES) == set(KINDS)


def test_a_dropped_or_moved_op_leaves_a_gap() -> None:
    ops = s4_history().ops
    assert judged("partition_convergence", ops, S4)["valid"]
    for broken in (ops[:3] + ops[4:], [*ops[:3], ops[4], ops[3], *ops[5:]], [*ops[:4], ops[3], *ops[4:]]):
        result = judged("partition_convergence", broken, S4)
        assert not result["valid"] and has(result, "the history is not whole"), result["reasons"]


def test_an_invoke_without_its_completion_is_red() -> None:
    ops = s4_history().ops
    write = next(i for i, op in enumerate(ops) if op["f"] == "write" and op["type"] == "ok")
    result = judged("partition_convergence", renumbered(ops[:write] + ops[write + 1:]), S4)
    assert has(result, "1 invoke(s) without a completion"), result["reasons"]


def test_a_failure_the_checker_does_not_judge_is_red() -> None:
    ops = s4_history().ops
    # a nemesis op, or the last read of a node, turned into a failure
    heal = next(i for i, op in enumerate(ops) if op["f"] == "heal")
    last_read = max(i for i, op in enumerate(ops) if op["f"] == "read")
    for i in (heal, last_read):
        broken = [dict(op) for op in ops]
        broken[i]["type"] = "fail"
        result = judged("partition_convergence", broken, S4)
        assert has(result, "op(s) failed where the partition_convergence checker expects no failure"), result


def test_a_failed_poll_retried_with_an_answer_is_accepted() -> None:
    ops = s4_history().ops
    first_read = next(i for i, op in enumerate(ops) if op["f"] == "read")
    node = ops[first_read]["node"]
    assert any(op["f"] == "read" and op["node"] == node for op in ops[first_read + 1:])
    retried = [dict(op) for op in ops]
    retried[first_read] = {**retried[first_read], "type": "fail", "error_class": "refused"}
    assert judged("partition_convergence", retried, S4)["valid"]
