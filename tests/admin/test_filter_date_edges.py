"""The transaction filters at the calendar's edges: the last day a date field accepts
(9999-12-31) and the first (0001-01-01) are days like any other. An admin who types an end date
far ahead, to mean "everything from a day on", gets the list, its totals and its export, never
an error page."""

from __future__ import annotations

import csv
import io
import re

import pytest
from flask import Flask

from portal.models import Role, User
from tests.admin.conftest import day, payment, signed_in
from tests.builders import make_user

EDGES = [
    ("0001-01-01", "9999-12-31"),
    ("", "9999-12-31"),
    ("9999-12-31", "9999-12-31"),
    ("0001-01-01", "0001-01-01"),
]


@pytest.mark.parametrize(("date_from", "date_to"), EDGES)
def test_the_first_and_last_days_of_the_calendar_filter_like_any_other(
    app: Flask, admin: User, date_from: str, date_to: str
) -> None:
    coach, mentee = make_user(Role.COACH), make_user(Role.MENTEE)
    row = payment(mentee, coach, "100.00", at=day(3))
    listed = date_from <= day(3).date().isoformat() <= date_to
    client = signed_in(app, admin)
    query = f"date_from={date_from}&date_to={date_to}"

    page = client.get(f"/admin/transactions?{query}")
    assert page.status_code == 200
    assert (f'id="txn-{row.id}"' in page.text) is listed

    totals = client.get(f"/admin/transactions/totals?{query}", headers={"HX-Request": "true"})
    assert totals.status_code == 200
    assert bool(re.search(r'data-total="count">\s*1\s*<', totals.text)) is listed

    export = client.get(f"/admin/transactions/export.csv?{query}")
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True))))
    assert [r[0] for r in rows[1:]] == ([str(row.id)] if listed else [])
