"""The mail outbox: every email the portal owes someone, never lost and never for nothing.

What this module promises:

- `queue_mail` renders a message (plain text and HTML from `templates/mail/NAME.txt` and
  `.html`) and adds it to the `outbox` table in the caller's unit of work. The message exists
  only if that work commits: rolled-back work sends nothing.
- `queue_composed` adds, in the same way, messages that name their reader and their booking and
  are rendered by the delivery, through the composer registered for its kind (`composes`), with
  the same templates in the reader's zone: a paid booking's request writes the rows, not the
  messages and their calendar invitation. The delivery keeps what it rendered on the row, so a
  retry sends the same message; a message that cannot be rendered is retried and kept as failed
  as one that cannot be sent. A composer whose message is no longer owed (its booking was
  canceled before the delivery) raises `NotOwed`: nothing is written or sent, and the row is
  kept as skipped, with the reason.
- After the commit, its new messages are queued for delivery on the task queue, in one task; a
  sweep every minute (`deliver_due`) delivers whatever is due and was not, so a queue that lost
  a task, or a consumer that was down, delays a message but never loses it.
- `deliver` claims a message with a conditional UPDATE before sending it, so of any number of
  consumers exactly one sends it, once. A failed try (the mail server down or refusing) is
  retried `OUTBOX_RETRY_DELAY` seconds later, doubling each time, up to `OUTBOX_MAX_ATTEMPTS`
  tries; then the message is kept as failed. A consumer that dies between sending and recording
  leaves its claim; after `STALE_CLAIM` the message is tried again. Its Message-ID is the same
  each time, so a mail program shows such a rare second copy as one message.
- A message with a `dedupe_key` is made once: queued again (a redelivered event, a second
  event telling the same news), it is not made a second time.
- Links in messages are absolute, built from `PORTAL_URL`, inside or outside a request; times in
  messages are shown by `when` (and days by `day`), the one place mail formats them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from flask_mailman import EmailMultiAlternatives
from flask_sqlalchemy.session import Session as PortalSession
from sqlalchemy.orm import Session

from portal.extensions import db, mail
from portal.models import OutboxMessage, Role, User, utcnow
from portal.models.mail import FAILED, PENDING, SENDING, SENT, SKIPPED
from portal.templating import READER_TIME_ZONE
from portal.time_zones import DEFAULT_TIME_ZONE, show_time

logger = logging.getLogger("portal.outbox")

STALE_CLAIM = timedelta(minutes=15)
SWEEP_BATCH = 100
_QUEUED_KEY = "outbox_queued"


def link(endpoint: str, **values: Any) -> str:
    """The absolute URL of a page, for a message (works outside a request too)."""
    base = urlsplit(current_app.config["PORTAL_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "https"
    )
    return adapter.build(endpoint, values, force_external=True)


def when(moment: datetime, person: User | None = None) -> str:
    """A moment as a message to `person` shows it: on their clock, with the zone's abbreviation."""
    return show_time(moment, person.time_zone if person else DEFAULT_TIME_ZONE)


