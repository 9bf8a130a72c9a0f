"""The transactions list's filter form is kept rendered per query string, yet its links name the
path the portal is mounted under for each request (`SCRIPT_NAME`), as the page's frame and its
rows do: a form kept from a request under one path never sends an admin to another."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_the_kept_filter_form_names_the_path_of_each_request(admin_client: FlaskClient) -> None:
    query = "/admin/transactions?q=someone%40example.com"
    mounted = admin_client.get(query, base_url="http://localhost/portal").text
    assert 'action="/portal/admin/transactions"' in mounted

    direct = admin_client.get(query).text  # the same query string, the form kept
    assert 'action="/admin/transactions"' in direct
    assert 'hx-get="/admin/transactions"' in direct
    assert "/portal/" not in direct
