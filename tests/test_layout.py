"""The floor plan holds: audience blueprints call the domain, never one another."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.import_graph import a_cycle, import_graph

PORTAL = Path(__file__).resolve().parent.parent / "portal"
BLUEPRINTS = ("coaches", "billing", "admin")


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, as a dotted name (`from portal import x` gives portal.x)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def other_blueprint_imports(blueprint: str) -> list[str]:
    others = [f"portal.{name}" for name in BLUEPRINTS if name != blueprint]
    found = []
    for path in sorted((PORTAL / blueprint).rglob("*.py")):
        for module in sorted(imported_modules(path)):
            if any(module == other or module.startswith(other + ".") for other in others):
                found.append(f"{path.relative_to(PORTAL.parent)} imports {module}")
    return found


@pytest.mark.parametrize("blueprint", BLUEPRINTS)
def test_blueprint_imports_no_other_blueprint(blueprint: str) -> None:
    assert other_blueprint_imports(blueprint) == []


def test_the_check_sees_an_import_of_another_blueprint(tmp_path: Path) -> None:
    module = tmp_path / "views.py"
    module.write_text("from portal.coaches import views\nimport portal.admin.refunds\n")
    assert {"portal.coaches.views", "portal.admin.refunds"} <= imported_modules(module)


def test_bookings_imports_neither_coaches_nor_admin() -> None:
    found = [
        f"{path.name}: {module}"
        for path in sorted((PORTAL / "bookings").rglob("*.py"))
        for module in sorted(imported_modules(path))
        if module.startswith(("portal.coaches", "portal.admin"))
    ]
    assert found == []


def view_layer_modules() -> set[str]:
    """Each blueprint's pages and forms: `portal.X.views` and `portal.X.forms`."""
    return {
        f"portal.{views.parent.name}.{layer}"
        for views in PORTAL.glob("*/views.py")
        for layer in ("views", "forms")
    }


def test_no_package_reaches_into_another_blueprints_pages_or_forms() -> None:
    view_layer = view_layer_modules()
    found = []
    for path in sorted(PORTAL.rglob("*.py")):
        if path == PORTAL / "__init__.py":  # the app factory registers each blueprint
            continue
        own = f"portal.{path.relative_to(PORTAL).parts[0]}."
        for module in sorted(imported_modules(path)):
            layer = next((m for m in view_layer if module == m or module.startswith(m + ".")), None)
            if layer and not layer.startswith(own):
                found.append(f"{path.relative_to(PORTAL.parent)} imports {module}")
    assert found == []


def test_every_blueprint_is_seen_by_the_view_layer_check() -> None:
    packages = {module.split(".")[1] for module in view_layer_modules()}
    assert {"accounts", "admin", "billing", "coaches", "payouts", "webhooks"} <= packages


TEMPLATES = PORTAL.parent / "templates"
# `x.status.value == 'failed'`, `!= 'instant'`, `in ('active', 'trialing')`: a state rule
# written in a template, out of sight of the model that owns it.
STATE_BY_VALUE = re.compile(r"\.value\s*(?:==|!=|in\s*[(\[])")


def state_decided_by_value(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if STATE_BY_VALUE.search(line)]


def test_templates_ask_the_models_for_state_instead_of_comparing_enum_values() -> None:
    found = [
        f"{path.relative_to(TEMPLATES)}: {line}"
        for path in sorted(TEMPLATES.rglob("*.html")) + sorted(TEMPLATES.rglob("*.txt"))
        for line in state_decided_by_value(path.read_text())
    ]
    assert found == []


def test_the_template_check_sees_a_state_compared_by_value() -> None:
    page = "{% if event.status.value == 'failed' %}\n{{ a.value }}\n{% if s.value in ('a',) %}"
    assert len(state_decided_by_value(page)) == 2


def test_no_module_of_the_portal_imports_itself_through_others() -> None:
    # Models name each other's classes for type checking only; those imports never run.
    assert a_cycle(import_graph(PORTAL, for_types=False)) == []
