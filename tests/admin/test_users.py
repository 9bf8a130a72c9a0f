"""Users for admins: search, deactivate (sessions end) and reactivate, never oneself; the
coach's platform fee (moved here from payouts); the audit log; and only admins get in."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from portal.bookings import hold
from portal.extensions import db
from portal.models import AuditLog, CoachProfile, Role, User
from tests.admin.conftest import post_form, signed_in
from tests.builders import make_connected_account, make_slot, make_user


def _profile(coach: User) -> CoachProfile:
    db.session.expire_all()
    profile = db.session.get(User, coach.id).coach_profile
    assert profile is not None
    return profile


def test_user_search_by_name_or_email_and_role(admin_client: FlaskClient) -> None:
    ada = make_user(Role.COACH, "ada@coach.example", name="Ada Lovelace")
    sam = make_user(Role.MENTEE, "sam@mentee.example", name="Sam Mentee")
    by_name = admin_client.get("/admin/users?q=lovelace")
    assert f'id="user-{ada.id}"' in by_name.text and f'id="user-{sam.id}"' not in by_name.text
    by_role = admin_client.get("/admin/users?role=mentee", headers={"HX-Request": "true"})
    assert f'id="user-{sam.id}"' in by_role.text and f'id="user-{ada.id}"' not in by_role.text
    assert "<html" not in by_role.text
    assert "No users match" in admin_client.get("/admin/users?q=%25_nobody").text


def test_deactivating_ends_the_users_sessions_and_is_audited(
    app: Flask, admin_client: FlaskClient, admin: User, mentee: User
) -> None:
    theirs = signed_in(app, mentee)
    assert theirs.get("/account/profile").status_code == 200
    response = post_form(admin_client, f"/admin/users/{mentee.id}/deactivate")
    assert response.status_code == 303
    assert theirs.get("/account/profile").status_code == 302  # signed out
    db.session.expire_all()
    assert db.session.get(User, mentee.id).is_active is False
    post_form(admin_client, f"/admin/users/{mentee.id}/reactivate")
    db.session.expire_all()
    assert db.session.get(User, mentee.id).is_active is True
    entries = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id)).all()
    assert [(e.actor_id, e.action, e.target_id, e.before, e.after) for e in entries] == [
        (admin.id, "user.deactivated", str(mentee.id), {"is_active": True}, {"is_active": False}),
        (admin.id, "user.reactivated", str(mentee.id), {"is_active": False}, {"is_active": True}),
    ]
    log = admin_client.get("/admin/audit")
    assert "user.deactivated" in log.text and "user.reactivated" in log.text
    assert admin.email in log.text
    only = admin_client.get("/admin/audit?action=user.reactivated")
    assert "user.reactivated" in only.text and only.text.count('id="audit-') == 1


def test_an_admin_cannot_deactivate_themselves(admin_client: FlaskClient, admin: User) -> None:
    response = post_form(admin_client, f"/admin/users/{admin.id}/deactivate")
    assert (
        "cannot deactivate your own account" in admin_client.get(response.headers["Location"]).text
    )
    db.session.expire_all()
    assert db.session.get(User, admin.id).is_active is True
    assert db.session.scalars(sa.select(AuditLog)).all() == []
    assert admin_client.get("/admin/users").status_code == 200  # still signed in


def test_user_actions_need_csrf_and_a_real_user(admin_client: FlaskClient, mentee: User) -> None:
    assert admin_client.post(f"/admin/users/{mentee.id}/deactivate").status_code == 400
    assert post_form(admin_client, "/admin/users/99999/deactivate").status_code == 404
    db.session.expire_all()
    assert db.session.get(User, mentee.id).is_active is True


# --- the coach's platform fee (moved from payouts) ----------------------------------------------


def test_admin_changes_a_coach_fee_for_new_bookings_only(
    app: Flask, admin: User, coach: User
) -> None:
    make_connected_account(coach)
    mentee = make_user(Role.MENTEE)
    old = hold.hold_slot(mentee, make_slot(coach, hours_from_now=48).id)
    db.session.commit()
    assert old.platform_fee_amount == Decimal("20.00")

    client = signed_in(app, admin)
    assert (
        "Current fee: <strong>20.00%</strong>" in client.get(f"/admin/coaches/{coach.id}/fee").text
    )
    response = post_form(client, f"/admin/coaches/{coach.id}/fee", platform_fee_percentage="12.5")
    assert response.status_code == 303
    assert _profile(coach).platform_fee_percentage == Decimal("12.50")
    [audit] = db.session.scalars(sa.select(AuditLog)).all()
    assert (audit.actor_id, audit.action, audit.target_id) == (
        admin.id,
        "coach.platform_fee_changed",
        str(coach.id),
    )
    assert audit.before == {"platform_fee_percentage": "20.00"}
    assert audit.after == {"platform_fee_percentage": "12.50"}
    assert "coach.platform_fee_changed" in client.get("/admin/audit").text

    db.session.expire_all()
    assert db.session.get(type(old), old.id).platform_fee_amount == Decimal("20.00")
    new = hold.hold_slot(mentee, make_slot(coach, hours_from_now=72).id)
    db.session.commit()
    assert (new.platform_fee_amount, new.coach_share) == (
        Decimal("12.50"),
        Decimal("87.50"),
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("101", "from 0 to 100"),
        ("-1", "from 0 to 100"),
        ("12.345", "two decimal places"),
        ("", "Enter"),
    ],
)
def test_bad_platform_fee_is_refused_and_changes_nothing(
    app: Flask, admin: User, coach: User, value: str, message: str
) -> None:
    client = signed_in(app, admin)
    response = post_form(client, f"/admin/coaches/{coach.id}/fee", platform_fee_percentage=value)
    assert response.status_code == 400 and message in response.text
    assert _profile(coach).platform_fee_percentage == Decimal("20.00")
    assert db.session.scalars(sa.select(AuditLog)).all() == []


def test_fee_page_for_someone_who_is_not_a_coach_is_not_found(
    app: Flask, admin: User, mentee: User
) -> None:
    assert signed_in(app, admin).get(f"/admin/coaches/{mentee.id}/fee").status_code == 404


# --- who gets in --------------------------------------------------------------------------------

ADMIN_PAGES = [
    ("GET", "/admin/transactions"),
    ("GET", "/admin/transactions/export.csv"),
    ("GET", "/admin/transactions/totals"),
    ("GET", "/admin/transactions/1"),
    ("GET", "/admin/transactions/1/refund"),
    ("POST", "/admin/transactions/1/refund"),
    ("POST", "/admin/transactions/1/refund/confirm"),
    ("POST", "/admin/refunds/1/submit"),
    ("GET", "/admin/attention"),
    ("GET", "/admin/events"),
    ("GET", "/admin/events/evt_1"),
    ("POST", "/admin/events/evt_1/reprocess"),
    ("GET", "/admin/reconciliation"),
    ("POST", "/admin/reconciliation"),
    ("GET", "/admin/reconciliation/runs/1"),
    ("GET", "/admin/jobs"),
    ("POST", "/admin/jobs/release-holds/run"),
    ("POST", "/admin/jobs/runs/1/retry"),
    ("GET", "/admin/users"),
    ("POST", "/admin/users/1/deactivate"),
    ("POST", "/admin/users/1/reactivate"),
    ("GET", "/admin/coaches/1/fee"),
    ("POST", "/admin/coaches/1/fee"),
    ("GET", "/admin/audit"),
]


@pytest.mark.parametrize("visitor", ["anonymous", Role.MENTEE, Role.COACH], ids=str)
def test_only_admins_reach_the_admin_area(app: Flask, visitor: str | Role) -> None:
    client = app.test_client()
    headers = {}
    if visitor != "anonymous":
        client = signed_in(app, make_user(visitor))
        from tests.conftest import csrf_token

        headers = {"X-CSRFToken": csrf_token(client)}
    for method, url in ADMIN_PAGES:
        response = client.open(url, method=method, headers=headers)
        if visitor == "anonymous":
            assert response.status_code == 302, (method, url)
            assert response.headers["Location"].startswith("/account/login?next="), url
        else:
            assert response.status_code == 403, (method, url, visitor)
    assert db.session.scalars(sa.select(AuditLog)).all() == []


def test_every_admin_route_is_declared_for_admins_only(app: Flask) -> None:
    from portal.security import audience_of

    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/admin")]
    assert len(rules) == 25
    for rule in rules:
        assert audience_of(app.view_functions[rule.endpoint]) == frozenset({"admin"}), rule.rule
