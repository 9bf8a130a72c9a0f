"""Health for load balancers and orchestrators.

`/healthz`: the process answers. `/readyz`: this process can serve, that is its database
answers and its schema is at the newest migration; 503 with the failing part otherwise.

Stripe's state is in `/readyz`'s body (and on the admin's system page) but never in its status:
during a Stripe outage most pages still work, and an orchestrator that took every replica out of
service for it would turn a partial outage into a whole one. Neither answer says more than
ok/failing, so both can be public.
"""

from __future__ import annotations

from flask import Blueprint, current_app
from sqlalchemy import text

from portal.extensions import db
from portal.security import PUBLIC, allow

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@allow(PUBLIC)
def healthz() -> tuple[dict[str, str], int]:
    return {"status": "ok"}, 200


@bp.get("/readyz")
@allow(PUBLIC)
def readyz() -> tuple[dict[str, str], int]:
    checks = system_checks()
    ready = all(checks[part] == "ok" for part in READINESS)
    return {"status": "ready" if ready else "not ready", **checks}, 200 if ready else 503


# What readiness depends on; the other checks are reported only.
READINESS = ("database", "migrations")


def system_checks() -> dict[str, str]:
    """Each part the portal depends on, as "ok", "failing" or "behind"."""
    return {
        "database": _database_answers(),
        "migrations": _migrations_at_head(),
        "stripe": _stripe_answers(),
    }


def _database_answers() -> str:
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means not ready
        current_app.logger.exception("Readiness: the database does not answer")
        return "failing"
    return "ok"


def _migrations_at_head() -> str:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    try:
        config = current_app.extensions["migrate"].migrate.get_config()
        heads = set(ScriptDirectory.from_config(config).get_heads())
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception:  # noqa: BLE001
        current_app.logger.exception("Readiness: could not read the migration state")
        return "failing"
    return "ok" if current == heads else "behind"


def _stripe_answers() -> str:
    from portal.stripe_gateway import GatewayError, ping

    try:
        ping()
    except GatewayError:
        return "failing"
    return "ok"
