"""The Docker image's steps, proven without a Docker engine: what it copies exists, what it runs
is the set-up script CI runs, and gunicorn accepts its configuration with production settings."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
import types
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_everything_the_image_copies_from_the_repository_exists() -> None:
    missing = []
    for line in DOCKERFILE.splitlines():
        if not line.startswith("COPY ") or "--from=" in line:
            continue
        *sources, _target = line.split()[1:]
        missing += [src for src in sources if not (ROOT / src).exists()]
    assert missing == []


def test_the_image_installs_with_the_same_set_up_script_as_ci() -> None:
    assert re.search(r"^RUN .*scripts/setup\.sh", DOCKERFILE, re.MULTILINE)
    assert "scripts/setup.sh" in (ROOT / "scripts" / "test.sh").read_text()


def test_the_image_runs_as_a_non_root_user_with_a_healthcheck() -> None:
    assert re.search(r"^USER (?!root)\w+", DOCKERFILE, re.MULTILINE)
    assert "HEALTHCHECK" in DOCKERFILE and "/healthz" in DOCKERFILE


def test_gunicorn_accepts_its_config_and_loads_the_app_in_production(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PORTAL_ENV": "production",
        "SECRET_KEY": "x" * 40,
        "DATABASE_URL": "postgresql://db.invalid/portal",
        "STRIPE_SECRET_KEY": "sk_test_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_y",
        "RATELIMIT_STORAGE_URI": "redis://redis.invalid:6379",
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "--check-config", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("workers", "refused"), [("2", True), ("1", False)])
def test_production_refuses_per_process_rate_limit_counters_with_more_than_one_worker(
    workers: str, refused: bool
) -> None:
    env = {
        **os.environ,
        "PORTAL_ENV": "production",
        "SECRET_KEY": "x" * 40,
        "DATABASE_URL": "postgresql://db.invalid/portal",
        "STRIPE_SECRET_KEY": "sk_test_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_y",
        "RATELIMIT_STORAGE_URI": "memory://",
        "GUNICORN_WORKERS": workers,
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "--check-config", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode != 0) is refused, result.stderr
    assert ("RATELIMIT_STORAGE_URI must be a store all 2 workers share" in result.stderr) is refused


def test_production_image_refuses_to_start_with_unsafe_settings() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SECRET"))}
    env.update({"PORTAL_ENV": "production", "DATABASE_URL": "sqlite:///x.db"})
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "--check-config", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "Refusing to start in production" in result.stderr


def test_gunicorn_compiles_every_template_before_forking_so_workers_read_none(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gunicorn's `when_ready` runs in the master, after the app is loaded, before any fork."""
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    wsgi = types.ModuleType("wsgi")
    wsgi.app = app  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "wsgi", wsgi)
    hooks["when_ready"](None)

    def read_again(*_args: object) -> None:
        raise AssertionError("a template was read and compiled again")

    monkeypatch.setattr(app.jinja_env.loader, "get_source", read_again)
    names = app.jinja_env.list_templates()
    assert names and all(app.jinja_env.get_template(name) for name in names)
    for path in ("/", "/account/login", "/account/signup", "/no-such-page"):
        assert client.get(path).status_code in (200, 404)
