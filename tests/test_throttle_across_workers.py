"""The sign-in throttle holds across processes: two real gunicorn workers, PostgreSQL, Redis.

Counters in each worker's memory let N workers take N times the attempts; with the shared store
production requires, the eleventh failure is refused whichever worker receives it.
"""

from __future__ import annotations

import re
import secrets
import shutil
from collections.abc import Iterator

import pytest
import requests
from flask import Flask

from benchmarks.common import free_port, start_gunicorn, start_redis, stop
from portal.models import User
from tests.conftest import is_postgres


@pytest.fixture
def redis_url() -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/test.sh installs it)")
    port = free_port()
    server = start_redis(port)
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop(server)


def test_the_eleventh_failed_sign_in_is_refused_across_two_gunicorn_workers(
    app: Flask, mentee: User, redis_url: str
) -> None:
    if not is_postgres(app):
        pytest.skip("needs PostgreSQL (production refuses SQLite)")
    env = {
        "PATH": "/usr/bin:/bin",
        "PORTAL_ENV": "production",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": secrets.token_hex(32),
        "SESSION_COOKIE_SECURE": "0",  # plain HTTP on loopback
        "STRIPE_SECRET_KEY": "sk_test_throttle",
        "STRIPE_API_BASE": "http://127.0.0.1:9",  # never called by a sign-in
        "STRIPE_WEBHOOK_SECRET": "whsec_throttle",
        "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_throttle_connect",
        "RATELIMIT_STORAGE_URI": redis_url,
    }
    port = free_port()
    gunicorn = start_gunicorn(env, port, workers=2)
    try:
        base = f"http://127.0.0.1:{port}"
        statuses = []
        for _ in range(11):
            # A new session (and connection) for each attempt, so the two workers share them.
            with requests.Session() as browser:
                page = browser.get(f"{base}/account/login", timeout=10)
                token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
                assert token, page.text[:300]
                answer = browser.post(
                    f"{base}/account/login",
                    data={
                        "email": mentee.email,
                        "password": "wrong password!",
                        "csrf_token": token.group(1),
                    },
                    allow_redirects=False,
                    timeout=10,
                )
                statuses.append(answer.status_code)
    finally:
        stop(gunicorn)
    assert statuses == [400] * 10 + [429]
