"""A yardstick for webhook ingest: a signed event's least cost on this machine, measured by
`run.py` right after the portal's ingest with the same senders and events.

One Flask route where the portal has its own, `POST /webhooks/stripe`: the `Stripe-Signature`
of the raw body checked against the endpoint secret by the portal's own `verify_event`
(stripe-python's `WebhookSignature.verify_header`, then the body parsed once), 400 when that
fails; then, in one transaction on the worker's one psycopg connection (no ORM, no pool), the
event's id inserted (`ON CONFLICT DO NOTHING`) and, when it was new, one row that every event
updates counted up; 200. `GET /healthz` answers for the start-up check and for a sender out of
events. Nothing else: no request hooks, no session, no logging.

It keeps its own two tables, which `run.py` makes before the measurement and drops after it
(`create_tables`, `drop_tables`), never the portal's. Under gunicorn with the portal's settings
(`reference_gunicorn.conf.py`), it reads `DATABASE_URL` (a libpq URL) and
`STRIPE_WEBHOOK_SECRET` from the environment.
"""

from __future__ import annotations

import os

import psycopg
from flask import Flask, request

from portal.stripe_gateway.webhooks import InvalidWebhook, verify_event

EVENTS = "reference_ingest_events"
COUNTER = "reference_ingest_counter"
TEXT = {"Content-Type": "text/plain; charset=utf-8"}
INSERT = f"INSERT INTO {EVENTS} (stripe_event_id) VALUES (%s) ON CONFLICT DO NOTHING"  # noqa: S608
UPDATE = f"UPDATE {COUNTER} SET events = events + 1 WHERE id = 1"  # noqa: S608

app = Flask(__name__)
# Opened by the worker's first event: gunicorn imports this module in its master, which must
# not hold a connection its forked workers would share.
_connection: psycopg.Connection | None = None


@app.post("/webhooks/stripe")
def receive() -> tuple[str, int, dict[str, str]]:
    try:
        event = verify_event(
            request.get_data(cache=False),
            request.headers.get("Stripe-Signature"),
            os.environ["STRIPE_WEBHOOK_SECRET"],
        )
    except InvalidWebhook as exc:
        return exc.message, 400, TEXT
    conn = _connect()
    with conn.transaction():
        if conn.execute(INSERT, (event["id"],)).rowcount:
            conn.execute(UPDATE)
    return "processed", 200, TEXT


@app.get("/healthz")
def healthz() -> tuple[str, int, dict[str, str]]:
    return "ok", 200, TEXT


def _connect() -> psycopg.Connection:
    global _connection  # noqa: PLW0603 - the worker's one connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    return _connection


def create_tables(database_url: str) -> None:
    """The reference's two tables, empty, the counter's row at zero (any left over dropped)."""
    drop_tables(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {EVENTS} (stripe_event_id text PRIMARY KEY,"
            " received_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(f"CREATE TABLE {COUNTER} (id integer PRIMARY KEY, events bigint NOT NULL)")
        conn.execute(f"INSERT INTO {COUNTER} (id, events) VALUES (1, 0)")  # noqa: S608


def counted(database_url: str) -> tuple[int, int]:
    """The events the reference recorded, and what its counter says."""
    with psycopg.connect(database_url) as conn:
        events = conn.execute(f"SELECT count(*) FROM {EVENTS}").fetchone()[0]  # noqa: S608
        counter = conn.execute(f"SELECT events FROM {COUNTER} WHERE id = 1").fetchone()[0]  # noqa: S608
    return events, counter


def drop_tables(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {EVENTS}, {COUNTER}")
