"""Two-factor sign-in: enrolling with a code from the app, the code step at sign-in, recovery
codes that work once, a code refused the second time, admins sent to enrol, turning it off."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote

import pyotp
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm.attributes import flag_modified

from portal.extensions import db
from portal.models import RecoveryCode, Role, User
from portal.sealed import Unreadable
from tests.builders import make_user
from tests.conftest import PASSWORD, csrf_token, current_code, login
from tests.mailbox import assert_nothing_secret, links_to, messages, with_subject


def _token_on(page: Any) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)


def _post(client: FlaskClient, url: str, **data: str) -> Any:
    return client.post(url, data={"csrf_token": csrf_token(client), **data})


def _secret_on(page: Any) -> str:
    found = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page.text)
    assert found, "no secret on the enrolment page"
    return found.group(1).replace(" ", "")


def _other_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _row(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def _recovery_rows(user: User) -> list[RecoveryCode]:
    return list(db.session.scalars(sa.select(RecoveryCode).where(RecoveryCode.user_id == user.id)))


def _enrol(client: FlaskClient) -> tuple[str, list[str]]:
    """Set up two-factor sign-in through the pages; the secret and the recovery codes shown."""
    secret = _secret_on(client.get("/account/two-factor"))
    shown = _post(client, "/account/two-factor/enrol", code=pyotp.TOTP(secret).now())
    assert shown.status_code == 200, shown.text
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", shown.text)
    return secret, codes


def _password_step(client: FlaskClient, user: User) -> Any:
    return _post(client, "/account/login", email=user.email, password=PASSWORD)


def _code_step(client: FlaskClient, code: str) -> Any:
    page = client.get("/account/login/code")
    token = _token_on(page) if page.status_code == 200 else csrf_token(client)
    return client.post("/account/login/code", data={"code": code, "csrf_token": token})


def _signed_in(client: FlaskClient) -> bool:
    return client.get("/account/profile").status_code == 200


def test_enrolment_with_a_wrong_code_fails_and_changes_nothing(
    app: Flask, mentee: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    login(client, mentee)
    page = client.get("/account/two-factor")
    assert page.status_code == 200 and "<svg" in page.text and "qrline" in page.text
    secret = _secret_on(page)
    assert _secret_on(client.get("/account/two-factor")) == secret  # the same until confirmed

    for wrong in (_other_code(pyotp.TOTP(secret).now()), "12345", "abcdef", ""):
        refused = _post(client, "/account/two-factor/enrol", code=wrong)
        assert refused.status_code == 400
        assert 'class="error"' in refused.text
        assert _row(mentee).totp_secret is None and _recovery_rows(mentee) == []

    shown = _post(client, "/account/two-factor/enrol", code=pyotp.TOTP(secret).now())
    assert shown.status_code == 200 and "shown only this once" in shown.text
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", shown.text)
    assert len(set(codes)) == 10
    assert _row(mentee).totp_secret == secret
    hashes = [row.code_hash for row in _recovery_rows(mentee)]
    assert len(hashes) == 10 and hashes[0].startswith("$argon2")
    assert not any(code.replace("-", "") in h or code in h for code in codes for h in hashes)

    after = client.get("/account/two-factor")
    assert "10 unused recovery codes" in after.text
    assert secret not in after.text and "totp-secret" not in after.text
    assert not any(code in after.text for code in codes)  # shown once
    assert secret not in caplog.text and not any(code in caplog.text for code in codes)


def test_sign_in_needs_the_code_once_the_password_is_right(app: Flask) -> None:
    user = make_user(Role.MENTEE, password=PASSWORD, two_factor=True)
    client = app.test_client()
    first = _password_step(client, user)
    assert first.status_code == 303 and first.location == "/account/login/code"
    assert not _signed_in(client)  # the password alone signs nobody in

    code = current_code(user)
    refused = _code_step(client, _other_code(code))
    assert refused.status_code == 400 and "That code is not right" in refused.text
    assert not _signed_in(client)
    accepted = _code_step(client, code)
    assert accepted.status_code == 303 and accepted.location == "/"
    assert _signed_in(client)


def test_the_code_step_alone_signs_nobody_in(app: Flask) -> None:
    user = make_user(Role.MENTEE, password=PASSWORD, two_factor=True)
    client = app.test_client()
    answer = _code_step(client, current_code(user))  # without the password first
    assert answer.status_code == 303 and answer.location == "/account/login"
    assert not _signed_in(client)
    assert _row(user).totp_last_step is None


def test_a_code_is_refused_the_second_time(app: Flask) -> None:
    user = make_user(Role.MENTEE, password=PASSWORD, two_factor=True)
    code = current_code(user)
    first = app.test_client()
    _password_step(first, user)
    assert _code_step(first, code).status_code == 303

    someone_watching = app.test_client()
    _password_step(someone_watching, user)
    replay = _code_step(someone_watching, code)
    assert replay.status_code == 400 and "each code works once" in replay.text
    assert not _signed_in(someone_watching)


def test_a_recovery_code_signs_in_once(app: Flask, mentee: User) -> None:
    client = app.test_client()
    login(client, mentee)
    _secret, codes = _enrol(client)

    for attempt in range(2):
        browser = app.test_client()
        _password_step(browser, mentee)
        answer = _code_step(browser, codes[3].upper().replace("-", " "))  # as typed by hand
        if attempt == 0:
            assert answer.status_code == 303
            profile = browser.get("/account/profile")
            assert profile.status_code == 200 and "You used a recovery code; 9 left" in profile.text
        else:
            assert answer.status_code == 400 and not _signed_in(browser)
    used = [row for row in _recovery_rows(mentee) if row.used_at is not None]
    assert len(used) == 1


def test_new_recovery_codes_replace_the_old_ones(app: Flask, mentee: User) -> None:
    client = app.test_client()
    login(client, mentee)
    _secret, old = _enrol(client)
    # Enrolling asked for no password: new codes wait for a confirmation with both.
    asked = _post(client, "/account/two-factor/recovery-codes")
    assert asked.location.startswith("/account/confirm")
    confirmed = _post(client, "/account/confirm", password=PASSWORD, code=old[1])
    assert confirmed.status_code == 303
    shown = _post(client, "/account/two-factor/recovery-codes")
    new = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", shown.text)
    assert len(new) == 10 and not set(new) & set(old)

    browser = app.test_client()
    _password_step(browser, mentee)
    assert _code_step(browser, old[0]).status_code == 400
    assert _code_step(browser, new[0]).status_code == 303


def test_an_admin_without_two_factor_is_sent_to_set_it_up_before_any_admin_page(
    app: Flask,
) -> None:
    admin = make_user(Role.ADMIN, password=PASSWORD, two_factor=False)
    client = app.test_client()
    signed = _password_step(client, admin)
    assert signed.status_code == 303 and signed.location.startswith("/account/two-factor?next=")

    for page in ("/admin/transactions", "/admin/users", "/admin/events"):
        sent = client.get(page)
        assert sent.status_code == 303
        assert sent.location.startswith("/account/two-factor?next=")
        assert unquote(sent.location.partition("next=")[2]) == page
    htmx = client.get("/admin/transactions", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"].startswith("/account/two-factor")
    assert client.get("/").status_code == 200  # the rest of the portal is open

    _secret, _codes = _enrol(client)
    assert client.get("/admin/transactions").status_code == 200


def test_an_admin_cannot_turn_two_factor_off_and_others_need_password_and_code(
    app: Flask, admin: User
) -> None:
    client = app.test_client()
    login(client, admin)
    refused = _post(
        client, "/account/two-factor/disable", **{"off-password": PASSWORD, "off-code": "1"}
    )
    assert refused.status_code == 400 and _row(admin).two_factor_enabled

    mentee = make_user(Role.MENTEE, password=PASSWORD)
    browser = app.test_client()
    login(browser, mentee)
    secret, codes = _enrol(browser)
    wrong_code = _other_code(pyotp.TOTP(secret).now())
    for password, code in ((PASSWORD, wrong_code), ("not my password", codes[0])):
        wrong = _post(
            browser, "/account/two-factor/disable", **{"off-password": password, "off-code": code}
        )
        assert wrong.status_code == 400 and _row(mentee).two_factor_enabled
    # The app's code was just used to enrol, so a recovery code stands in for it.
    done = _post(
        browser, "/account/two-factor/disable", **{"off-password": PASSWORD, "off-code": codes[0]}
    )
    assert done.status_code == 303
    assert not _row(mentee).two_factor_enabled and _recovery_rows(mentee) == []


def test_wrong_codes_are_throttled_like_wrong_passwords(app: Flask) -> None:
    user = make_user(Role.MENTEE, password=PASSWORD, two_factor=True)
    client = app.test_client()
    _password_step(client, user)
    wrong = _other_code(current_code(user))
    statuses = [_code_step(client, wrong).status_code for _ in range(11)]
    assert statuses == [400] * 10 + [429]
    assert _code_step(client, current_code(user)).status_code == 429
    assert not _signed_in(client)


def test_coaches_and_mentees_are_offered_two_factor_in_their_profile(
    app: Flask, coach: User
) -> None:
    client = app.test_client()
    login(client, coach)
    profile = client.get("/account/profile").text
    assert "Set up two-factor sign-in" in profile and 'href="/account/two-factor"' in profile


def test_the_demo_admin_signs_in_with_the_code_the_demo_prints(app: Flask) -> None:
    from portal.cli import DEMO_ADMIN, DEMO_PASSWORD, DEMO_TOTP_SECRET

    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    box = runner.invoke(args=["demo-logins"]).output
    assert "demo-code" in box and DEMO_TOTP_SECRET in box
    client = app.test_client()
    first = _post(client, "/account/login", email=DEMO_ADMIN, password=DEMO_PASSWORD)
    assert first.location == "/account/login/code"
    code = runner.invoke(args=["demo-code"]).output.strip()
    assert re.fullmatch(r"\d{6}", code)
    assert _code_step(client, code).status_code == 303
    assert client.get("/admin/transactions").status_code == 200


def test_each_change_to_the_second_factor_is_mailed_to_its_owner(app: Flask) -> None:
    mentee = make_user(Role.MENTEE, password=PASSWORD)
    client = app.test_client()
    login(client, mentee)
    secret = _secret_on(client.get("/account/two-factor"))
    refused = _post(client, "/account/two-factor/enrol", code=_other_code(pyotp.TOTP(secret).now()))
    assert refused.status_code == 400 and with_subject(app, "Two-factor") == []

    _secret, codes = _enrol(client)
    on = with_subject(app, "Two-factor sign-in is on for your account")
    assert len(on) == 1 and on[0]["To"] == mentee.email
    assert links_to(on[0], "/account/forgot") and links_to(on[0], "/account/two-factor")

    _post(client, "/account/confirm", password=PASSWORD, code=codes[0])
    shown = _post(client, "/account/two-factor/recovery-codes")
    new = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", shown.text)
    assert len(with_subject(app, "New recovery codes were made for your account")) == 1

    done = _post(
        client, "/account/two-factor/disable", **{"off-password": PASSWORD, "off-code": new[0]}
    )
    assert done.status_code == 303
    off = with_subject(app, "Two-factor sign-in was turned off for your account")
    assert len(off) == 1
    for message in messages(app):
        assert_nothing_secret(message)
        assert secret not in message.as_string()


def test_the_second_factor_is_kept_encrypted_and_survives_a_key_rotation(app: Flask) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app.config["TWO_FACTOR_KEYS"] = old_key
    mentee = make_user(Role.MENTEE, password=PASSWORD)
    client = app.test_client()
    login(client, mentee)
    secret, _codes = _enrol(client)

    def stored() -> str:
        return db.session.execute(
            sa.text("SELECT totp_secret FROM users WHERE id = :id"), {"id": mentee.id}
        ).scalar_one()

    assert secret not in stored() and Fernet(old_key).decrypt(stored()).decode() == secret
    assert _row(mentee).totp_secret == secret

    # A new key first, the old one kept: the old value still opens, and a save seals it anew.
    app.config["TWO_FACTOR_KEYS"] = f"{new_key}, {old_key}"
    user = _row(mentee)
    assert user.totp_secret == secret
    flag_modified(user, "totp_secret")  # re-saved unchanged, as a rotation script does
    db.session.commit()
    assert Fernet(new_key).decrypt(stored()).decode() == secret

    # The old key dropped too early would leave a value nothing opens; it says so.
    app.config["TWO_FACTOR_KEYS"] = old_key
    with pytest.raises(Unreadable):
        assert _row(mentee).totp_secret is None
