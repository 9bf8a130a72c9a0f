"""A backup restored under a running portal: no kept page outlives it, and nothing restarts.

The README's procedure (`pg_restore --clean`) winds every counter back to its value in the
backup. Counters alone would then name two different states of the data, the one a process
kept before the restore and the one written after it; the database's generation in every
version (`portal/models/caching.py`) keeps them apart. PostgreSQL only: the restore is
`pg_dump` and `pg_restore` against a database of its own, while one app and its pool of
connections keep running.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from portal import create_app
from portal.coaches import services
from portal.extensions import db
from portal.models import Role, User
from tests.builders import make_connected_account, make_slot, make_user
from tests.conftest import PASSWORD, _postgres_server_url, _psycopg, login, make_app
from tests.payouts.conftest import earn

pytestmark = pytest.mark.skipif(
    _postgres_server_url() is None or shutil.which("pg_restore") is None,
    reason="needs PostgreSQL (TEST_DATABASE_URL) and pg_dump/pg_restore",
)


@pytest.fixture
def own_database() -> Iterator[str]:
    """A migrated database of this test's own, dropped after it."""
    from flask_migrate import upgrade

    server_url = _postgres_server_url()
    assert server_url is not None
    name = f"portal_restore_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(_psycopg(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = _psycopg(re.sub(r"/[^/?]*(\?|$)", f"/{name}\\1", server_url, count=1))
    try:
        migrating = create_app({"SQLALCHEMY_DATABASE_URI": url}, env_name="testing")
        with migrating.app_context():
            upgrade()
            db.engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _edit_headline(coach_id: int, headline: str) -> None:
    profile = services.coach_profile_for(coach_id)
    assert profile is not None
    profile.headline = headline
    db.session.commit()


def test_pages_kept_before_a_restore_are_never_shown_after_it(
    own_database: str, tmp_path: Path
) -> None:
    app: Flask = make_app(own_database)
    with app.app_context():
        coach = make_user(Role.COACH, password=PASSWORD, headline="Before the backup")
        make_connected_account(coach)
        make_slot(coach, hours_from_now=72)
        earn(coach, "100.00")
        coach_id, page = coach.id, f"/coaches/{coach.id}"
        visitor = app.test_client()
        dashboard = app.test_client()
        login(dashboard, coach)
        assert "Before the backup" in visitor.get(page).text
        assert "$100.00" in dashboard.get("/coach/earnings").text
        db.session.remove()

        backup = tmp_path / "portal.dump"
        subprocess.run(  # noqa: S603 - the README's backup and restore, verbatim
            ["pg_dump", "--format=custom", f"--file={backup}", _libpq(own_database)],  # noqa: S607
            check=True,
        )

        # After the backup: each counter moves one step, and the pages are kept under it.
        _edit_headline(coach_id, "Written after the backup, then lost")
        earn(db.session.get(User, coach_id), "70.00")
        assert "then lost" in visitor.get(page).text
        assert "$70.00" in dashboard.get("/coach/earnings").text
        db.session.remove()

        subprocess.run(  # noqa: S603
            [  # noqa: S607
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "-d",
                _libpq(own_database),
                str(backup),
            ],
            check=True,
        )

        # The same app, its processes and pool untouched: it shows what the backup holds...
        assert "Before the backup" in visitor.get(page).text
        text = dashboard.get("/coach/earnings").text
        assert "$100.00" in text and "$70.00" not in text
        # ...and each counter moving the same step again shows the new data, not the kept.
        _edit_headline(coach_id, "Written after the restore")
        earn(db.session.get(User, coach_id), "55.00")
        assert "Written after the restore" in visitor.get(page).text
        text = dashboard.get("/coach/earnings").text
        assert "$55.00" in text and "$70.00" not in text
        db.session.remove()
        db.engine.dispose()
