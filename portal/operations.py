"""Operations commands: `flask db-backup`. The README's upgrade procedure builds on it."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy.engine import make_url

from portal.config import PROJECT_ROOT
from portal.extensions import db


def register_operations(app: Flask) -> None:
    app.cli.add_command(db_backup)


@click.command("db-backup")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Backup file (default: backups/portal-<UTC time>.<sqlite|dump>).",
)
def db_backup(output: Path | None) -> None:
    """Back up the database: SQLite's online backup API, or pg_dump's custom format."""
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if url.get_backend_name() == "sqlite":
        target = output or PROJECT_ROOT / "backups" / f"portal-{stamp}.sqlite"
        _backup_sqlite(url.database or "", target)
    elif url.get_backend_name() == "postgresql":
        target = output or PROJECT_ROOT / "backups" / f"portal-{stamp}.dump"
        _backup_postgres(url, target)
    else:
        raise click.ClickException(f"No backup method for {url.get_backend_name()}.")
    click.echo(f"Backup written to {target}")


def _backup_sqlite(database: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    db.session.close()
    with sqlite3.connect(database) as source, sqlite3.connect(target) as copy:
        source.backup(copy)


def _backup_postgres(url, target: Path) -> None:  # type: ignore[no-untyped-def]
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise click.ClickException("pg_dump is not installed; install the PostgreSQL client.")
    target.parent.mkdir(parents=True, exist_ok=True)
    plain_url = url.set(drivername="postgresql").render_as_string(hide_password=False)
    result = subprocess.run(  # noqa: S603 - fixed program, no shell
        [pg_dump, "--format=custom", "--no-owner", f"--file={target}", plain_url],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise click.ClickException(f"pg_dump failed: {result.stderr.strip()}")
