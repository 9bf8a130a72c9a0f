"""Pieces the benchmark scripts share: free loopback ports, the portal under gunicorn, signing in.

Everything listens on and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin

import psycopg
import pyotp
import requests

ROOT = Path(__file__).resolve().parent.parent
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def portal_environment(database_url: str, settings: dict[str, str]) -> dict[str, str]:
    """The environment of a production-mode portal on loopback (plain HTTP), plus `settings`."""
    return {
        **os.environ,
        "PORTAL_ENV": "production",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(32),
        "SESSION_COOKIE_SECURE": "0",  # plain HTTP on loopback
        "LOGIN_RATE_LIMIT": "1000 per minute",
        **settings,
    }


def start_gunicorn(
    env: dict[str, str],
    port: int,
    workers: int,
    *,
    log: IO[bytes] | int | None = subprocess.DEVNULL,
    wait_seconds: float = 20,
) -> subprocess.Popen[bytes]:
    """The portal under gunicorn with the project's `gunicorn.conf.py` on 127.0.0.1:`port`, once
    it answers.

    Production keeps the throttles' counters and the task queue in Redis (`docs/scaling.md`):
    per-process counters are refused with more than one worker, and a queue in a SQLite file
    makes every worker wait for that file's one write lock. Unless `env` names a Redis for
    each, a throwaway Redis is started for the run and stopped with gunicorn.
    """
    redis = None
    stores = {"RATELIMIT_STORAGE_URI": 0, "REDIS_URL": 1}  # the database of each in that Redis
    missing = [key for key in stores if not env.get(key, "").startswith("redis")]
    if missing:
        redis_port = free_port()
        redis = start_redis(redis_port)
        env = {**env, **{key: f"redis://127.0.0.1:{redis_port}/{stores[key]}" for key in missing}}
    try:
        process = serve_wsgi(
            "wsgi:app", ROOT / "gunicorn.conf.py", env, port, workers, log, wait_seconds
        )
    except BaseException:
        stop(redis)
        raise
    if redis is not None:
        _companions[process.pid] = redis
    return process


def serve_wsgi(
    app: str,
    config: Path,
    env: dict[str, str],
    port: int,
    workers: int,
    log: IO[bytes] | int | None = subprocess.DEVNULL,
    wait_seconds: float = 20,
) -> subprocess.Popen[bytes]:
    """gunicorn serving `app` (`module:name`, from the project's folder) with the settings in
    `config` and `workers` workers on 127.0.0.1:`port`, no access log, once `/healthz` answers."""
    process = subprocess.Popen(  # noqa: S603
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "-c",
            str(config),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            app,
        ],
        cwd=ROOT,
        env={**env, "GUNICORN_ACCESS_LOG": "off", "GUNICORN_WORKERS": str(workers)},
        stdout=log,
        stderr=log,
    )
    wait_until_up(f"http://127.0.0.1:{port}/healthz", process, wait_seconds, "gunicorn")
    return process


# Processes started for another one (a Redis for a gunicorn), stopped with it.
_companions: dict[int, subprocess.Popen[bytes]] = {}


def start_redis(port: int, wait_seconds: float = 10) -> subprocess.Popen[bytes]:
    """A throwaway Redis on 127.0.0.1:`port`, keeping nothing on disk, once it answers."""
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    process = subprocess.Popen(  # noqa: S603
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"redis-server exited with status {process.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return process
        except OSError:
            pass
        time.sleep(0.05)
    stop(process)
    raise SystemExit(f"redis-server did not answer on port {port} within {wait_seconds:.0f} s")


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float, name: str) -> None:
    """Return once `url` answers; otherwise stop `process` (whatever went wrong) and exit."""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"{name} exited with status {process.returncode} while starting")
            try:
                if requests.get(url, timeout=2).ok:
                    return
            except requests.RequestException:  # not listening yet, or still booting its workers
                pass
            time.sleep(0.2)
        raise SystemExit(f"{name} did not answer {url} within {seconds:.0f} s")
    except BaseException:
        stop(process)
        raise


def stop(process: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    """Ask a process we started to stop (SIGTERM), then kill it if it does not."""
    if process is None:
        return
    companion = _companions.pop(process.pid, None)
    if companion is not None:
        try:
            stop(process, timeout)
        finally:
            stop(companion, timeout)
        return
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def csrf_token(html: str) -> str:
    match = CSRF.search(html)
    if not match:
        raise ValueError("no CSRF token on the page")
    return match.group(1)


# Sign-in sessions are bound to the client's address and user agent (Flask-Login's "strong"
# protection), so every client of a benchmark sends this one.
USER_AGENT = "portal-benchmark/1"


def login(base: str, email: str, password: str, *, totp_secret: str | None = None) -> str:
    """Sign in over HTTP, answering the code step with `totp_secret`'s code when it is asked;
    the session's cookies as one `Cookie` header value."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    page = session.get(f"{base}/account/login", timeout=10)
    response = session.post(
        f"{base}/account/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(page.text)},
        allow_redirects=False,
        timeout=10,
    )
    if response.status_code == 303 and response.headers["Location"].endswith("/login/code"):
        if totp_secret is None:
            raise SystemExit(f"{email} signs in with a second factor: pass its key")
        page = session.get(urljoin(base, response.headers["Location"]), timeout=10)
        response = session.post(
            page.url,
            data={"code": pyotp.TOTP(totp_secret).now(), "csrf_token": csrf_token(page.text)},
            allow_redirects=False,
            timeout=10,
        )
    if response.status_code != 303:
        raise SystemExit(f"Could not sign in as {email}: {response.status_code}")
    # Follow the redirect as a browser does: the first page after signing in stores the session's
    # CSRF token in its cookie. Replaying the cookie from before that page would make every
    # measured request store the token again and send a new cookie, which no browser does.
    session.get(urljoin(base, response.headers["Location"]), timeout=10).raise_for_status()
    return "; ".join(f"{c.name}={c.value}" for c in session.cookies)


def signed_payment_succeeded(
    event_id: str, intent_id: str, booking_id: int, secret: str, timestamp: int
) -> tuple[bytes, str]:
    """A `payment_intent.succeeded` event for a generated booking awaiting its payment ($100.00,
    a $20.00 fee), as Stripe sends it: the body, and its `Stripe-Signature` header."""
    event: dict[str, Any] = {
        "id": event_id,
        "object": "event",
        "type": "payment_intent.succeeded",
        "api_version": "2026-10-28.endive",
        "created": timestamp,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "amount": 10000,
                "currency": "usd",
                "status": "succeeded",
                "application_fee_amount": 2000,
                "metadata": {"booking_id": str(booking_id)},
                "latest_charge": None,
            }
        },
    }
    body = json.dumps(event, separators=(",", ":")).encode()
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={timestamp},v1={mac}"


