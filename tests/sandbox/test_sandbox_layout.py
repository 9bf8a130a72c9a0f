"""The stand-in's floor plan: its modules import one another in one direction only, and each
function fits on a screen."""

from __future__ import annotations

import ast
from pathlib import Path

import stripe_sandbox
from tests.import_graph import a_cycle, import_graph

PACKAGE = Path(stripe_sandbox.__file__).parent


def test_the_import_graph_reads_relative_imports():
    graph = import_graph(PACKAGE)
    assert "stripe_sandbox.resources.balance" in graph["stripe_sandbox.resources.payouts"]
    assert "stripe_sandbox.store" in graph["stripe_sandbox.resources.balance"]
    assert "stripe_sandbox.sandbox" in graph["stripe_sandbox.resources.balance"]  # for types


def test_a_cycle_is_found_when_there_is_one():
    assert a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert a_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_module_of_the_sandbox_imports_itself_through_others():
    assert a_cycle(import_graph(PACKAGE)) == []


LONGEST_FUNCTION = 50
"""Lines: a function a reader takes in without scrolling (object literals go to module-level
defaults, checks to helpers named for what they check)."""


def test_no_function_of_the_sandbox_is_longer_than_a_screen():
    too_long = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({length} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := node.end_lineno - node.lineno + 1) > LONGEST_FUNCTION
    ]
    assert too_long == []
