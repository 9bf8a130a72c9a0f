"""The stand-in's floor plan: its modules import one another in one direction only, and each
function fits on a screen."""

from __future__ import annotations

import ast
from pathlib import Path

import stripe_sandbox

PACKAGE = Path(stripe_sandbox.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every sandbox module `path` imports, at the top, inside a function or for type checking."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            target = ".".join(base + [node.module]) if node.level and node.module else None
            target = target or (".".join(base) if node.level else node.module or "")
            for alias in node.names:
                whole = f"{target}.{alias.name}"
                found.add(whole if whole in modules else target)
    return {module for module in found if module in modules and module != name}


def _import_graph() -> dict[str, set[str]]:
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: _imports(path, set(paths)) for name, path in paths.items()}


def _a_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One chain of imports that comes back to where it started, or [] if there is none."""
    done: set[str] = set()

    def walk(module: str, chain: list[str]) -> list[str]:
        if module in chain:
            return chain[chain.index(module) :] + [module]
        if module in done:
            return []
        for imported in sorted(graph[module]):
            if cycle := walk(imported, [*chain, module]):
                return cycle
        done.add(module)
        return []

    for module in sorted(graph):
        if cycle := walk(module, []):
            return cycle
    return []


def test_the_import_graph_reads_relative_imports():
    graph = _import_graph()
    assert "stripe_sandbox.resources.balance" in graph["stripe_sandbox.resources.payouts"]
    assert "stripe_sandbox.store" in graph["stripe_sandbox.resources.balance"]
    assert "stripe_sandbox.sandbox" in graph["stripe_sandbox.resources.balance"]  # for types


def test_a_cycle_is_found_when_there_is_one():
    assert _a_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _a_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_module_of_the_sandbox_imports_itself_through_others():
    assert _a_cycle(_import_graph()) == []


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
