"""An event that keeps failing is mailed to every admin once, after `KEEPS_FAILING_AFTER`
failed attempts: not for a failure that a retry mends, not again for later attempts."""

from __future__ import annotations

from portal.models import Role
from portal.webhooks import dispatch
from portal.webhooks.notices import KEEPS_FAILING_AFTER
from tests.builders import make_user
from tests.mailbox import assert_nothing_secret, links_to, messages, text_of, with_subject
from tests.webhooks import payloads
from tests.webhooks.signing import CONNECT_PATH, signed_post

CONNECT_SECRET = "whsec_test_connect"
SUBJECT = "A Stripe event keeps failing: payout.paid"


def test_an_event_failing_again_and_again_is_mailed_to_each_admin_once(app, client, monkeypatch):
    admins = [make_user(Role.ADMIN) for _ in range(2)]

    def broken(event):
        raise ValueError("no payout row can be found for this event")

    monkeypatch.setitem(dispatch.HANDLERS, "payout.paid", broken)
    event = payloads.event("payout.paid", payloads.payout("po_1", 100, status="paid"))
    for _ in range(KEEPS_FAILING_AFTER - 1):
        assert signed_post(client, CONNECT_PATH, event, CONNECT_SECRET).status_code == 500
    assert with_subject(app, "A Stripe event keeps failing") == []  # a retry may yet mend it

    for _ in range(3):
        assert signed_post(client, CONNECT_PATH, event, CONNECT_SECRET).status_code == 500
    told = with_subject(app, f"{SUBJECT} ({KEEPS_FAILING_AFTER} attempts)")
    assert sorted(m["To"] for m in told) == sorted(a.email for a in admins)
    assert len(messages(app)) == len(admins)
    text = text_of(told[0])
    assert f"Event: {event['id']} (payout.paid)" in text
    assert "Last error: ValueError: no payout row can be found for this event" in text
    assert links_to(told[0], f"/admin/events/{event['id']}")
    assert_nothing_secret(told[0])


def test_an_event_that_a_retry_applies_tells_no_one(app, client, monkeypatch):
    make_user(Role.ADMIN)
    real = dispatch.HANDLERS["payout.paid"]

    def broken(event):
        raise RuntimeError("database hiccup")

    monkeypatch.setitem(dispatch.HANDLERS, "payout.paid", broken)
    event = payloads.event("payout.paid", payloads.payout("po_2", 100, status="paid"))
    for _ in range(KEEPS_FAILING_AFTER - 1):
        signed_post(client, CONNECT_PATH, event, CONNECT_SECRET)
    monkeypatch.setitem(dispatch.HANDLERS, "payout.paid", real)
    assert signed_post(client, CONNECT_PATH, event, CONNECT_SECRET).status_code == 200
    assert with_subject(app, "A Stripe event keeps failing") == []
