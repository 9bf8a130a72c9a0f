"""The frame every page shares: its links are built once per process, yet each page's links
still name the path the portal is mounted under for that request (`SCRIPT_NAME`)."""

from __future__ import annotations

from flask.testing import FlaskClient

from portal.models import User
from tests.conftest import login


def test_the_frames_links_follow_the_path_the_portal_is_mounted_under(
    client: FlaskClient, mentee: User
) -> None:
    login(client, mentee)
    for _ in range(2):  # the second round is answered from what the first one built
        mounted = client.get("/account/profile", base_url="http://localhost/portal").text
        assert 'href="/portal/static/css/portal.css"' in mounted
        assert 'href="/portal/billing/cards"' in mounted  # a mentee's navigation
        assert 'action="/portal/account/logout"' in mounted

        direct = client.get("/account/profile").text
        assert 'href="/static/css/portal.css"' in direct
        assert 'href="/billing/cards"' in direct and 'action="/account/logout"' in direct
        assert "/portal/" not in direct
