"""The dashboard's kept sections name the path the portal is mounted under for each request
(`SCRIPT_NAME`), as the page's frame does: a section kept from a request under one path never
sends the coach under another to the first."""

from __future__ import annotations

import re
from decimal import Decimal

from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import Payout, PayoutStatus, User
from tests.builders import make_connected_account


def test_the_kept_chart_names_the_path_of_each_request(coach_client: FlaskClient) -> None:
    mounted = coach_client.get("/coach/earnings", base_url="http://localhost/portal")
    assert mounted.status_code == 200, mounted.text
    assert 'href="/portal/coach/earnings?by=' in mounted.text

    direct = coach_client.get("/coach/earnings").text  # the same sections, kept
    assert 'href="/coach/earnings?by=' in direct
    assert "/portal/" not in direct


def test_the_kept_payouts_name_the_path_of_each_request(
    coach_client: FlaskClient, coach: User
) -> None:
    account = make_connected_account(coach)
    db.session.add(
        Payout(
            stripe_payout_id="po_mounted",
            amount=Decimal("25.00"),
            currency="USD",
            status=PayoutStatus.PAID,
            user_id=coach.id,
            connected_account_id=account.id,
        )
    )
    db.session.commit()
    mounted = coach_client.get("/coach/earnings", base_url="http://localhost/portal")
    assert mounted.status_code == 200, mounted.text
    assert re.search(r'href="/portal/coach/earnings/payouts/\d+"', mounted.text)

    direct = coach_client.get("/coach/earnings").text  # the same payouts, kept
    assert re.search(r'href="/coach/earnings/payouts/\d+"', direct)
    assert "/portal/" not in direct
