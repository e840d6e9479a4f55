"""Rules for the test suite itself: a test that can fail for the wrong reason says so, and a
warning from cnnedge fails the test that caused it."""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

#: Tests that read a clock and compare, yet cannot fail because the machine is busy.
NOT_TIMING = {
    # A lower bound on how long a throttled loop takes: a busy machine only makes it longer.
    "test_fps_cap_throttles_processing",
}


def _uses_clock(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Attribute)
        and isinstance(n.value, ast.Name)
        and n.value.id == "time"
        and n.attr in ("sleep", "monotonic", "perf_counter", "time")
        for n in ast.walk(node)
    )


def _asserts_an_order(node: ast.AST) -> bool:
    orders = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
    return any(
        isinstance(n, ast.Assert)
        and any(
            isinstance(c, ast.Compare) and any(isinstance(op, orders) for op in c.ops)
            for c in ast.walk(n.test)
        )
        for n in ast.walk(node)
    )


def _marks(node: ast.FunctionDef) -> set[str]:
    names = set()
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        names.add(ast.unparse(target).removeprefix("pytest.mark."))
    return names


def timing_tests_without_the_marker(paths: list[Path]) -> list[str]:
    """Tests that sleep or read the clock and assert a bound, without ``timing``."""
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            if node.name in NOT_TIMING or "timing" in _marks(node):
                continue
            if _uses_clock(node) and _asserts_an_order(node):
                found.append(f"{path.name}::{node.name}")
    return found


def test_timing_dependent_tests_are_marked():
    assert timing_tests_without_the_marker(sorted(TESTS.glob("test_*.py"))) == []


def test_the_marker_check_finds_an_unmarked_timing_test(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "import time\n"
        "import pytest\n\n"
        "def test_lag():\n    start = time.monotonic()\n    assert time.monotonic() - start < 1\n\n"
        "@pytest.mark.timing\n"
        "def test_marked():\n    time.sleep(0.1)\n    assert 1 <= 2\n\n"
        "def test_no_clock():\n    assert 1 <= 2\n",
        encoding="utf-8",
    )
    assert timing_tests_without_the_marker([sample]) == ["test_sample.py::test_lag"]


def test_a_warning_from_cnnedge_is_an_error():
    with pytest.raises(UserWarning, match="probe"):
        warnings.warn_explicit("probe", UserWarning, "images.py", 1, module="cnnedge.edge.images")
    # Warnings of other packages keep pytest's default handling (reported, not raised).
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn_explicit("other", UserWarning, "x.py", 1, module="cnnedgeish.x")
    assert [str(w.message) for w in caught] == ["other"]
