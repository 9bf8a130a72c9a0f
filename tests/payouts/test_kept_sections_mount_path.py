"""The dashboard's kept sections name the path the portal is mounted under for each request
(`SCRIPT_NAME`), as the page's frame does: a section kept from a request under one path never
sends the coach under another to the first."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_the_kept_chart_names_the_path_of_each_request(coach_client: FlaskClient) -> None:
    mounted = coach_client.get("/coach/earnings", base_url="http://localhost/portal")
    assert mounted.status_code == 200, mounted.text
    assert 'href="/portal/coach/earnings?by=' in mounted.text

    direct = coach_client.get("/coach/earnings").text  # the same sections, kept
    assert 'href="/coach/earnings?by=' in direct
    assert "/portal/" not in direct
