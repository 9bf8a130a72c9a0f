"""Booking works with the keyboard alone: every control is reachable with Tab and works with
Enter or Space, and focus is visible."""

from __future__ import annotations

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import Booking, PaymentStatus
from tests.browser.helpers import bookable_coach, sign_up
from tests.live import LivePortal, LiveSandbox


def _tab_to(page: Page, text: str, limit: int = 60) -> None:
    """Press Tab until the focused element's text or label contains `text`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement; return (e.innerText || e.value"
            " || e.getAttribute('aria-label') || e.id || '').trim(); }"
        )
        if text in focused:
            outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"focus on {text!r} is not visible"
            return
    raise AssertionError(f"{text!r} is not reachable with Tab")


def test_a_mentee_books_and_pays_with_the_keyboard_alone(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal, page: Page
) -> None:
    coach = bookable_coach(live_sandbox, slots=1)
    sign_up(page, live_portal, "Kim Keys", "kim@example.com")
    page.goto(f"{live_portal.url}/coaches/{coach.id}")

    _tab_to(page, "Book and pay $100.00")
    page.keyboard.press("Enter")
    expect(page.get_by_label("Card number")).to_be_visible()

    _tab_to(page, "number")
    page.keyboard.type("4242424242424242")
    page.keyboard.press("Tab")
    page.keyboard.type("12/34")
    page.keyboard.press("Tab")
    page.keyboard.type("123")
    page.keyboard.press("Tab")
    page.keyboard.type("Kim Keys")
    page.keyboard.press("Enter")

    expect(page.get_by_text("Your session is booked and paid.")).to_be_visible(timeout=20_000)
    booking = db.session.scalar(select(Booking))
    assert booking.payment_status is PaymentStatus.PAID


def test_the_skip_link_is_the_first_stop_and_moves_focus_to_the_content(
    app: Flask, live_portal: LivePortal, page: Page
) -> None:
    page.goto(live_portal.url + "/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
