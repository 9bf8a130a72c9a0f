"""A reconciliation run over a period that reaches the calendar's last day (9999-12-31, as an
admin types "everything from a day on") is done like any other: it compares what it finds and
finishes, rather than failing before it reads anything and being retried to no end. Stripe is
the one fake at the gateway seam."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from portal.extensions import db
from portal.models import ReconciliationRun
from tests.admin.test_reconciliation import _start_run
from tests.admin.test_reconciliation import world as world  # the fixture


def test_a_period_to_the_calendars_last_day_is_reconciled(
    admin_client: FlaskClient, world: dict[str, Any]
) -> None:
    started = _start_run(admin_client, "2026-03-01", "9999-12-31")
    assert started.status_code == 303
    run = db.session.scalars(sa.select(ReconciliationRun)).one()
    assert run.status == "succeeded", run.error
    assert run.mismatch_count > 0  # it read both sides: the world holds disagreements
    page = admin_client.get(f"/admin/reconciliation/runs/{run.id}")
    assert page.status_code == 200 and 'data-problem="missing in portal"' in page.text