def day(moment: date | datetime, person: User | None = None) -> str:
    """A day (a payout's arrival) as a message to `person` shows it."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC)
    return moment.strftime("%a %d %b %Y")


def queue_mail(
    kind: str,
    to: User | str,
    subject: str,
    template: str,
    *,
    attachments: list[dict[str, str]] | None = None,
    dedupe_key: str | None = None,
    optional: bool = False,
    **context: Any,
) -> OutboxMessage | None:
    """Add a message to the outbox in the current unit of work; it is sent after the commit.

    The message is inserted at the work's next flush, with any others (so it has no `id` yet).

    An `optional` message (not about money or security) is not made for a person who switched
    such messages off; one whose `dedupe_key` was queued already is not made again.
    """
    user = to if isinstance(to, User) else None
    if optional and user is not None and not user.optional_mail:
        return None
    if dedupe_key is not None and already_queued(dedupe_key):
        return None
    message = OutboxMessage(
        kind=kind,
        to_address=user.email if user else to,
        user_id=user.id if user else None,
        subject=subject,
        attachments=attachments or None,
        dedupe_key=dedupe_key,
        status=PENDING,
        next_attempt_at=utcnow(),
    )
    _write(message, user, template, context)
    _add(message)
    return message


@dataclass(frozen=True)
class Letter:
    """A message as its composer makes it at delivery: what `queue_mail` is given."""

    subject: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    attachments: list[dict[str, str]] | None = None


class NotOwed(Exception):
    """Raised by a composer whose message is no longer owed; its text says why."""


# A composer writes the message of its kind about a booking for its reader, or raises NotOwed.
Composer = Callable[[int, User], Letter]
_COMPOSERS: dict[str, Composer] = {}


def composes(kind: str) -> Callable[[Composer], Composer]:
    """Register the function that writes the messages of `kind` queued with `queue_composed`."""

    def register(composer: Composer) -> Composer:
        _COMPOSERS[kind] = composer
        return composer

    return register


def queue_composed(booking_id: int, readers: Mapping[str, int]) -> list[int]:
    """Add messages about a booking to the outbox in the current unit of work, one per kind in
    `readers` to the user (by id) it names, to be rendered by the delivery (the kind's composer)
    and sent after the commit. Returns their ids.

    The rows are all the caller's work writes, in one statement: rendering the bodies and
    attachments is left to the task that sends them.
    """
    unknown = set(readers) - set(_COMPOSERS)
    if unknown:
        raise LookupError(f"No composer writes {', '.join(sorted(unknown))} messages.")
    now = utcnow()
    rows = [
        {"kind": kind, "user_id": user_id, "booking_id": booking_id, "status": PENDING}
        | {"created_at": now, "next_attempt_at": now}
        for kind, user_id in readers.items()
    ]
    ids = list(db.session.scalars(_INSERT_COMPOSED, rows))
    db.session.info.setdefault(_QUEUED_KEY, []).extend(ids)
    return ids


# Run for every paid booking: built once, since building a statement costs more than running it.
_OUTBOX = OutboxMessage.__table__
_INSERT_COMPOSED = sa.insert(_OUTBOX).returning(_OUTBOX.c.id)


def _add(message: OutboxMessage) -> None:
    # Not flushed here: the unit of work inserts all its messages in one statement.
    db.session.add(message)
    db.session.info.setdefault(_QUEUED_KEY, []).append(message)


def _write(message: OutboxMessage, user: User | None, template: str, context: Any) -> None:
    # A time the template shows (`|datetime`) is in the reader's zone, not the sender's.
    reader_zone = user.time_zone if user else DEFAULT_TIME_ZONE
    context = {
        "user": user,
        "subject": message.subject,
        "link": link,
        READER_TIME_ZONE: reader_zone,
        **context,
    }
    message.text_body = _render(f"mail/{template}.txt", context)
    message.html_body = _render(f"mail/{template}.html", context)


def _compose(message: OutboxMessage) -> None:
    """Render a message queued with `queue_composed`, in its reader's zone as they are now."""
    user = db.session.get(User, message.user_id) if message.user_id is not None else None
    if user is None or message.booking_id is None:
        raise LookupError(f"Message {message.id} has no reader or no booking to be written for.")
    letter = _COMPOSERS[message.kind](message.booking_id, user)
    message.to_address = user.email
    message.subject = letter.subject
    message.attachments = letter.attachments or None
    _write(message, user, letter.template, letter.context)


def queue_mail_to_admins(
    kind: str, subject: str, template: str, *, dedupe_key: str, **context: Any
) -> list[OutboxMessage]:
    """`queue_mail` to every active admin, once each for `dedupe_key`."""
    queued = [
        queue_mail(kind, admin, subject, template, dedupe_key=f"{dedupe_key}:{admin.id}", **context)
        for admin in admins()
    ]
    return [message for message in queued if message is not None]


def admins() -> Sequence[User]:
    return db.session.scalars(
        sa.select(User).where(User.role == Role.ADMIN, User.is_active.is_(True)).order_by(User.id)
    ).all()


def already_queued(dedupe_key: str) -> bool:
    return db.session.scalar(sa.select(sa.exists().where(OutboxMessage.dedupe_key == dedupe_key)))


def _render(name: str, context: dict[str, Any]) -> str:
    # Not render_template: a message is the same in a request, a task or a command, so the
    # pages' context processors (the signed-in user's banners) stay out of it.
    return current_app.jinja_env.get_template(name).render(**context)


def deliver(message_id: int, now: datetime | None = None) -> bool:
    """Send one due message if no one else has; True if this call sent it."""
    now = now or utcnow()
    claimed = db.session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == PENDING,
            OutboxMessage.next_attempt_at <= now,
        )
        .values(status=SENDING, claimed_at=now, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not claimed:
        return False
    message = db.session.get(OutboxMessage, message_id)
    assert message is not None
    if message.text_body is None:
        try:
            _compose(message)
        except NotOwed as reason:
            db.session.rollback()
            return _skip(message_id, reason)
        except Exception as exc:  # its booking or reader gone, a template's error
            db.session.rollback()  # nothing half written is kept; the claim was committed
            message = db.session.get(OutboxMessage, message_id)
            assert message is not None
            return _not_sent(message, exc, now)
    try:
        _email(message).send()
    except Exception as exc:  # the mail server's refusal, a dropped connection, a timeout
        return _not_sent(message, exc, now)  # what was rendered is kept for the next try
    message.status = SENT
    message.sent_at = utcnow()
    message.last_error = None
    db.session.commit()
    return True


def deliver_due(now: datetime | None = None) -> int:
    """Deliver every message that is due (the periodic sweep); returns how many were sent."""
    now = now or utcnow()
    db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.status == SENDING, OutboxMessage.claimed_at < now - STALE_CLAIM)
        .values(status=PENDING)
        .execution_options(synchronize_session=False)
    )
    due = db.session.scalars(
        sa.select(OutboxMessage.id)
        .where(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(SWEEP_BATCH)
    ).all()
    db.session.commit()
    return sum(deliver(message_id, now) for message_id in due)


def _skip(message_id: int, reason: NotOwed) -> bool:
    message = db.session.get(OutboxMessage, message_id)
    assert message is not None
    message.status = SKIPPED
    message.last_error = f"Not sent: {reason}"[:1000]
    db.session.commit()
    logger.info("Message %s not sent: %s", message_id, reason)
    return False


def _not_sent(message: OutboxMessage, exc: Exception, now: datetime) -> bool:
    _record_failure(message, exc, now)
    db.session.commit()
    return False


def _record_failure(message: OutboxMessage, exc: Exception, now: datetime) -> None:
    config = current_app.config
    message.last_error = f"{type(exc).__name__}: {exc}"[:1000]
    if message.attempts >= int(config["OUTBOX_MAX_ATTEMPTS"]):
        message.status = FAILED
        logger.error(
            "Giving up on message %s after %s tries: %s", message.id, message.attempts, exc
        )
        return
    delay = int(config["OUTBOX_RETRY_DELAY"]) * 2 ** (message.attempts - 1)
    message.status = PENDING
    message.next_attempt_at = now + timedelta(seconds=delay)
    logger.warning("Message %s not sent (try %s): %s", message.id, message.attempts, exc)


def _email(message: OutboxMessage) -> EmailMultiAlternatives:
    assert message.to_address is not None and message.html_body is not None
    domain = urlsplit(current_app.config["PORTAL_URL"]).hostname or "localhost"
    email = EmailMultiAlternatives(
        # A subject holds no line break (the mailer refuses one): a name stored with one, from
        # before the forms refused it, would lose every message naming it.
        subject=" ".join(message.subject.split()),
        body=message.text_body,
        from_email=current_app.config["MAIL_DEFAULT_SENDER"],
        to=[message.to_address],
        headers={"Message-ID": f"<outbox-{message.id}@{domain}>"},
        connection=mail.get_connection(),
    )
    email.attach_alternative(message.html_body, "text/html")
    for attachment in message.attachments or []:
        email.attach(attachment["filename"], attachment["content"], attachment["content_type"])
    return email


# --- delivery after the commit ----------------------------------------------------------------


def _queue_delivery(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT was released: the outer one goes on
        return
    queued = session.info.pop(_QUEUED_KEY, None)
    committed = [message_id for message_id in map(_committed_id, queued or ()) if message_id]
    if committed:
        current_app.extensions["tasks"].queue_mail_delivery(committed)


def _committed_id(message: OutboxMessage | int) -> int | None:
    if isinstance(message, int):  # inserted by its own statement; if a savepoint rolled it
        return message  # back, its delivery finds no row to claim and sends nothing
    # The identity, not `message.id`: the commit expired the message, and reading an attribute
    # would load it again. A message whose savepoint rolled back has none.
    state = sa.inspect(message)
    return state.identity[0] if state.has_identity else None


def _forget_queued(session: Session, *args: Any) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT was rolled back: the outer work stands
        return
    session.info.pop(_QUEUED_KEY, None)


def init_outbox(app: Any) -> None:
    """Queue each committed message for delivery; forget those of rolled-back work."""
    mail.init_app(app)
    if not sa.event.contains(PortalSession, "after_commit", _queue_delivery):
        sa.event.listen(PortalSession, "after_commit", _queue_delivery)
        sa.event.listen(PortalSession, "after_rollback", _forget_queued)
