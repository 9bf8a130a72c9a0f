"""The transaction list: filters and totals to the cent, search by every id kind and email,
keyset paging at its edges, the query count, and the streamed CSV export."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_login import login_user

from portal.admin import transactions as txns
from portal.extensions import db
from portal.models import (
    Booking,
    EventStatus,
    Payout,
    PayoutStatus,
    Refund,
    RefundStatus,
    Role,
    SessionStatus,
    StripeEvent,
    Transaction,
    TransactionStatus,
    TransactionType,
    User,
)
from tests.admin.conftest import day, payment
from tests.builders import insert_payments, make_connected_account, make_user
from tests.conftest import statements_run


def _ids(page_text: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="txn-(\d+)"', page_text)]


def _totals(page_text: str) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for currency, cells in re.findall(
        r'<tr data-currency="(\w+)">(.*?)</tr>', page_text, flags=re.DOTALL
    ):
        found[currency] = dict(re.findall(r'data-total="(\w+)">([^<]+)<', cells))
    return found


def _link(page_text: str, rel: str) -> str | None:
    match = re.search(rf'rel="{rel}" href="([^"]+)"', page_text)
    return html.unescape(match.group(1)) if match else None


@pytest.fixture
def people(app: Flask) -> dict[str, User]:
    return {
        "a": make_user(Role.COACH, "coach.a@example.com"),
        "b": make_user(Role.COACH, "coach.b@example.com"),
        "m1": make_user(Role.MENTEE, "mentee.one@example.com"),
        "m2": make_user(Role.MENTEE, "mentee.two@example.com"),
    }


@pytest.fixture
def ledger_rows(people: dict[str, User]) -> dict[str, Transaction]:
    """Five payments whose totals are worked out by hand in the tests below."""
    p = people
    rows = {
        "t1": payment(
            p["m1"], p["a"], "100.00", at=day(1), intent="pi_one", stripe_transfer_id="tr_one"
        ),
        "t2": payment(
            p["m2"],
            p["a"],
            "50.00",
            at=day(2),
            intent="pi_two",
            status=TransactionStatus.PARTIALLY_REFUNDED,
        ),
        "t3": payment(p["m1"], p["b"], "3000", at=day(3), currency="JPY", intent="pi_three"),
        "t4": payment(
            p["m2"], p["b"], "75.50", at=day(4), intent="pi_four", status=TransactionStatus.FAILED
        ),
        "t5": payment(
            p["m1"],
            None,
            "19.99",
            at=day(5),
            fee="100",
            intent="pi_five",
            type_=TransactionType.SUBSCRIPTION_PAYMENT,
        ),
    }
    db.session.add(
        Refund(
            transaction_id=rows["t2"].id,
            stripe_refund_id="re_two",
            status=RefundStatus.SUCCEEDED,
            amount=Decimal("10.00"),
            currency="USD",
            platform_fee_refunded=Decimal("2.00"),
            coach_share_reversed=Decimal("8.00"),
        )
    )
    # a failed refund is not money back: it must not count in the totals
    db.session.add(
        Refund(
            transaction_id=rows["t1"].id,
            status=RefundStatus.FAILED,
            amount=Decimal("5.00"),
            currency="USD",
            platform_fee_refunded=Decimal("1.00"),
            coach_share_reversed=Decimal("4.00"),
        )
    )
    db.session.commit()
    return rows


def test_totals_of_everything_match_the_hand_computed_sums(
    admin_client: FlaskClient, ledger_rows: dict[str, Transaction]
) -> None:
    page = admin_client.get("/admin/transactions")
    assert page.status_code == 200
    assert _ids(page.text) == [ledger_rows[k].id for k in ("t5", "t4", "t3", "t2", "t1")]
    assert _totals(page.text) == {
        "JPY": {
            "count": "1",
            "volume": "3000.00",
            "platform_fees": "600.00",
            "coach_shares": "2400.00",
            "refunds": "0.00",
            "refunded_fees": "0.00",
        },
        "USD": {
            "count": "4",
            "volume": "245.49",  # 100 + 50 + 75.50 + 19.99
            "platform_fees": "65.09",  # 20 + 10 + 15.10 + 19.99
            "coach_shares": "180.40",  # 80 + 40 + 60.40 + 0
            "refunds": "10.00",
            "refunded_fees": "2.00",
        },
    }


@pytest.mark.parametrize(
    ("query", "expected", "usd_volume"),
    [
        ({"status": "completed"}, ["t5", "t3", "t1"], "119.99"),
        ({"type": "subscription_payment"}, ["t5"], "19.99"),
        ({"coach": "coach.a@example.com"}, ["t2", "t1"], "150.00"),
        ({"currency": "jpy"}, ["t3"], None),
        ({"date_from": "2026-03-02", "date_to": "2026-03-04"}, ["t4", "t3", "t2"], "125.50"),
        ({"amount_min": "50", "amount_max": "100"}, ["t4", "t2", "t1"], "225.50"),
        ({"status": "completed", "currency": "USD", "amount_max": "99.99"}, ["t5"], "19.99"),
    ],
    ids=["status", "type", "coach-email", "currency", "dates", "amounts", "combined"],
)
def test_each_filter_narrows_the_rows_and_the_totals(
    admin_client: FlaskClient,
    ledger_rows: dict[str, Transaction],
    query: dict[str, str],
    expected: list[str],
    usd_volume: str | None,
) -> None:
    page = admin_client.get("/admin/transactions", query_string=query)
    assert page.status_code == 200
    assert _ids(page.text) == [ledger_rows[k].id for k in expected]
    totals = _totals(page.text)
    assert (totals["USD"]["volume"] if "USD" in totals else None) == usd_volume


def test_mentee_filter_by_id(
    admin_client: FlaskClient, people: dict[str, User], ledger_rows: dict[str, Transaction]
) -> None:
    page = admin_client.get("/admin/transactions", query_string={"mentee": people["m1"].id})
    assert _ids(page.text) == [ledger_rows[k].id for k in ("t5", "t3", "t1")]


def test_each_row_shows_the_payment_its_parties_and_its_state(
    admin: User,
    admin_client: FlaskClient,
    people: dict[str, User],
    ledger_rows: dict[str, Transaction],
) -> None:
    admin.time_zone = "Asia/Tokyo"
    ledger_rows["t2"].meta = {"dispute": {"id": "dp_two", "status": "needs_response"}}
    db.session.commit()
    page = admin_client.get("/admin/transactions").text

    def row(key: str) -> str:
        found = re.search(rf'<tr id="txn-{ledger_rows[key].id}">(.*?)</tr>', page, re.DOTALL)
        assert found is not None
        return " ".join(found.group(1).split())

    t2 = ledger_rows["t2"].id
    assert f'<a href="/admin/transactions/{t2}">{t2}</a>' in row("t2")
    assert ">2026-03-02 21:00:00 JST<" in row("t2")  # noon UTC on the admin's clock
    assert (
        '<td data-label="Status"><span class="badge badge-warn">partially refunded</span>'
        ' <span class="badge badge-bad">disputed</span></td>'
    ) in row("t2")
    m2 = people["m2"]
    assert f'<td data-label="Mentee">{m2.name} <span class="hint">{m2.email}</span></td>' in row(
        "t2"
    )
    assert '<td data-label="Amount" class="num">$50.00</td>' in row("t2")
    assert '<td data-label="Fee" class="num">$10.00</td>' in row("t2")
    assert '<span class="badge badge-ok">completed</span></td>' in row("t3")
    assert '<td data-label="Amount" class="num">¥3,000</td>' in row("t3")
    assert '<td data-label="Type">subscription payment</td>' in row("t5")
    assert '<td data-label="Coach"><span class="muted">none</span></td>' in row("t5")
    assert '<span class="badge badge-bad">failed</span></td>' in row("t4")
    assert "disputed" not in row("t4")


def test_what_people_typed_is_shown_as_text_in_the_list(
    admin_client: FlaskClient, people: dict[str, User]
) -> None:
    hostile = make_user(Role.MENTEE, name='<img src=x onerror="alert(1)"> & Sons')
    payment(hostile, people["a"], "25.00", at=day(6), intent="pi_hostile")
    page = admin_client.get("/admin/transactions").text
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; Sons" in page


def test_each_rows_link_names_the_path_the_portal_is_mounted_under_as_text(
    admin_client: FlaskClient, ledger_rows: dict[str, Transaction]
) -> None:
    page = admin_client.get("/admin/transactions", base_url='http://localhost/a"b&c').text
    t2 = ledger_rows["t2"].id
    assert f'<a href="/a&#34;b&amp;c/admin/transactions/{t2}">{t2}</a>' in page
    assert 'href="/a"b' not in page


def test_a_row_shown_before_shows_what_changed_since(
    admin: User,
    admin_client: FlaskClient,
    people: dict[str, User],
    ledger_rows: dict[str, Transaction],
) -> None:
    def row() -> str:
        page = admin_client.get("/admin/transactions").text
        found = re.search(rf'<tr id="txn-{ledger_rows["t1"].id}">(.*?)</tr>', page, re.DOTALL)
        assert found is not None
        return found.group(1)

    before = row()
    assert "completed" in before and "disputed" not in before and "UTC" in before
    assert row() == before  # the same row, asked again
    ledger_rows["t1"].status = TransactionStatus.REFUNDED
    ledger_rows["t1"].meta = {"dispute": {"id": "dp_one", "status": "lost"}}
    people["m1"].name = "Mentee Renamed"
    db.session.commit()
    after = row()
    assert '<span class="badge badge-warn">refunded</span>' in after
    assert '<span class="badge badge-bad">disputed</span>' in after
    assert "Mentee Renamed" in after
    admin.time_zone = "Asia/Tokyo"
    db.session.commit()
    assert ">2026-03-01 21:00:00 JST<" in row()  # noon UTC on the admin's new clock


@pytest.mark.parametrize("status", list(TransactionStatus))
def test_each_status_has_the_badge_the_transaction_page_shows(
    admin_client: FlaskClient, people: dict[str, User], status: TransactionStatus
) -> None:
    txn = payment(people["m1"], people["a"], "30.00", status=status, intent="pi_badge")
    listed = admin_client.get("/admin/transactions").text
    shown = admin_client.get(f"/admin/transactions/{txn.id}").text
    badge = re.search(r'<h1>Transaction \d+ (<span class="badge[^"]*">[^<]+</span>)', shown)
    assert badge is not None
    assert f'<td data-label="Status">{badge.group(1)}</td>' in listed


def test_the_filter_form_shows_what_each_query_asked_for_however_often_asked(
    admin_client: FlaskClient, ledger_rows: dict[str, Transaction]
) -> None:
    for _ in range(2):  # the second time round, each query's form has been seen before
        bad = admin_client.get("/admin/transactions", query_string={"currency": "dollars"})
        assert bad.status_code == 400 and 'value="dollars"' in bad.text
        assert bad.text.count("Enter a three-letter currency code") == 2  # field and summary
        good = admin_client.get("/admin/transactions", query_string={"currency": "JPY"})
        assert good.status_code == 200 and 'value="JPY"' in good.text
        assert "three-letter currency code" not in good.text
        assert _ids(good.text) == [ledger_rows["t3"].id]
        totals = admin_client.get("/admin/transactions/totals", query_string={"currency": "no"})
        assert totals.status_code == 400 and "Currency: Enter a three-letter" in totals.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"currency": "dollars"}, "three-letter currency"),
        ({"amount_min": "abc"}, "plain digits"),
        ({"amount_min": "sNaN"}, "plain digits"),
        ({"amount_max": "1e999999"}, "plain digits"),
        ({"amount_min": "1" * 25}, "below 100,000,000"),
        ({"q": "\u00b2"}, "plain digits"),
        ({"q": "1" * 25}, "from 0 to 2,147,483,647"),
        ({"coach": "\u00b2"}, "plain digits"),
        ({"mentee": "12345678901234567890"}, "from 0 to 2,147,483,647"),
        ({"amount_min": "10", "amount_max": "5"}, "upper amount is below"),
        ({"date_from": "2026-03-05", "date_to": "2026-03-01"}, "end date is before"),
        ({"date_from": "yesterday"}, "Not a valid date"),
    ],
)
def test_a_bad_filter_gets_a_message_and_no_rows(
    admin_client: FlaskClient, ledger_rows: dict[str, Transaction], query: dict, message: str
) -> None:
    page = admin_client.get("/admin/transactions", query_string=query)
    assert page.status_code == 400
    assert message in page.text
    assert _ids(page.text) == []
    htmx = admin_client.get(
        "/admin/transactions", query_string=query, headers={"HX-Request": "true"}
    )
    assert htmx.status_code == 200 and message in htmx.text  # htmx swaps only 2xx answers


def test_htmx_filtering_gets_the_results_fragment_and_the_form_pushes_its_url(
    admin_client: FlaskClient, ledger_rows: dict[str, Transaction]
) -> None:
    full = admin_client.get("/admin/transactions")
    assert 'hx-get="/admin/transactions"' in full.text and 'hx-push-url="true"' in full.text
    fragment = admin_client.get(
        "/admin/transactions", query_string={"currency": "JPY"}, headers={"HX-Request": "true"}
    )
    assert "<html" not in fragment.text and 'id="transactions"' in fragment.text
    assert _ids(fragment.text) == [ledger_rows["t3"].id]
    assert "HX-Request" in fragment.headers["Vary"]


# --- search -------------------------------------------------------------------------------------


@pytest.fixture
def searchable(
    app: Flask, people: dict[str, User], ledger_rows: dict[str, Transaction]
) -> dict[str, Transaction]:
    booking = Booking(
        coach_id=people["a"].id,
        mentee_id=people["m2"].id,
        starts_at=day(20),
        status=SessionStatus.CONFIRMED,
        stripe_checkout_session_id="cs_two",
        price_amount=Decimal("50.00"),
        platform_fee_amount=Decimal("10.00"),
        coach_share=Decimal("40.00"),
    )
    db.session.add(booking)
    db.session.flush()
    ledger_rows["t2"].session_id = booking.id
    account = make_connected_account(people["b"])
    db.session.add(
        Payout(
            stripe_payout_id="po_b",
            amount=Decimal("10.00"),
            currency="USD",
            status=PayoutStatus.PAID,
            user_id=people["b"].id,
            connected_account_id=account.id,
        )
    )
    for event_id, payload in (
        ("evt_three", {"type": "payment_intent.succeeded", "data": {"object": {"id": "pi_three"}}}),
        (
            "evt_charge",
            {
                "type": "charge.succeeded",
                "data": {"object": {"id": "ch_four", "payment_intent": "pi_four"}},
            },
        ),
    ):
        db.session.add(
            StripeEvent(
                stripe_event_id=event_id,
                type=payload["type"],
                payload={"id": event_id, **payload},
                status=EventStatus.PROCESSED,
                **StripeEvent.related_ids(payload),
            )
        )
    db.session.commit()
    return ledger_rows


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("pi_one", ["t1"]),
        ("tr_one", ["t1"]),
        ("cs_two", ["t2"]),
        ("re_two", ["t2"]),
        ("po_b", ["t4", "t3"]),
        ("evt_three", ["t3"]),
        ("ch_four", ["t4"]),
        ("mentee.two", ["t4", "t2"]),
        ("COACH.B@example.com", ["t4", "t3"]),
        ("pi_nobody", []),
        ("100%_", []),
    ],
)
def test_search_finds_the_transaction_behind_any_stripe_id_or_email(
    admin_client: FlaskClient, searchable: dict[str, Transaction], q: str, expected: list[str]
) -> None:
    page = admin_client.get("/admin/transactions", query_string={"q": q})
    assert page.status_code == 200
    assert _ids(page.text) == [searchable[k].id for k in expected]
    if not expected:
        assert "No transactions match" in page.text


# --- keyset paging ------------------------------------------------------------------------------


def _walk(client: FlaskClient, url: str) -> tuple[list[list[int]], str]:
    pages: list[list[int]] = []
    page = client.get(url)
    while True:
        assert page.status_code == 200
        pages.append(_ids(page.text))
        following = _link(page.text, "next")
        if following is None:
            return pages, page.text
        page = client.get(following)


def test_paging_an_empty_list_shows_no_pager(admin_client: FlaskClient) -> None:
    page = admin_client.get("/admin/transactions")
    assert "No transactions match" in page.text
    assert _link(page.text, "next") is None and _link(page.text, "prev") is None


def test_exactly_one_page_has_no_next_link(
    admin_client: FlaskClient, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(txns, "PAGE_SIZE", 3)
    for n in range(3):
        payment(people["m1"], people["a"], "10.00", at=day(1, second=n))
    pages, _ = _walk(admin_client, "/admin/transactions")
    assert [len(p) for p in pages] == [3]


def test_pages_forward_to_the_last_and_back_to_the_first(
    admin_client: FlaskClient, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(txns, "PAGE_SIZE", 3)
    made = [payment(people["m1"], people["a"], "10.00", at=day(1, second=n)).id for n in range(7)]
    pages, last = _walk(admin_client, "/admin/transactions")
    assert pages == [made[6:3:-1], made[3:0:-1], made[0:1]]
    back = admin_client.get(_link(last, "prev"))
    assert _ids(back.text) == made[3:0:-1]
    first = admin_client.get(_link(back.text, "prev"))
    assert _ids(first.text) == made[6:3:-1]
    assert _link(first.text, "prev") is None


def test_equal_timestamps_page_by_id_without_skipping_or_repeating(
    admin_client: FlaskClient, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(txns, "PAGE_SIZE", 2)
    same = day(9)
    made = [payment(people["m1"], people["a"], "10.00", at=same).id for _ in range(5)]
    pages, _ = _walk(admin_client, "/admin/transactions")
    assert [i for p in pages for i in p] == sorted(made, reverse=True)
    assert [len(p) for p in pages] == [2, 2, 1]


def test_sort_by_amount_with_ties_pages_by_amount_then_id(
    admin_client: FlaskClient, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(txns, "PAGE_SIZE", 2)
    amounts = ["20.00", "10.00", "20.00", "30.00", "20.00", "10.00"]
    made = [
        payment(people["m1"], people["a"], a, at=day(1, second=n)) for n, a in enumerate(amounts)
    ]
    expected = [t.id for t in sorted(made, key=lambda t: (t.amount, t.id), reverse=True)]
    pages, _ = _walk(admin_client, "/admin/transactions?sort=amount")
    assert [i for p in pages for i in p] == expected
    ascending, _ = _walk(admin_client, "/admin/transactions?sort=amount_asc")
    assert [i for p in ascending for i in p] == expected[::-1]


def test_a_cursor_in_the_url_jumps_straight_to_its_page(
    admin_client: FlaskClient, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(txns, "PAGE_SIZE", 2)
    made = [payment(people["m1"], people["a"], "10.00", at=day(1, second=n)) for n in range(6)]
    cursor = txns.keyset.encode(made[4].created_at, made[4].id)
    page = admin_client.get(f"/admin/transactions?after={cursor}")
    assert _ids(page.text) == [made[3].id, made[2].id]
    for listing in ("transactions", "events", "users", "audit"):
        broken = admin_client.get(f"/admin/{listing}?after=not-a-cursor")
        assert broken.status_code == 400, listing
        assert "That page link is not valid" in broken.text and not _ids(broken.text)


def _bulk(people: dict[str, User], n: int) -> None:
    pairs = [
        (people["m1"] if i % 2 else people["m2"], people["a"] if i % 3 else people["b"])
        for i in range(n)
    ]
    insert_payments(pairs, start=day(1))


def test_the_page_costs_the_same_few_queries_with_10_or_1000_rows(
    app: Flask, admin_client: FlaskClient, people: dict[str, User]
) -> None:
    counts = []
    for n in (10, 990):  # 10, then 1,000 in all
        _bulk(people, n)
        admin_client.get("/admin/transactions")  # warm the app's caches
        with statements_run() as run:
            page = admin_client.get("/admin/transactions")
        assert page.status_code == 200 and len(_ids(page.text)) == min(10 if n == 10 else 50, 50)
        counts.append(len(run))
    # the page whose set runs on reads no refunds: its totals load in their own request
    assert counts[1] == counts[0] - 1, counts
    assert counts[0] <= 6, counts


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_holds_the_filtered_set_with_exact_amounts_and_inert_formulas(
    admin_client: FlaskClient, people: dict[str, User], ledger_rows: dict[str, Transaction]
) -> None:
    people["m1"].name = '=HYPERLINK("http://evil.example")'
    people["m2"].name = "+SUM(A1)"
    db.session.commit()
    response = admin_client.get(
        "/admin/transactions/export.csv?currency=USD&sort=amount", buffered=True
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [int(r["id"]) for r in rows] == [ledger_rows[k].id for k in ("t1", "t4", "t2", "t5")]
    by_id = {int(r["id"]): r for r in rows}
    t2 = by_id[ledger_rows["t2"].id]
    assert (t2["amount"], t2["platform_fee"], t2["coach_share"], t2["refunded"]) == (
        "50.00",
        "10.00",
        "40.00",
        "10.00",
    )
    assert t2["payer_email"] == "mentee.two@example.com" and t2["payer_name"] == "'+SUM(A1)"
    t1 = by_id[ledger_rows["t1"].id]
    assert t1["payer_name"] == '\'=HYPERLINK("http://evil.example")'
    assert t1["refunded"] == "0.00"  # the failed refund is not money back
    assert by_id[ledger_rows["t5"].id]["coach_email"] == ""


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx"])
def test_csv_cells_that_could_be_formulas_are_quoted(cell: str) -> None:
    assert txns.safe_cell(cell) == "'" + cell
    assert txns.safe_cell("plain@example.com") == "plain@example.com"


def test_csv_is_streamed_in_keyset_batches(
    app: Flask, admin: User, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    _bulk(people, 35)
    monkeypatch.setattr(txns, "EXPORT_BATCH", 10)
    # Dispatched in this test's own request context, so the stream can be read chunk by chunk.
    with app.test_request_context("/admin/transactions/export.csv"), statements_run() as run:
        login_user(db.session.get(User, admin.id))
        response = app.full_dispatch_request()
        assert response.status_code == 200 and response.is_streamed
        assert run == [] or all("LIMIT" not in s for s in run)
        chunks = list(response.response)
    batches = [s for s in run if "FROM transactions" in s and "LIMIT" in s]
    assert len(batches) == 4  # 10 + 10 + 10 + 5 rows, each batch its own keyset query
    assert len(chunks) == 5  # the header, then one chunk per batch
    body = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
    ids = [int(r["id"]) for r in csv.DictReader(io.StringIO(body))]
    assert len(ids) == 35 and len(set(ids)) == 35 and ids == sorted(ids, reverse=True)


@pytest.mark.parametrize(
    "query",
    [
        {"amount_min": "sNaN"},
        {"q": "\u00b2"},
        {"coach": "\u00b2"},
        {"amount_max": "Infinity"},
        {"q": "x\x00"},
    ],
)
@pytest.mark.parametrize("path", ["/admin/transactions/export.csv", "/admin/transactions/totals"])
def test_a_bad_filter_on_the_export_or_totals_is_refused_before_the_first_byte(
    admin_client: FlaskClient, ledger_rows: dict[str, Transaction], path: str, query: dict
) -> None:
    response = admin_client.get(path, query_string=query)
    assert response.status_code == 400
    assert response.mimetype == "text/html" and "id," not in response.text
    assert any(word in response.text for word in ("plain digits", "control character"))


def test_an_export_that_fails_mid_stream_never_looks_complete(
    app: Flask, admin: User, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    _bulk(people, 25)
    monkeypatch.setattr(txns, "EXPORT_BATCH", 10)
    real_batch = txns._export_batch
    calls = []

    def database_gone_after_one_batch(*args: object) -> object:
        calls.append(args)
        if len(calls) > 1:
            raise sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection"))
        return real_batch(*args)

    monkeypatch.setattr(txns, "_export_batch", database_gone_after_one_batch)
    with app.test_request_context("/admin/transactions/export.csv"):
        login_user(db.session.get(User, admin.id))
        response = app.full_dispatch_request()
        assert response.status_code == 200 and response.is_streamed
        chunks: list[str] = []
        with pytest.raises(sa.exc.OperationalError):  # the server breaks the response off
            for chunk in response.response:
                chunks.append(chunk.decode() if isinstance(chunk, bytes) else chunk)
    lines = "".join(chunks).splitlines()
    assert len(lines) == 1 + 10 + 1  # the header, one batch, and the line that says it failed
    assert lines[-1] == txns.EXPORT_FAILED


# --- totals of a set longer than a page -----------------------------------------------------------


def test_a_set_longer_than_a_page_loads_its_totals_once_in_their_own_request(
    app: Flask,
    admin_client: FlaskClient,
    ledger_rows: dict[str, Transaction],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(txns, "PAGE_SIZE", 2)
    first = admin_client.get("/admin/transactions?currency=USD")
    assert _ids(first.text) == [ledger_rows[k].id for k in ("t5", "t4")]
    assert _totals(first.text) == {} and "transactions match" not in first.text
    totals_url = "/admin/transactions/totals?currency=USD"
    assert f'hx-get="{totals_url}" hx-trigger="load"' in first.text
    assert f'href="{totals_url}"' in first.text  # without JavaScript, a link shows them

    with statements_run() as run:
        second = admin_client.get(_link(first.text, "next"))
    assert _ids(second.text) == [ledger_rows[k].id for k in ("t2", "t1")]
    assert not any("sum(" in s.lower() for s in run)  # paging adds up nothing

    fragment = admin_client.get(totals_url, headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and "4 transactions match" in fragment.text
    assert _totals(fragment.text)["USD"] == {
        "count": "4",
        "volume": "245.49",
        "platform_fees": "65.09",
        "coach_shares": "180.40",
        "refunds": "10.00",
        "refunded_fees": "2.00",
    }
    page = admin_client.get(totals_url)
    assert "<html" in page.text and _totals(page.text) == _totals(fragment.text)
    assert 'href="/admin/transactions?currency=USD"' in page.text
    assert admin_client.get("/admin/transactions/totals?amount_min=abc").status_code == 400


def test_csv_keeps_utc_for_programs_and_adds_the_readers_own_clock(
    admin_client: FlaskClient, admin: User, ledger_rows: dict[str, Transaction]
) -> None:
    admin.time_zone = "Asia/Tokyo"
    db.session.commit()
    response = admin_client.get("/admin/transactions/export.csv", buffered=True)
    header, *_ = response.get_data(as_text=True).splitlines()
    assert header.split(",")[:2] == ["id", "created_at"]
    assert header.endswith(",created_at_local (Asia/Tokyo)")
    rows = {int(r["id"]): r for r in csv.DictReader(io.StringIO(response.get_data(as_text=True)))}
    t1 = ledger_rows["t1"]
    row = rows[t1.id]
    assert datetime.fromisoformat(row["created_at"]) == t1.created_at
    assert row["created_at"].endswith("+00:00")
    tokyo = t1.created_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert row["created_at_local (Asia/Tokyo)"] == f"{tokyo:%Y-%m-%d %H:%M:%S} JST"
