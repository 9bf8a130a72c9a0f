"""The outbox: a message exists only if its cause committed, and is sent once, however the mail
server behaves."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from portal import outbox
from portal.extensions import db
from portal.models import OutboxMessage, User, utcnow
from portal.models.mail import FAILED, PENDING, SENT
from tests.conftest import PASSWORD, csrf_token, make_app
from tests.mailbox import html_of, links_in, messages, text_of


def test_sign_up_with_an_existing_address_mails_its_owner(app: Flask, mentee: User) -> None:
    client = app.test_client()
    response = client.post(
        "/account/signup",
        data={
            "name": "Someone",
            "email": mentee.email.upper(),
            "password": "another long passphrase",
            "role": "mentee",
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 303
    [message] = messages(app)
    assert message["To"] == mentee.email
    assert message["Subject"] == "Someone tried to open an account with your address"
    assert "no new one was made" in text_of(message)
    assert "no new one was made" in html_of(message)
    assert "http://127.0.0.1:5000/account/login" in links_in(message)
    assert db.session.scalar(select(OutboxMessage.status)) == SENT


def test_a_new_address_gets_no_account_exists_message(app: Flask) -> None:
    client = app.test_client()
    client.post(
        "/account/signup",
        data={
            "name": "New Person",
            "email": "new.person@example.com",
            "password": PASSWORD,
            "role": "mentee",
            "csrf_token": csrf_token(client),
        },
    )
    assert not [m for m in messages(app) if "tried to open" in m["Subject"]]


def test_rolled_back_work_sends_nothing(app: Flask, mentee: User) -> None:
    outbox.queue_mail("account.signup_attempt", mentee, "Never sent", "account_exists")
    db.session.rollback()
    assert outbox.deliver_due() == 0
    db.session.commit()  # a later commit does not send the forgotten message either
    assert messages(app) == []
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_a_savepoint_inside_the_work_neither_sends_early_nor_forgets(
    app: Flask, mentee: User
) -> None:
    # A savepoint (a card saved while a payment is recorded) ends inside the unit of work: the
    # message waits for the outer commit, which is also what releases SQLite's write lock.
    outbox.queue_mail("account.signup_attempt", mentee, "Sent after the commit", "account_exists")
    with db.session.begin_nested():
        pass
    assert messages(app) == []  # nothing sent while the outer transaction is open
    try:
        with db.session.begin_nested():
            raise ValueError("a savepoint rolled back")
    except ValueError:
        pass
    db.session.commit()
    assert [m["Subject"] for m in messages(app)] == ["Sent after the commit"]


class FlakySMTP:
    """An SMTP server at the socket's edge: refuses connections while `down`, then accepts."""

    down = True
    delivered: list[bytes] = []

    def __init__(self, host: str, port: int, **kwargs: Any) -> None:
        if FlakySMTP.down:
            raise ConnectionRefusedError(111, "Connection refused")

    def sendmail(self, from_addr: str, to_addrs: list[str], msg: bytes, **kwargs: Any) -> dict:
        FlakySMTP.delivered.append(msg)
        return {}

    def quit(self) -> None:
        pass


@pytest.fixture
def smtp_app(
    app: Flask, migrated_database: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Flask]:
    """The portal sending through SMTP (as in production) to a server that is down at first."""
    monkeypatch.setattr(smtplib, "SMTP", FlakySMTP)
    monkeypatch.setattr(FlakySMTP, "down", True)
    monkeypatch.setattr(FlakySMTP, "delivered", [])
    smtp = make_app(
        migrated_database, MAIL_BACKEND="smtp", MAIL_SERVER="smtp.example.com", MAIL_PORT=25
    )
    with smtp.app_context():
        yield smtp
        db.session.remove()
        db.engine.dispose()


def test_a_message_is_sent_once_when_smtp_fails_then_recovers(smtp_app: Flask) -> None:
    user = db.session.scalar(select(User))  # none yet: address the message by hand
    assert user is None
    start = utcnow()
    message = outbox.queue_mail(
        "account.signup_attempt",
        "owner@example.com",
        "Someone tried to open an account with your address",
        "account_exists",
        user=None,
    )
    db.session.commit()  # queued after the commit and tried at once: the server is down
    message_id = message.id

    row = db.session.get(OutboxMessage, message_id)
    assert (row.status, row.attempts) == (PENDING, 1)
    assert "Connection refused" in row.last_error
    assert row.next_attempt_at >= start + timedelta(seconds=60)

    assert outbox.deliver_due(start + timedelta(seconds=30)) == 0  # not due yet: no try
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message_id).attempts == 1

    assert outbox.deliver_due(start + timedelta(seconds=61)) == 0  # due, and still down
    db.session.expire_all()
    row = db.session.get(OutboxMessage, message_id)
    assert row.attempts == 2
    assert row.next_attempt_at >= start + timedelta(seconds=61 + 120)  # the delay doubled

    FlakySMTP.down = False
    later = start + timedelta(seconds=200)
    assert outbox.deliver_due(later) == 1
    # Another consumer's sweep, a duplicated task: nothing more is sent.
    assert outbox.deliver_due(later + timedelta(hours=1)) == 0
    assert outbox.deliver(message_id, later + timedelta(hours=1)) is False

    [raw] = FlakySMTP.delivered
    sent = message_from_bytes(raw, policy=policy.default)
    assert sent["To"] == "owner@example.com"
    assert sent["Message-ID"] == f"<outbox-{message_id}@127.0.0.1>"
    db.session.expire_all()
    row = db.session.get(OutboxMessage, message_id)
    assert (row.status, row.attempts, row.last_error) == (SENT, 3, None)


def test_a_message_is_kept_as_failed_after_its_last_try(smtp_app: Flask) -> None:
    smtp_app.config["OUTBOX_MAX_ATTEMPTS"] = 2
    start = utcnow()
    message = outbox.queue_mail(
        "account.signup_attempt", "owner@example.com", "Subject", "account_exists", user=None
    )
    db.session.commit()
    message_id = message.id
    outbox.deliver_due(start + timedelta(minutes=5))
    outbox.deliver_due(start + timedelta(days=1))
    db.session.expire_all()
    row = db.session.get(OutboxMessage, message_id)
    assert (row.status, row.attempts) == (FAILED, 2)
    assert FlakySMTP.delivered == []


def test_the_messages_of_one_commit_are_queued_as_one_delivery(
    app: Flask, migrated_database: str, tmp_path: Path
) -> None:
    # A paid booking tells its mentee and its coach: one write to the task queue, not one per
    # message, and running that one task sends both.
    queued = make_app(
        migrated_database,
        MAIL_FILE_PATH=str(tmp_path / "queued-mail"),
        TASKS_IMMEDIATE=False,
        TASKS_SQLITE_FILE=str(tmp_path / "tasks.db"),
    )
    with queued.app_context():
        for address in ("mentee@example.com", "coach@example.com"):
            outbox.queue_mail(
                "account.signup_attempt", address, f"To {address}", "account_exists", user=None
            )
        db.session.commit()
        huey = queued.extensions["tasks"].huey
        [task] = huey.pending()
        assert messages(queued) == []  # queued, not sent yet
        huey.execute(task)
        assert sorted(m["To"] for m in messages(queued)) == [
            "coach@example.com",
            "mentee@example.com",
        ]
        db.session.remove()
        db.engine.dispose()
