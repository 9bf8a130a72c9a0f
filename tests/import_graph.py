"""Which modules of a package import which, read from the source, and a cycle among them."""

from __future__ import annotations

import ast
from pathlib import Path


def module_name(package: Path, path: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(package: Path, path: Path, modules: set[str], *, for_types: bool = True) -> set[str]:
    """Every module of `modules` that `path` imports: at the top, inside a function, and (with
    `for_types`) under `if TYPE_CHECKING:`."""
    name = module_name(package, path)
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    skipped = set() if for_types else _type_checking_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = here.split(".")[: len(here.split(".")) - (node.level - 1)]
            target = ".".join(base + [node.module]) if node.level and node.module else None
            target = target or (".".join(base) if node.level else node.module or "")
            for alias in node.names:
                whole = f"{target}.{alias.name}"
                found.add(whole if whole in modules else target)
    return {module for module in found if module in modules and module != name}


def _type_checking_only(tree: ast.AST) -> set[int]:
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }


def import_graph(package: Path, *, for_types: bool = True) -> dict[str, set[str]]:
    paths = {module_name(package, path): path for path in package.rglob("*.py")}
    return {
        name: imports_of(package, path, set(paths), for_types=for_types)
        for name, path in paths.items()
    }


def a_cycle(graph: dict[str, set[str]]) -> list[str]:
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
