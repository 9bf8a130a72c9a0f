"""An admin's journey in a real browser: filter transactions, open one, refund half, export CSV,
reprocess a failed event, reconcile with Stripe and see it clean."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal

from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    Booking,
    EventStatus,
    PaymentStatus,
    Role,
    StripeEvent,
    Transaction,
    TransactionStatus,
)
from tests.browser.helpers import (
    book_and_pay,
    bookable_coach,
    ledger_is_clean,
    sign_in,
    table_fits_a_phone,
)
from tests.builders import make_user
from tests.conftest import PASSWORD
from tests.live import LivePortal, LiveSandbox


def _a_failed_delivery_of(sandbox: LiveSandbox, checkout_session_id: str) -> StripeEvent:
    """Stripe sent `checkout.session.completed`, and the portal failed to apply it (a database
    restart in the middle, say): the event log holds it as failed with its error."""
    events = sandbox.client().v1.events.list(params={"type": "checkout.session.completed"})
    (event,) = [e for e in events.data if e.data.object.id == checkout_session_id]
    payload = event.to_dict(recursive=True)
    row = StripeEvent(
        stripe_event_id=payload["id"],
        type=payload["type"],
        payload=payload,
        status=EventStatus.FAILED,
        error="OperationalError: the database server was restarted",
        attempts=1,
        **StripeEvent.related_ids(payload),
    )
    db.session.add(row)
    db.session.commit()
    return row


def test_admin_filters_refunds_half_exports_reprocesses_and_reconciles(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal, page: Page, audit, shoot
) -> None:
    coach = bookable_coach(live_sandbox, slots=2)
    slots = sorted(coach_slot.id for coach_slot in _slots_of(coach))
    mentee = make_user(Role.MENTEE, "mia@example.com", password=PASSWORD, name="Mia Mentee")
    admin = make_user(Role.ADMIN, "boss@example.com", password=PASSWORD, name="Boss Admin")

    book_and_pay(live_portal, mentee, coach, slots[0])
    live_sandbox.flush()

    sign_in(page, live_portal, admin, audit=audit)
    page.get_by_role("link", name="Transactions").first.click()
    page.wait_for_load_state("load")  # htmx is ready to filter in place
    page.get_by_label("Status").select_option("completed")
    expect(page).to_have_url(re.compile(r"status=completed"))  # the filter is in the URL
    expect(page.get_by_role("heading", name="1 transaction match")).to_be_visible()
    audit(page)
    table_fits_a_phone(page, "#transactions", "Amount", audit)
    table_fits_a_phone(page, "#totals", "Volume")
    shoot(page, "admin-transactions")

    page.locator("#transactions tbody tr").first.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Money")).to_be_visible()
    audit(page)
    page.get_by_role("link", name="Refund…").click()
    page.get_by_label("Amount", exact=False).fill("50.00")
    page.get_by_label("Reason", exact=False).fill("Half the session was lost to a bad line")
    page.get_by_role("button", name="Review refund").click()
    audit(page)
    page.get_by_role("button", name="Refund now").click()
    expect(page.locator(".flash-success")).to_be_visible()  # back on the transaction's page
    live_sandbox.flush()
    page.reload()
    expect(page.locator("#refunds-heading ~ *").get_by_text("$50.00").first).to_be_visible()
    audit(page)
    table_fits_a_phone(page, "#refunds", "Amount", audit)
    table_fits_a_phone(page, "#events", "Event")

    first = db.session.scalar(select(Transaction))
    assert first.status is TransactionStatus.PARTIALLY_REFUNDED
    (refund,) = first.refunds
    assert (refund.amount, refund.platform_fee_refunded, refund.coach_share_reversed) == (
        Decimal("50.00"),
        Decimal("10.00"),
        Decimal("40.00"),
    )

    page.get_by_role("link", name="Transactions").first.click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export these as CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert [(r["status"], r["amount"]) for r in rows] == [("partially_refunded", "100.00")]

    # The second payment's webhook reached the portal but failed to apply.
    live_sandbox.control("webhooks/pause")
    second = book_and_pay(live_portal, mentee, coach, slots[1])
    failed = _a_failed_delivery_of(live_sandbox, second)
    page.get_by_role("link", name="Events").first.click()
    page.wait_for_load_state("load")
    page.get_by_label("Status").select_option("failed")
    # Measured only once the filtered list has replaced the whole one: a cell of the list being
    # swapped out has no style left to read.
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page.locator("#event-log tbody tr")).to_have_count(1)
    table_fits_a_phone(page, "#event-log", "Event", audit)
    page.get_by_role("link", name=failed.stripe_event_id).click()
    expect(page.get_by_text("the database server was restarted")).to_be_visible()
    audit(page)
    page.get_by_role("button", name="Reprocess").click()
    expect(page.get_by_role("heading", name="checkout.session.completed processed")).to_be_visible()
    booking = db.session.scalar(select(Booking).where(Booking.stripe_checkout_session_id == second))
    assert booking.payment_status is PaymentStatus.PAID

    live_sandbox.control("webhooks/resume")
    live_sandbox.flush()  # the late deliveries find everything applied already
    today = datetime.now(UTC).date().isoformat()
    page.goto(f"{live_portal.url}/admin/reconciliation")
    page.get_by_label("From").fill(today)
    page.get_by_label("To").fill(today)
    page.get_by_role("button", name="Start a reconciliation").click()
    expect(page.get_by_text("The portal and Stripe agree")).to_be_visible()
    expect(page.locator("#ledger-result")).to_contain_text("balances equal their ledger entries")
    audit(page)
    table_fits_a_phone(page, "#balance-movements", "Net", audit)
    shoot(page, "admin-reconciliation")
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Reconciliation").click()
    table_fits_a_phone(page, "#reconciliation-runs", "Findings", audit)
    for link, table, label in (
        ("Users", "#users", "Email"),
        ("Jobs", "#jobs", "Next run"),
        ("Audit log", "#audit", "Action"),
    ):
        page.get_by_role("navigation", name="Admin").get_by_role("link", name=link).click()
        # Measured only once the next page is there: the old one may still be unloading.
        expect(page.locator(table)).to_be_visible()
        table_fits_a_phone(page, table, label, audit)
    assert db.session.query(Transaction).count() == 2
    ledger_is_clean(app)


def _slots_of(coach):  # type: ignore[no-untyped-def]
    from portal.models import AvailabilitySlot

    return db.session.scalars(select(AvailabilitySlot).where(AvailabilitySlot.coach_id == coach.id))