def server_processes(url: str, application: str) -> list[int]:
    """The PostgreSQL server processes serving the connections named `application`."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application,)
        ).fetchall()
    return [row[0] for row in rows]


def cpu_seconds(pids: list[int]) -> float:
    """The CPU time the processes `pids` have used so far (`/proc/PID/schedstat`)."""
    return sum(int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) for pid in pids) / 1e9


def children(parent: int) -> list[int]:
    """The processes whose parent is `parent` (a gunicorn master's workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def postgres_processes() -> list[int]:
    """Every PostgreSQL server process on this machine: the backends serving connections and
    the server's own (WAL writer, checkpointer, autovacuum), whose work the writes cause too."""
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                found.append(int(comm.parent.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


class CpuMeter:
    """The CPU the web server's workers and the PostgreSQL server use between `start` and `stop`,
    from `/proc/PID/schedstat`, for the cost of one request or event on each side.

    The web side is the gunicorn master `master` and its workers; the database side every
    `postgres` process, so run it on the database's machine, with nothing else using that
    server. A process that starts in between counts from zero; one that ends in between is not
    counted (gunicorn's workers are recycled after tens of thousands of requests, not within
    a measurement).
    """

    def __init__(self, master: int) -> None:
        self.master = master
        self._started: dict[str, dict[int, int]] = {}

    def _read(self) -> dict[str, dict[int, int]]:
        groups = {
            "web": [self.master, *children(self.master)],
            "database": postgres_processes(),
        }
        return {name: _nanoseconds(pids) for name, pids in groups.items()}

    def start(self) -> None:
        self._started = self._read()

    def stop(self) -> dict[str, float]:
        """CPU seconds of each side since `start`."""
        ended = self._read()
        return {
            name: sum(used - self._started[name].get(pid, 0) for pid, used in ended[name].items())
            / 1e9
            for name in ended
        }


def _nanoseconds(pids: list[int]) -> dict[int, int]:
    used = {}
    for pid in pids:
        try:
            used[pid] = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
    return used
