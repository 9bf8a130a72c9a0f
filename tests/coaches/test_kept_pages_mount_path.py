"""The pages kept for visitors, and the cards inside them, name the path the portal is mounted
under for each request (`SCRIPT_NAME`), as every page's frame does: a page kept from a request
under one path never sends a visitor under another to the first."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.models import Role
from tests.builders import make_connected_account, make_slot, make_user


@pytest.mark.parametrize("url", ["/", "/coaches/{coach}"], ids=["directory", "coach page"])
def test_a_kept_page_names_the_path_of_each_request(
    app: Flask, client: FlaskClient, url: str
) -> None:
    coach = make_user(Role.COACH, name="Ada Lovelace", session_price=Decimal("100.00"))
    make_connected_account(coach)
    make_slot(coach, hours_from_now=72)
    page = url.format(coach=coach.id)

    mounted = client.get(page, base_url="http://localhost/portal").text
    assert 'href="/portal/static/css/portal.css"' in mounted

    direct = client.get(page)
    assert direct.status_code == 200
    assert 'href="/static/css/portal.css"' in direct.text
    assert "/portal/" not in direct.text
