"""Browser tests: Playwright driving Debian's Chromium against the live portal and sandbox.

What the fixtures promise:
- `browser`: one headless Chromium for the run, launched from /usr/bin/chromium with the flags
  this workplace needs (a browser download never works here). Without Chromium the browser tests
  are skipped, except under CI=true, where its absence is a failure.
- `page`: a fresh context (desktop size) whose every page visit can be checked with `audit(page)`:
  axe-core (from npm) finds no serious or critical violations, and the console shows no error
  (a CSP violation would show there). The portal's CSP stays on: axe is evaluated through the
  DevTools protocol, which CSP does not govern.
- `shoot(page, name)`: screenshots at desktop and phone widths into artifacts/screenshots/ (or
  SCREENSHOTS_DIR; `make screenshots` writes the README's into docs/screenshots/).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import live_portal, live_sandbox  # noqa: F401 - fixtures for the journeys

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE_SOURCE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.browser


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, AXE_SOURCE) if not p.exists()]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Browser tests need {', '.join(missing)} (scripts/setup.sh --dev).")
        pytest.skip(f"Browser tests need {', '.join(missing)}: run scripts/setup.sh --dev.")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        yield chromium
        chromium.close()


class PageAudit:
    """Collects console errors and runs axe on demand."""

    def __init__(self) -> None:
        self.console_errors: list[str] = []
        self.audited: list[str] = []

    def __call__(self, page) -> None:  # type: ignore[no-untyped-def]
        page.wait_for_load_state("load")
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(AXE_SOURCE.read_text())
        result = page.evaluate(
            """async () => {
                const r = await axe.run(document, {resultTypes: ['violations']});
                return r.violations
                    .filter(v => v.impact === 'serious' || v.impact === 'critical')
                    .map(v => `${v.id} (${v.impact}): ${v.help} at ` +
                              v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
            }"""
        )
        self.audited.append(page.url)
        assert result == [], f"Accessibility violations on {page.url}:\n" + "\n".join(result)
        assert self.console_errors == [], f"Console errors: {self.console_errors}"


@pytest.fixture
def audit() -> PageAudit:
    return PageAudit()


@pytest.fixture
def context_options() -> dict[str, object]:
    """More options for the browser context; a journey overrides it (e.g. a `timezone_id`)."""
    return {}


@pytest.fixture
def page(browser, audit: PageAudit, context_options: dict[str, object]) -> Iterator[object]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=DESKTOP, **context_options)
    context.set_default_timeout(15_000)
    page = context.new_page()

    def on_console(message) -> None:  # type: ignore[no-untyped-def]
        if message.type == "error":
            audit.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    page.on("console", on_console)
    yield page
    context.close()


def _screenshot_dir() -> Path:
    return Path(os.environ.get("SCREENSHOTS_DIR", ROOT / "artifacts" / "screenshots"))


@pytest.fixture
def shoot():  # type: ignore[no-untyped-def]
    def take(page, name: str) -> None:  # type: ignore[no-untyped-def]
        folder = _screenshot_dir()
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}-desktop.png"), full_page=True)
        page.set_viewport_size(PHONE)
        page.screenshot(path=str(folder / f"{name}-phone.png"), full_page=True)
        page.set_viewport_size(DESKTOP)

    return take
