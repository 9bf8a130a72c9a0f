"""The earnings dashboard: the ledger's numbers to the cent, paged activity, a chart readable
without JavaScript, and nobody but the coach sees the coach's money; plus who may use each route.
(The admin's per-coach platform fee is tested in tests/admin/test_users.py.)"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

from portal import ledger
from portal.extensions import db
from portal.models import (
    LedgerEntry,
    LedgerEntryKind,
    Payout,
    PayoutStatus,
    Refund,
    RefundStatus,
    Role,
    Transaction,
    User,
)
from portal.payouts import services
from tests.builders import make_connected_account, make_user
from tests.conftest import statements_run
from tests.payouts.conftest import ATTEMPT, earn, post_form, profile_of, release, signed_in
from tests.stripe_fake import FakeStripe


def _refund(txn: Transaction, amount: str, fee: str) -> Refund:
    refund = Refund(
        transaction=txn,
        status=RefundStatus.SUCCEEDED,
        amount=Decimal(amount),
        currency=txn.currency,
        platform_fee_refunded=Decimal(fee),
        coach_share_reversed=Decimal(amount) - Decimal(fee),
        stripe_refund_id=f"re_test_{txn.id}",
    )
    db.session.add(refund)
    db.session.flush()
    ledger.record_refund(refund)
    db.session.commit()
    return refund


def _shown(page_text: str) -> dict[str, str]:
    return dict(re.findall(r'data-amount="(\w+)">([^<\s]+)', page_text))


def _sum(column: sa.ColumnElement, coach: User) -> Decimal:
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(column), 0)).where(LedgerEntry.coach_id == coach.id)
    )


def test_dashboard_shows_the_ledger_balances_to_the_cent(
    app: Flask, coach: User, stripe_fake: FakeStripe
) -> None:
    make_connected_account(coach)
    profile = profile_of(coach)
    profile.platform_fee_percentage = Decimal("17.50")
    db.session.commit()
    first = earn(coach, "99.99")  # fee 17.50 (17.49825 rounded half up), share 82.49
    earn(coach, "45.55")  # fee 7.97 (7.97125), share 37.58
    earn(coach, "0.50")  # fee 0.09 (0.0875), share 0.41
    _refund(first, "33.33", "5.83")  # 27.50 taken from available, as Stripe does: -27.50
    release(coach, first)  # available 82.49 - 27.50 = 54.99
    services.pay_out_now(coach.id, confirmed_amount=Decimal("54.99"), attempt=ATTEMPT)
    db.session.commit()

    expected_total = Decimal("82.49") + Decimal("37.58") + Decimal("0.41") - Decimal("27.50")
    shown = _shown(signed_in(app, coach).get("/coach/earnings").text)
    assert shown == {"total": "$92.98", "pending": "$37.99", "available": "$0.00"}
    assert expected_total == Decimal("92.98")
    # ... and those are exactly the sums of the coach's ledger entries.
    assert _sum(LedgerEntry.total_delta, coach) == Decimal("92.98")
    assert _sum(LedgerEntry.pending_delta, coach) == Decimal("37.99")
    assert _sum(LedgerEntry.available_delta, coach) == Decimal("0.00")
    assert ledger.verify() == []


def test_next_payout_estimate_follows_the_schedule_and_minimum(
    app: Flask, coach: User, stripe_fake: FakeStripe
) -> None:
    from portal.models import PayoutSchedule

    make_connected_account(coach)
    earn(coach, "100.00")
    release(coach)
    client = signed_in(app, coach)
    assert "Whenever you choose" in client.get("/coach/earnings").text

    post_form(client, "/coach/earnings/settings", payout_schedule="weekly", minimum_payout="50")
    page = client.get("/coach/earnings").text
    assert profile_of(coach).payout_schedule is PayoutSchedule.WEEKLY
    assert re.search(r"Mon \d\d \w{3} \d{4}: about \$80\.00", page)

    post_form(client, "/coach/earnings/settings", payout_schedule="weekly", minimum_payout="500")
    assert (
        "your available balance reaches your minimum payout" in client.get("/coach/earnings").text
    )


def test_activity_pages_by_keyset_with_htmx_and_without(app: Flask, coach: User) -> None:
    make_connected_account(coach)
    mentee = make_user(Role.MENTEE)
    for cents in range(23):
        earn(coach, f"{50 + cents}.00", mentee=mentee)
    client = signed_in(app, coach)
    page = client.get("/coach/earnings").text
    assert page.count('<tr id="entry-') == 10
    first_ids = db.session.scalars(
        sa.select(LedgerEntry.id)
        .where(LedgerEntry.coach_id == coach.id)
        .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
    ).all()
    link = re.search(r'hx-get="(/coach/earnings/activity\?after=(\d+))"', page)
    assert link and int(link.group(2)) == first_ids[9]

    second = client.get(link.group(1), headers={"HX-Request": "true"})
    assert second.status_code == 200 and "<html" not in second.text
    assert "HX-Request" in second.headers["Vary"]
    assert second.text.count('<tr id="entry-') == 10
    third_link = re.search(r'href="(/coach/earnings/activity\?after=(\d+))"', second.text)
    assert third_link and int(third_link.group(2)) == first_ids[19]

    third = client.get(third_link.group(1))  # no JavaScript: the same URL as a whole page
    assert "<html" in third.text and third.text.count('<tr id="entry-') == 3
    assert "Show older" not in third.text
    shown = [int(i) for i in re.findall(r'id="entry-(\d+)"', page + second.text + third.text)]
    assert shown == list(first_ids)  # every entry once, newest first


def test_payouts_page_by_keyset_with_htmx_and_without(
    app: Flask, coach: User, stripe_fake: FakeStripe
) -> None:
    make_connected_account(coach)
    for n in range(13):
        release(coach, earn(coach, f"{(10 + n) * Decimal('1.25')}"))  # share 10.00 + n
        services.pay_out_now(
            coach.id,
            confirmed_amount=Decimal(f"{10 + n}.00"),
            attempt=f"attempt-{n:02d}-of-thirteen",
        )
        db.session.commit()
    failed = db.session.scalar(sa.select(Payout).where(Payout.amount == Decimal("10.00")))
    failed.status = PayoutStatus.FAILED
    failed.meta = {"failure_message": "The bank account was closed."}
    db.session.commit()
    newest_first = db.session.scalars(
        sa.select(Payout.id)
        .where(Payout.user_id == coach.id)
        .order_by(Payout.created_at.desc(), Payout.id.desc())
    ).all()

    client = signed_in(app, coach)
    page = client.get("/coach/earnings").text
    assert page.count('<tr id="payout-') == 10 and "$22.00" in page and "$12.00" not in page
    link = re.search(r'hx-get="(/coach/earnings/payouts\?after=(\d+))"', page)
    assert link and int(link.group(2)) == newest_first[9]

    older = client.get(link.group(1), headers={"HX-Request": "true"})
    assert older.status_code == 200 and "<html" not in older.text
    assert older.text.count('<tr id="payout-') == 3 and "Show older" not in older.text
    assert "The bank account was closed." in older.text  # the oldest one failed
    whole = client.get(link.group(1))  # no JavaScript: the same URL as a whole page
    assert "<html" in whole.text and whole.text.count('<tr id="payout-') == 3
    shown = [int(i) for i in re.findall(r'id="payout-(\d+)"', page + older.text)]
    assert shown == list(newest_first)
    assert client.get("/coach/earnings/payouts?after=12abc").status_code == 400
    assert client.get("/coach/earnings/payouts?after=99999999").status_code == 404


def test_dashboard_shows_each_new_entry_at_once_and_rereads_nothing_until_then(
    app: Flask, coach: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from portal.payouts import views

    make_connected_account(coach)
    first = earn(coach, "100.00")  # share 80.00
    client = signed_in(app, coach)
    page = client.get("/coach/earnings").text
    assert page.count('<tr id="entry-') == 1 and "$80.00</td></tr>" in page

    with statements_run() as read:
        again = client.get("/coach/earnings").text
    assert again.count('<tr id="entry-') == 1
    assert not [s for s in read if "ledger_entries" in s], read  # nothing new: nothing re-read

    earn(coach, "50.00")  # share 40.00, recorded by the ledger as the payment webhook does
    page = client.get("/coach/earnings").text
    shown = re.findall(r'id="entry-(\d+)"', page)
    assert len(shown) == 2 and "$120.00</td></tr>" in page  # this week: 80 + 40
    assert page.index("$50.00") < page.index("$100.00")  # what each mentee paid, newest first

    _refund(first, "25.00", "5.00")  # takes back 20.00 of the share
    page = client.get("/coach/earnings").text
    assert page.count('<tr id="entry-') == 3 and "-$25.00" in page
    assert "$100.00</td></tr>" in page  # this week: 80 + 40 - 20
    assert "Net earnings by month" in client.get("/coach/earnings?by=month").text

    # A new day can start a new week: the chart is read again for it.
    later = views._today() + timedelta(days=7)
    monkeypatch.setattr(views, "_today", lambda: later)
    next_week = client.get("/coach/earnings").text
    assert re.search(r'<td class="num">\$0\.00</td></tr>\s*</tbody>', next_week)


def test_a_payout_moving_on_shows_at_once_on_a_dashboard_seen_before(
    app: Flask, coach: User, stripe_fake: FakeStripe
) -> None:
    account = make_connected_account(coach)
    earn(coach, "100.00")
    release(coach)
    payout = services.pay_out_now(coach.id, confirmed_amount=Decimal("80.00"), attempt=ATTEMPT)
    db.session.commit()
    client = signed_in(app, coach)
    row = re.compile(rf'<tr id="payout-{payout.id}">.*?</tr>', re.S)
    before = row.search(client.get("/coach/earnings").text)
    assert before and "Pending" in before.group(0) and "Paid" not in before.group(0)

    # payout.paid, as its webhook handler records it (under the account's lock)
    locked = services.connected_account_for(account.stripe_account_id, lock=True)
    services.record_stripe_payout(
        locked,
        {
            "id": payout.stripe_payout_id,
            "status": "paid",
            "amount": 8000,
            "currency": "usd",
            "arrival_date": 1_800_000_000,
        },
    )
    db.session.commit()
    after = row.search(client.get("/coach/earnings").text)
    assert after and "Paid" in after.group(0) and "Pending" not in after.group(0)
    assert "15 Jan 2027" in after.group(0)  # the arrival date Stripe gave


def test_chart_is_an_svg_with_a_table_of_the_same_numbers(app: Flask, coach: User) -> None:
    make_connected_account(coach)
    earn(coach, "100.00")
    client = signed_in(app, coach)
    page = client.get("/coach/earnings").text
    assert '<svg role="img"' in page and '<title id="chart-title">Net earnings by week' in page
    assert page.count('<rect x="') == 12
    assert re.search(r'<td class="num">\$80\.00</td></tr>', page)
    assert "<script" not in page.split("<main")[1]
    by_month = client.get("/coach/earnings?by=month").text
    assert "Net earnings by month" in by_month and by_month.count('<rect x="') == 12


def test_a_coach_never_sees_another_coach_money(app: Flask, stripe_fake: FakeStripe) -> None:
    carol = make_user(Role.COACH, "carol@example.com")
    dan = make_user(Role.COACH, "dan@example.com")
    for coach, price in ((carol, "123.45"), (dan, "67.89")):
        make_connected_account(coach)
        release(coach, earn(coach, price))
        share = ledger.balances_of(coach.id).available
        services.pay_out_now(coach.id, confirmed_amount=share, attempt=ATTEMPT)
        db.session.commit()
    carol_entry = db.session.scalar(
        sa.select(LedgerEntry.id).where(
            LedgerEntry.coach_id == carol.id, LedgerEntry.kind == LedgerEntryKind.PAYMENT
        )
    )
    as_dan = signed_in(app, dan)
    page = as_dan.get("/coach/earnings").text
    assert "$54.31" in page  # Dan's total: 67.89 less the 20% fee
    assert "$98.76" not in page and "$123.45" not in page  # Carol's share and price
    assert page.count('id="payout-') == 1
    assert as_dan.get(f"/coach/earnings/activity?after={carol_entry}").status_code == 404
    carol_payout = db.session.scalar(sa.select(Payout.id).where(Payout.user_id == carol.id))
    assert as_dan.get(f"/coach/earnings/payouts?after={carol_payout}").status_code == 404
    assert as_dan.get(f"/admin/coaches/{carol.id}/fee").status_code == 403


COACH_ROUTES = [
    ("GET", "/coach/earnings"),
    ("GET", "/coach/earnings/activity"),
    ("GET", "/coach/earnings/payouts"),
    ("GET", "/coach/earnings/get-paid"),
    ("POST", "/coach/earnings/get-paid"),
    ("GET", "/coach/earnings/get-paid/refresh"),
    ("GET", "/coach/earnings/get-paid/return"),
    ("POST", "/coach/earnings/stripe-dashboard"),
    ("GET", "/coach/earnings/settings"),
    ("POST", "/coach/earnings/settings"),
    ("GET", "/coach/earnings/pay-out"),
    ("POST", "/coach/earnings/pay-out"),
]
ADMIN_ROUTES = [("GET", "/admin/coaches/{coach}/fee"), ("POST", "/admin/coaches/{coach}/fee")]


@pytest.mark.parametrize("visitor", ["anonymous", Role.MENTEE, Role.COACH, Role.ADMIN], ids=str)
def test_every_payout_route_lets_in_only_its_audience(
    app: Flask, visitor: str | Role, stripe_fake: FakeStripe
) -> None:
    target = make_user(Role.COACH)
    client = app.test_client()
    if visitor != "anonymous":
        from tests.conftest import login

        login(client, make_user(visitor))
    token = {}
    if visitor != "anonymous":
        from tests.conftest import csrf_token

        token = {"X-CSRFToken": csrf_token(client)}
    for routes, audience in ((COACH_ROUTES, Role.COACH), (ADMIN_ROUTES, Role.ADMIN)):
        for method, url in routes:
            response = client.open(url.format(coach=target.id), method=method, headers=token)
            if visitor == "anonymous":
                assert response.status_code == 302, (method, url)
                assert response.headers["Location"].startswith("/account/login?next=")
            elif visitor == audience:
                location = response.headers.get("Location", "")
                assert response.status_code not in (401, 403), (method, url)
                assert not location.startswith("/account/login"), (method, url)
            else:
                assert response.status_code == 403, (method, url, visitor)
    assert stripe_fake.count("accounts.create") == 0


def test_earnings_by_week_and_month_sum_each_period_net_of_refunds(app: Flask, coach: User) -> None:
    from datetime import UTC, date, datetime

    from portal.payouts import earnings

    make_connected_account(coach)
    today = date(2026, 11, 25)  # a Wednesday
    placed = [
        (earn(coach, "100.00"), datetime(2026, 11, 23, 0, 0, tzinfo=UTC)),  # Monday, this week
        (earn(coach, "50.00"), datetime(2026, 11, 22, 23, 59, tzinfo=UTC)),  # Sunday, last week
        (earn(coach, "10.00"), datetime(2026, 10, 31, 12, 0, tzinfo=UTC)),  # October
    ]
    refund = _refund(placed[0][0], "25.00", "5.00")
    for txn, when in placed:
        db.session.execute(
            sa.update(LedgerEntry)
            .where(LedgerEntry.transaction_id == txn.id)
            .values(created_at=when)
        )
    db.session.execute(
        sa.update(LedgerEntry)
        .where(LedgerEntry.refund_id == refund.id)
        .values(created_at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    )
    db.session.commit()

    weeks = earnings.earnings_by_period(coach.id, "week", today, count=5)
    assert [(b.start.isoformat(), str(b.amount)) for b in weeks] == [
        ("2026-10-26", "8.00"),
        ("2026-11-02", "0.00"),
        ("2026-11-09", "0.00"),
        ("2026-11-16", "40.00"),
        ("2026-11-23", "60.00"),  # 80.00 paid, 20.00 refunded
    ]
    months = earnings.earnings_by_period(coach.id, "month", today, count=2)
    assert [(b.label, str(b.amount)) for b in months] == [
        ("Oct 2026", "8.00"),
        ("Nov 2026", "100.00"),
    ]


def test_a_coach_far_from_utc_sees_weeks_from_their_own_midnight(app: Flask, coach: User) -> None:
    from datetime import UTC, date, datetime

    from portal.payouts import earnings

    make_connected_account(coach)
    today = date(2026, 11, 25)  # a Wednesday in Tokyo
    placed = [
        (earn(coach, "100.00"), datetime(2026, 11, 22, 15, 30, tzinfo=UTC)),  # Mon 00:30 Tokyo
        (earn(coach, "50.00"), datetime(2026, 11, 22, 14, 30, tzinfo=UTC)),  # Sun 23:30 Tokyo
    ]
    for txn, when in placed:
        db.session.execute(
            sa.update(LedgerEntry)
            .where(LedgerEntry.transaction_id == txn.id)
            .values(created_at=when)
        )
    db.session.commit()

    weeks = earnings.earnings_by_period(coach.id, "week", today, count=2, zone="Asia/Tokyo")
    assert [(b.start.isoformat(), str(b.amount)) for b in weeks] == [
        ("2026-11-16", "40.00"),
        ("2026-11-23", "80.00"),
    ]
    # On UTC's clocks both were paid on Sunday, the week before.
    weeks = earnings.earnings_by_period(coach.id, "week", today, count=2, zone="UTC")
    assert [str(b.amount) for b in weeks] == ["120.00", "0.00"]


def test_the_dashboard_shows_the_month_the_coach_is_in(
    app: Flask, coach: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from portal.payouts import views

    make_connected_account(coach)
    # 20:00 on 30 November in UTC is 05:00 on 1 December in Tokyo.
    monkeypatch.setattr(views, "_today", lambda: datetime(2026, 11, 30, 20, 0, tzinfo=UTC))
    coach.time_zone = "Asia/Tokyo"
    db.session.commit()
    page = signed_in(app, coach).get("/coach/earnings?by=month").text
    assert "Dec 2026" in page
    coach = db.session.get(User, coach.id)
    coach.time_zone = "UTC"
    db.session.commit()
    page = signed_in(app, coach).get("/coach/earnings?by=month").text
    assert "Nov 2026" in page and "Dec 2026" not in page


def test_the_next_payout_is_the_platform_s_day_whatever_the_coach_s_clock(
    app: Flask, coach: User, stripe_fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from portal.payouts import views

    make_connected_account(coach)
    earn(coach, "100.00")
    release(coach)
    client = signed_in(app, coach)
    post_form(client, "/coach/earnings/settings", payout_schedule="weekly", minimum_payout="50")
    # 01:00 on Tuesday 1 December in UTC, where weekly payouts run on Mondays, is still
    # Monday evening in Los Angeles: Monday's run is over, the next is the 7th.
    monkeypatch.setattr(views, "_today", lambda: datetime(2026, 12, 1, 1, 0, tzinfo=UTC))
    coach = db.session.get(User, coach.id)
    coach.time_zone = "America/Los_Angeles"
    db.session.commit()
    page = client.get("/coach/earnings").text
    assert "Mon 07 Dec 2026: about $80.00" in page
    assert "30 Nov 2026: about" not in page
