"""Steps a person takes, shared by the browser journeys."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask
from playwright.sync_api import Page, expect

from portal.models import Role, User
from tests.builders import make_slot, make_user
from tests.conftest import PASSWORD, current_code
from tests.live import LivePortal, LiveSandbox, onboard_coach
from tests.mailbox import links_in, messages


def bookable_coach(live_sandbox: LiveSandbox, *, price: str = "100.00", slots: int = 2) -> User:
    coach = make_user(
        Role.COACH,
        password=PASSWORD,
        name="Grace Hopper",
        headline="Debugging your career in software",
        session_price=Decimal(price),
    )
    onboard_coach(live_sandbox, coach)
    for n in range(slots):
        make_slot(coach, hours_from_now=72 + 24 * n)
    return coach


def sign_up(
    page: Page, portal: LivePortal, name: str, email: str, role: str = "mentee", audit=None
) -> None:  # type: ignore[no-untyped-def]
    page.goto(portal.url + "/account/signup")
    if audit is not None:
        audit(page)
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label(
        "Book sessions with coaches" if role == "mentee" else "Coach and get paid"
    ).check()
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("We mailed you a link to confirm your address")).to_be_visible()
    page.goto(confirmation_link(portal, email))
    page.get_by_role("button", name="Confirm my address").click()
    expect(page.get_by_text("Your email address is confirmed")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def confirmation_link(portal: LivePortal, email: str) -> str:
    """The link in the last confirmation mailed to `email`, as its owner would open it."""
    mail = [
        m
        for m in messages(portal.app)
        if m["To"] == email.lower() and m["Subject"] == "Confirm your email address"
    ]
    assert mail, f"no confirmation mailed to {email}"
    [url] = [u for u in links_in(mail[-1]) if "/account/verify/" in u]
    return url


def sign_in(page: Page, portal: LivePortal, user: User, audit=None) -> None:  # type: ignore[no-untyped-def]
    page.goto(portal.url + "/account/login")
    if audit is not None:
        audit(page)
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if user.two_factor_enabled:
        expect(page.get_by_role("heading", name="Your code")).to_be_visible()
        page.get_by_label("Code").fill(current_code(user))
        page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def book_and_pay(portal: LivePortal, mentee, coach, slot_id: int) -> str:  # type: ignore[no-untyped-def]
    """A mentee books and pays on Checkout (outside the browser under test); returns the
    Checkout Session's id. The return page is not visited: only webhooks tell the portal."""
    browser = portal.browser()
    portal.login(browser, mentee)
    booked = portal.post(browser, f"/slots/{slot_id}/book", f"/coaches/{coach.id}")
    assert booked.status_code == 303, booked.text
    checkout_url = booked.headers["Location"]
    paid = browser.post(
        checkout_url,
        data={"number": "4242424242424242", "expiry": "12/34", "cvc": "123", "name": "A B"},
        allow_redirects=False,
        timeout=10,
    )
    assert paid.status_code == 303, paid.text
    return checkout_url.rsplit("/", 1)[-1]


def pay_on_checkout(page: Page, card: str, *, name: str = "Ada Lovelace") -> None:
    """Fill the (offline) Stripe Checkout page's card form and submit it."""
    page.get_by_label("Card number").fill(card)
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Name on card").fill(name)
    page.locator("form button[type=submit]").first.click()


def ledger_is_clean(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "no drift" in result.output


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


def table_fits_a_phone(page: Page, table: str, label: str, audit=None) -> None:  # type: ignore[no-untyped-def]
    """On a 390 px phone the table's rows are stacked cards: nothing wider than the screen,
    and each cell labelled by its column (checked for `label`, whose cell is on the screen);
    `audit`, when given, runs axe at that width too."""
    # A click on a link returns once the next page has begun to show, which can be before its
    # stylesheet has loaded: measured then, a table is laid out without the page's styles.
    page.wait_for_load_state("load")
    page.set_viewport_size(PHONE)
    try:
        wider = page.evaluate(
            """width => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > width)
                .map(e => e.tagName + (e.id ? '#' + e.id : '') + ' ' + e.className)
                .slice(0, 5)""",
            PHONE["width"],
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], wider
        cell = page.locator(f"{table} [data-label='{label}']").first
        expect(cell).to_be_visible()
        shown = cell.evaluate("td => getComputedStyle(td, '::before').content")
        assert shown == f'"{label}"', shown
        box = cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        if audit is not None:
            audit(page)
    finally:
        page.set_viewport_size(DESKTOP)


def chart_labels_fit_a_phone(page: Page) -> None:
    """On a 390 px phone the earnings chart's labels are at least 12 px high, inside the chart,
    and clear of one another."""
    page.set_viewport_size(PHONE)
    try:
        chart, labels = page.evaluate(
            """() => {
                const svg = document.querySelector('.chart svg').getBoundingClientRect();
                const shown = [...document.querySelectorAll('.chart text')]
                    .filter(t => getComputedStyle(t).display !== 'none')
                    .map(t => t.getBoundingClientRect())
                    .map(r => ({left: r.left, right: r.right, height: r.height}));
                return [{left: svg.left, right: svg.right}, shown];
            }"""
        )
        assert len(labels) >= 3, labels
        for label in labels:
            assert label["height"] >= 12, labels
            assert chart["left"] <= label["left"] and label["right"] <= chart["right"], labels
        for before, after in zip(labels, labels[1:], strict=False):
            assert before["right"] < after["left"], labels
    finally:
        page.set_viewport_size(DESKTOP)
