"""A bounded load run on loopback: many mentees book and pay through the offline Stripe stand-in
while coaches read their dashboards and Stripe delivers events twice and out of order; then
check that nothing was lost or doubled.

    .venv/bin/python benchmarks/load.py [--mentees 80] [--coaches 10] [--threads 16] ...

What it does, all on 127.0.0.1 and every loop bounded in count and time:

1. Makes a fresh PostgreSQL database of its own (`portal_load`, dropped at the end unless
   `--keep-database`), migrated with `flask db upgrade`.
2. Starts a throwaway Redis (throttles and the task queue), the stand-in (`python -m
   stripe_sandbox`) and the portal under gunicorn (`gunicorn.conf.py`, production settings,
   plain HTTP) pointed at each other.
3. Sets coaches up through the portal as people would: sign up, publish a priced profile, add
   open times, "Get paid" and the stand-in's hosted onboarding forms (the portal learns that
   charges are enabled from `account.updated`).
4. Runs, at once: mentees (threads) signing up, picking one of a coach's first open times
   (two mentees on one time happens and must end in a message, not an error), booking, paying on
   the stand-in's Checkout page (mostly 4242..., some declines, some leave by the cancel link),
   coming back to the portal, and some cancelling a paid booking for a refund; coaches reading
   their dashboards in a loop; a chaos thread holding webhooks back and delivering them shuffled
   and twice (from two threads at once), and asking for redeliveries of past events.
5. Flushes the webhooks, moves the stand-in's clock past the funds' hold, and checks: no 5xx from
   the portal (pages and webhook deliveries), every event the stand-in made is processed or
   ignored in `stripe_events`, each paid booking has one transaction and each Stripe refund one
   refund row, amounts agree with the stand-in's charges and refunds, `flask ledger verify` and
   `flask reconcile` pass; then ten failed sign-ins to one account, spread over every server,
   and the eleventh must be refused (429). Prints a table, writes JSON, exits 1 on any failure.

With `--servers 2` the portal runs twice, on two ports (standing in for two machines), sharing
the one PostgreSQL database and one throwaway Redis (rate-limit counters and the task queue,
`REDIS_URL`). Every request a person makes goes to the next server in turn, as behind a
round-robin load balancer, the stand-in sends platform events to one server and Connect events
to the other, and the same checks must pass.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    ROOT,
    csrf_token,
    free_port,
    portal_environment,
    start_gunicorn,
    start_redis,
    stop,
    wait_until_up,
)

PASSWORD = "load-password-1"  # noqa: S105 - throwaway accounts in a throwaway database
PLATFORM_SECRET = "whsec_load_platform"  # noqa: S105
CONNECT_SECRET = "whsec_load_connect"  # noqa: S105
API_KEY = "sk_test_load"
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
PRICES = ["60.00", "85.50", "120.00", "149.99"]
REDIRECTS = (301, 302, 303, 307, 308)
THROTTLE = "10 per minute"  # failed sign-ins per account and per address (production's)


class JourneyError(Exception):
    """A step answered something a person would not expect; the run fails."""


# --- counting requests ------------------------------------------------------------------------


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    records: list[tuple[str, str, int, float]] = field(default_factory=list)  # target, route...
    server_errors: list[str] = field(default_factory=list)
    journey_errors: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)

    def add(self, target: str, route: str, status: int, ms: float, url: str) -> None:
        with self.lock:
            self.records.append((target, route, status, ms))
            if status >= 500:
                self.server_errors.append(f"{status} {url}")

    def count(self, outcome: str, n: int = 1) -> None:
        with self.lock:
            self.outcomes[outcome] += n

    def failed(self, message: str) -> None:
        with self.lock:
            self.journey_errors.append(message)


class Portals:
    """The portal's servers, taken in turn: a round-robin load balancer on the client's side."""

    def __init__(self, bases: list[str]) -> None:
        self.bases = bases
        self._turn = itertools.cycle(bases)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return next(self._turn)

    def owns(self, url: str) -> bool:
        return any(url.startswith(base) for base in self.bases)

    def route(self, url: str) -> str:
        """`url` sent to the next server: a path, or a link to any of them (a redirect's)."""
        for base in self.bases:
            if url.startswith(base):
                url = url[len(base) :]
                break
        return urljoin(self.next(), url) if url.startswith("/") or not url else url


def route_of(path: str) -> str:
    """`/bookings/17/cancel` -> `/bookings/<id>/cancel`: a name to group latencies by."""
    return "/".join(
        "<id>" if re.search(r"\d", part) or len(part) > 24 else part for part in path.split("/")
    )


class Browser:
    """One person's cookies; every request counted, redirects followed by hand (each counted)."""

    def __init__(self, stats: Stats, portals: Portals, deadline: float, mailbox: str) -> None:
        self.http = requests.Session()
        self.http.trust_env = False
        self.stats = stats
        self.portals = portals
        self.deadline = deadline
        self.mailbox = mailbox  # the database whose outbox holds the mail people are sent

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if time.monotonic() > self.deadline:
            raise TimeoutError("the load phase's time is up")
        url = self.portals.route(url)
        started = time.perf_counter()
        response = self.http.request(method, url, allow_redirects=False, timeout=60, **kwargs)
        elapsed = (time.perf_counter() - started) * 1000
        parts = urlsplit(url)
        target = "portal" if self.portals.owns(url) else "stripe"
        self.stats.add(
            target, f"{method} {route_of(parts.path)}", response.status_code, elapsed, url
        )
        return response

    def twin(self) -> Browser:
        """The same person in a second tab: the same cookies, its own connection."""
        other = Browser(self.stats, self.portals, self.deadline, self.mailbox)
        other.http.cookies.update(self.http.cookies)
        return other

    def get(self, url: str) -> requests.Response:
        return self.request("GET", url)

    def post(self, url: str, data: dict[str, str]) -> requests.Response:
        return self.request("POST", url, data=data)

    def follow(self, response: requests.Response, hops: int = 5) -> requests.Response:
        for _ in range(hops):
            if response.status_code not in REDIRECTS:
                return response
            response = self.get(urljoin(response.url, response.headers["Location"]))
        raise JourneyError(f"too many redirects from {response.url}")

    def expect(self, response: requests.Response, *statuses: int) -> requests.Response:
        if response.status_code not in statuses:
            raise JourneyError(
                f"{response.request.method} {response.url} answered {response.status_code},"
                f" expected {statuses}: {_text_of(response)[:300]}"
            )
        return response

    def form(self, page: str, action: str, data: dict[str, str]) -> requests.Response:
        """Open `page`, take its CSRF token, POST `data` to `action` (not following)."""
        html = self.expect(self.get(page), 200).text
        return self.post(action, {"csrf_token": csrf_token(html), **data})

    def sign_up(self, name: str, email: str, role: str) -> requests.Response:
        response = self.form(
            "/account/signup",
            "/account/signup",
            {"name": name, "email": email, "password": PASSWORD, "role": role},
        )
        self.expect(response, 303)  # sign-up signs nobody in: sign in as a person would
        # Confirm the address from the mailed link (a coach cannot get paid before), by its button
        link = self.confirmation_link(email)
        confirmed = self.expect(self.form(link, link, {}), 303)
        if "is confirmed" not in self.expect(self.follow(confirmed), 200).text:
            raise JourneyError(f"{email}'s confirmation link did not confirm it")
        signed_in = self.form(
            "/account/login", "/account/login", {"email": email, "password": PASSWORD}
        )
        return self.expect(signed_in, 303)

    def confirmation_link(self, email: str) -> str:
        """The path of the link in the confirmation mailed to `email` (read from the outbox)."""
        with psycopg.connect(self.mailbox) as conn:
            row = conn.execute(
                "SELECT text_body FROM outbox WHERE to_address = %s"
                " AND kind = 'account.verify_email' ORDER BY id DESC LIMIT 1",
                (email.lower(),),
            ).fetchone()
        found = re.search(r"/account/verify/[^\s\"'<>]+", row[0]) if row else None
        if found is None:
            raise JourneyError(f"no confirmation link was mailed to {email}")
        return found.group(0)


def _text_of(response: requests.Response) -> str:
    text = re.sub(r"<[^>]+>", " ", response.text)
    return re.sub(r"\s+", " ", text).strip()


def _flash(html: str) -> str:
    match = re.search(r'class="flash flash-(\w+)"[^>]*>(.*?)<', html, re.S)
    return f"{match.group(1)}: {match.group(2).strip()}" if match else ""


# --- the stand-in -----------------------------------------------------------------------------


class Stripe:
    """The stand-in's API and control endpoints, as the platform (no browser)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.trust_env = False

    def control(self, path: str, **body: Any) -> dict[str, Any]:
        response = self.http.post(f"{self.url}/_sandbox/{path}", json=body, timeout=240)
        response.raise_for_status()
        return response.json()

    def held(self) -> list[str]:
        response = self.http.get(
            f"{self.url}/_sandbox/deliveries", params={"event": "-"}, timeout=30
        )
        response.raise_for_status()
        return response.json()["held"]

    def deliveries(self) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.url}/_sandbox/deliveries", timeout=60)
        response.raise_for_status()
        return response.json()["deliveries"]

    def list_all(
        self, path: str, account: str | None = None, max_pages: int = 2000
    ) -> Iterator[dict[str, Any]]:
        """Every object of a list endpoint, following `starting_after` (newest first)."""
        headers = {"Authorization": f"Bearer {API_KEY}"}
        if account:
            headers["Stripe-Account"] = account
        params: dict[str, Any] = {"limit": 100}
        for _ in range(max_pages):
            response = self.http.get(
                f"{self.url}/v1/{path}", params=params, headers=headers, timeout=60
            )
            response.raise_for_status()
            page = response.json()
            yield from page["data"]
            if not page["has_more"] or not page["data"]:
                return
            params["starting_after"] = page["data"][-1]["id"]
        raise RuntimeError(f"/v1/{path} has more than {max_pages} pages")

    def flush(self, rounds: int = 10) -> None:
        """Deliver everything queued, waiting (bounded) for the answers."""
        for _ in range(rounds):
            answer = self.control("webhooks/flush", timeout=60)
            if answer["drained"]:
                return
        raise RuntimeError("the stand-in's webhooks did not drain")


# --- the people -------------------------------------------------------------------------------


@dataclass
class Coach:
    email: str
    browser: Browser
    id: int = 0
    price: str = ""


def set_up_coach(n: int, stats: Stats, stack: Stack, slots: int, deadline: float) -> Coach:
    """Sign up, publish a priced profile, offer open times and onboard with Stripe, by HTTP."""
    browser = Browser(stats, stack.portals, deadline, stack.database_url)
    coach = Coach(f"coach{n}@load.example", browser, price=PRICES[n % len(PRICES)])
    browser.sign_up(f"Coach {n}", coach.email, "coach")
    saved = browser.form(
        "/coach/profile",
        "/coach/profile",
        {
            "headline": f"Load coach number {n}",
            "bio": "Here to be booked many times at once.",
            "session_price": coach.price,
            "currency": "USD",
            "session_minutes": "60",
            "is_published": "y",
        },
    )
    page = browser.expect(browser.follow(browser.expect(saved, 303)), 200)
    if "Your profile is saved." not in page.text:
        raise JourneyError(f"coach {n}'s profile was not saved: {_flash(page.text)}")
    first = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    for s in range(slots):
        starts = first + timedelta(days=s // 8, hours=2 * (s % 8))
        added = browser.form(
            "/coach/profile",
            "/coach/slots",
            {"starts_at": starts.strftime("%Y-%m-%dT%H:%M"), "duration_minutes": "60"},
        )
        page = browser.expect(browser.follow(browser.expect(added, 303)), 200)
        if "flash-error" in page.text:
            raise JourneyError(f"coach {n} could not add a time: {_flash(page.text)}")

    # Get paid: the portal makes the Express account and sends the coach to Stripe's forms.
    started = browser.expect(
        browser.form("/coach/earnings/get-paid", "/coach/earnings/get-paid", {"country": "US"}),
        303,
    )
    link = browser.expect(browser.get(started.headers["Location"]), 303)
    personal_url = urljoin(link.url, link.headers["Location"])
    personal = browser.post(
        personal_url,
        {"first_name": "Grace", "last_name": f"Hopper{n}", "dob": "1980-01-02", "tos": "1"},
    )
    bank_url = urljoin(personal_url, browser.expect(personal, 303).headers["Location"])
    bank = browser.post(bank_url, {"routing_number": "110000000", "account_number": "000123456789"})
    back = browser.expect(browser.follow(browser.expect(bank, 303)), 200)
    if "Welcome back" not in back.text:
        raise JourneyError(f"coach {n} did not come back to the portal from onboarding")
    return coach


@dataclass
class Plan:
    bookings: int
    decline_share: float
    abandon_share: float
    cancel_share: float


def mentee_journey(
    n: int, stats: Stats, stack: Stack, coach_ids: list[int], plan: Plan, deadline: float
) -> None:
    rng = random.Random(n)  # noqa: S311 - load shape, not secrets
    browser = Browser(stats, stack.portals, deadline, stack.database_url)
    try:
        browser.sign_up(f"Mentee {n}", f"mentee{n}@load.example", "mentee")
        for _ in range(plan.bookings):
            booking_id = _book_one(browser, rng, coach_ids, plan, stats)
            if booking_id and rng.random() < plan.cancel_share:
                _cancel(browser, booking_id, stats, double_click=rng.random() < 0.3)
    except TimeoutError:
        stats.count("mentees cut short by the time limit")
    except (JourneyError, requests.RequestException, ValueError, KeyError) as exc:
        stats.failed(f"mentee {n}: {type(exc).__name__}: {exc}")


def _book_one(
    browser: Browser, rng: random.Random, coach_ids: list[int], plan: Plan, stats: Stats
) -> int | None:
    """Pick an open time (trying again when someone else took it) and go through Checkout."""
    for _ in range(4):  # a mentee gives up after a few taken or missing times
        coach_id = rng.choice(coach_ids)
        page = browser.expect(browser.get(f"/coaches/{coach_id}"), 200).text
        slots = re.findall(r'action="/slots/(\d+)/book"', page)
        if not slots:
            stats.count("coach page without open times")
            continue
        slot = rng.choice(slots[:3])  # the first few: several mentees aim at the same times
        booked = browser.expect(
            browser.post(f"/slots/{slot}/book", {"csrf_token": csrf_token(page)}), 303
        )
        location = urljoin(booked.url, booked.headers["Location"])
        if browser.portals.owns(location):
            back = browser.expect(browser.follow(booked), 200)
            message = _flash(back.text)
            if "taken" not in message and "no longer offered" not in message:
                raise JourneyError(f"booking slot {slot} came back without a reason: {message!r}")
            stats.count("slot taken by another mentee (message shown)")
            continue
        return _checkout(browser, rng, location, plan, stats)
    stats.count("mentee gave up finding a time")
    return None


def _checkout(
    browser: Browser, rng: random.Random, checkout_url: str, plan: Plan, stats: Stats
) -> int | None:
    page = browser.expect(browser.get(checkout_url), 200).text
    card = {"expiry": "12/34", "cvc": "123", "name": "Load Mentee"}
    if 'name="email"' in page:
        card["email"] = "payer@load.example"
    roll = rng.random()
    if roll < plan.abandon_share:
        return _abandon(browser, checkout_url, stats, "left Checkout by the cancel link")
    if roll < plan.abandon_share + plan.decline_share:
        declined = browser.expect(
            browser.post(checkout_url, {**card, "number": DECLINED_CARD}), 200
        )
        if "declined" not in declined.text.lower():
            raise JourneyError("a declined card did not say so on the Checkout page")
        stats.count("card declined")
        if rng.random() < 0.5:
            return _abandon(browser, checkout_url, stats, "left Checkout after a decline")
    paid = browser.expect(browser.post(checkout_url, {**card, "number": GOOD_CARD}), 303)
    return_url = paid.headers["Location"]
    if rng.random() < 0.2:  # the return page opened twice at once (a reload, a second tab)
        with ThreadPoolExecutor(1) as pool:
            second = pool.submit(browser.twin().get, return_url)
            returned = browser.expect(browser.get(return_url), 303)
            browser.expect(second.result(), 303)
        stats.count("return page opened twice at once")
    else:
        returned = browser.expect(browser.get(return_url), 303)
    booking_url = urljoin(returned.url, returned.headers["Location"])
    match = re.search(r"/bookings/(\d+)$", booking_url)
    if not match:
        raise JourneyError(f"the return page sent the mentee to {booking_url}")
    page = browser.expect(browser.get(booking_url), 200).text
    stats.count(
        "paid, page says booked and paid"
        if "booked and paid" in page
        else "paid, page still confirming"
    )
    return int(match.group(1))


def _abandon(browser: Browser, checkout_url: str, stats: Stats, outcome: str) -> None:
    left = browser.expect(browser.get(checkout_url + "/cancel"), 303)
    page = browser.expect(browser.follow(left), 200)
    if "nothing was charged" not in page.text:
        raise JourneyError(f"leaving Checkout said {_flash(page.text)!r}")
    stats.count(outcome)
    return None


def _cancel(browser: Browser, booking_id: int, stats: Stats, double_click: bool) -> None:
    """Cancel a paid booking for a refund; a double click sends the form twice at once."""
    page = f"/bookings/{booking_id}"
    # the booking's Cancel leads to its confirm page, which says what comes back
    token = csrf_token(browser.expect(browser.get(f"{page}/cancel"), 200).text)
    clicks = [browser, browser.twin()] if double_click else [browser]
    with ThreadPoolExecutor(len(clicks)) as pool:
        answers = list(pool.map(lambda b: b.post(f"{page}/cancel", {"csrf_token": token}), clicks))
    for click, answer in zip(clicks, answers, strict=True):
        after = click.expect(click.follow(click.expect(answer, 303)), 200)
        message = _flash(after.text)
        if not message.startswith("success") and "already canceled" not in message:
            raise JourneyError(f"cancelling booking {booking_id} said {message!r}")
    stats.count(
        "paid booking canceled by the mentee, double click (refund)"
        if double_click
        else "paid booking canceled by the mentee (refund)"
    )


def dashboard_reader(coach: Coach, stats: Stats, stop_at: threading.Event, pause: float) -> None:
    pages = ["/coach/earnings", "/coach/schedule", "/coach/earnings", "/coach/earnings/activity"]
    for n in range(100_000):
        if stop_at.is_set():
            return
        try:
            coach.browser.expect(coach.browser.get(pages[n % len(pages)]), 200)
        except TimeoutError:
            return
        except (JourneyError, requests.RequestException) as exc:
            stats.failed(f"coach {coach.email} dashboard: {exc}")
            return
        stats.count("dashboard pages read")
        stop_at.wait(pause)


def chaos(
    stripe: Stripe, stats: Stats, stop_at: threading.Event, seed: int, batch: int = 40
) -> None:
    """Hold webhooks back, then deliver some shuffled and twice, from two threads at once.

    At most `batch` held events a round: the stand-in sends a forced delivery inside the control
    request, so a long list would hold the request (and keep those events from `flush`).
    """
    rng = random.Random(seed)  # noqa: S311
    delivered: list[str] = []
    for _ in range(10_000):
        if stop_at.wait(rng.uniform(0.5, 2.0)):
            return
        try:
            stripe.control("webhooks/pause")
            stop_at.wait(rng.uniform(1.0, 3.0))
            held = stripe.held()[:batch]
            if held:
                ids = held + rng.sample(held, k=max(1, len(held) // 2))
                rng.shuffle(ids)
                halves = [ids[::2], ids[1::2] + rng.sample(held, k=min(3, len(held)))]
                with ThreadPoolExecutor(2) as pool:
                    answers = list(
                        pool.map(lambda part: stripe.control("webhooks/deliver", ids=part), halves)
                    )
                stats.count("events held and delivered out of order", len(held))
                stats.count(
                    "chaos deliveries (duplicates included)",
                    sum(len(a["deliveries"]) for a in answers),
                )
                delivered.extend(held)
            for event_id in rng.sample(delivered, k=min(5, len(delivered))):
                stripe.control(f"events/{event_id}/redeliver")
                stats.count("past events redelivered")
        except requests.RequestException as exc:
            stats.failed(f"chaos: {exc}")
        finally:
            try:
                stripe.control("webhooks/resume")
            except requests.RequestException as exc:
                stats.failed(f"chaos could not resume webhooks: {exc}")


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Stack:
    database_url: str
    env: dict[str, str]
    portals: Portals
    stripe: Stripe
    coaches: list[Coach] = field(default_factory=list)


def create_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flask(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [str(ROOT / ".venv/bin/flask"), "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_stand_in(
    port: int, platform_portal: str, connect_portal: str, available_after: int, log: Any
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(  # noqa: S603
        [
            str(ROOT / ".venv/bin/python"),
            "-m",
            "stripe_sandbox",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webhook-url",
            f"{platform_portal}/webhooks/stripe",
            "--connect-webhook-url",
            f"{connect_portal}/webhooks/stripe/connect",
            "--webhook-secret",
            PLATFORM_SECRET,
            "--connect-webhook-secret",
            CONNECT_SECRET,
            "--available-after",
            str(available_after),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    wait_until_up(f"http://127.0.0.1:{port}/_sandbox/clock", process, 20, "the Stripe stand-in")
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentees", type=int, default=80)
    parser.add_argument("--coaches", type=int, default=10)
    parser.add_argument("--threads", type=int, default=16, help="mentees at once")
    parser.add_argument("--slots-per-coach", type=int, default=12)
    parser.add_argument("--bookings-per-mentee", type=int, default=2)
    parser.add_argument("--decline-share", type=float, default=0.12)
    parser.add_argument("--abandon-share", type=float, default=0.12)
    parser.add_argument("--cancel-share", type=float, default=0.2)
    parser.add_argument("--workers", type=int, default=5, help="gunicorn workers per server")
    parser.add_argument(
        "--servers",
        type=int,
        choices=(1, 2),
        default=1,
        help="portal servers on their own ports, sharing PostgreSQL and one Redis",
    )
    parser.add_argument("--max-seconds", type=int, default=600, help="limit of the load phase")
    parser.add_argument("--available-after", type=int, default=30)
    parser.add_argument("--admin-database-url", default="postgresql:///postgres")
    parser.add_argument("--database", default="portal_load")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--seed", type=int, default=29)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "load-results.json")
    args = parser.parse_args()

    ready = subprocess.run(  # noqa: S603
        [str(ROOT / "scripts/postgres.sh")], capture_output=True, text=True, check=False
    )
    if ready.returncode != 0:
        raise SystemExit("No local PostgreSQL server answers (scripts/postgres.sh).")

    logs = Path(tempfile.mkdtemp(prefix="portal-load-"))
    portal_ports, stripe_port = [free_port() for _ in range(args.servers)], free_port()
    portals = Portals([f"http://127.0.0.1:{port}" for port in portal_ports])
    stripe_url = f"http://127.0.0.1:{stripe_port}"
    database_url = create_database(args.admin_database_url, args.database)
    env = portal_environment(
        database_url,
        {
            "STRIPE_SECRET_KEY": API_KEY,
            "STRIPE_API_BASE": stripe_url,
            "STRIPE_SANDBOX_PUBLIC_URL": stripe_url,
            "STRIPE_WEBHOOK_SECRET": PLATFORM_SECRET,
            "STRIPE_CONNECT_WEBHOOK_SECRET": CONNECT_SECRET,
            # Failed sign-ins only, as in production: the journeys never fail one, and the
            # throttle check at the end does, across every server.
            "LOGIN_RATE_LIMIT": THROTTLE,
            "SIGNUP_RATE_LIMIT": "100000 per minute",
        },
    )
    servers: list[subprocess.Popen[bytes]] = []
    stand_in = redis = None
    started_day = datetime.now(UTC).date()
    results: dict[str, Any] = {"settings": {k: str(v) for k, v in vars(args).items()}}
    try:
        # What every process on every machine shares: the throttles' counters and the task queue.
        redis_port = free_port()
        redis = start_redis(redis_port)
        env["RATELIMIT_STORAGE_URI"] = f"redis://127.0.0.1:{redis_port}/0"
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/1"
        migrated = flask(env, "db", "upgrade")
        if migrated.returncode != 0:
            raise SystemExit(f"flask db upgrade failed:\n{migrated.stderr}")
        with (logs / "stripe.log").open("wb") as stripe_log:
            stand_in = start_stand_in(
                stripe_port, portals.bases[0], portals.bases[-1], args.available_after, stripe_log
            )
            for n, port in enumerate(portal_ports, start=1):
                with (logs / f"portal-{n}.log").open("wb") as portal_log:
                    servers.append(
                        start_gunicorn(env, port, args.workers, log=portal_log, wait_seconds=120)
                    )
            stack = Stack(database_url, env, portals, Stripe(stripe_url))
            results.update(run_load(stack, args))
            results["checks"] = check(stack, results, started_day)
    finally:
        for server in servers:
            stop(server)
        stop(stand_in)
        stop(redis)
        if not args.keep_database:
            drop_database(args.admin_database_url, args.database)
    results["logs"] = str(logs)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_summary(results)
    if not all(c["ok"] for c in results["checks"]):
        sys.exit(1)


def run_load(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    stats = Stats()
    deadline = time.monotonic() + args.max_seconds
    started = time.perf_counter()
    with ThreadPoolExecutor(min(args.threads, args.coaches)) as pool:
        coaches = list(
            pool.map(
                lambda n: set_up_coach(n, stats, stack, args.slots_per_coach, deadline),
                range(1, args.coaches + 1),
            )
        )
    stack.stripe.flush()  # account.updated: the portal learns the coaches can take charges
    setup_seconds = time.perf_counter() - started
    with psycopg.connect(stack.database_url) as conn:
        ids = dict(conn.execute("SELECT email, id FROM users WHERE role = 'coach'").fetchall())
    for coach in coaches:
        coach.id = ids[coach.email]
    stack.coaches = coaches
    not_bookable = _coaches_not_bookable(stack.database_url)
    if not_bookable:
        raise SystemExit(f"Coaches not bookable after onboarding: {not_bookable}")
    setup_requests = len(stats.records)

    plan = Plan(args.bookings_per_mentee, args.decline_share, args.abandon_share, args.cancel_share)
    coach_ids = [c.id for c in coaches]
    stop_at = threading.Event()
    background = [
        threading.Thread(target=dashboard_reader, args=(c, stats, stop_at, 0.25), daemon=True)
        for c in coaches
    ]
    background.append(
        threading.Thread(target=chaos, args=(stack.stripe, stats, stop_at, args.seed), daemon=True)
    )
    load_started = time.perf_counter()
    for thread in background:
        thread.start()
    try:
        with ThreadPoolExecutor(args.threads) as pool:
            for future in [
                pool.submit(mentee_journey, n, stats, stack, coach_ids, plan, deadline)
                for n in range(1, args.mentees + 1)
            ]:
                future.result()
    finally:
        stop_at.set()
        for thread in background:
            thread.join(timeout=300)  # the chaos thread finishes its round of deliveries
    load_seconds = time.perf_counter() - load_started
    if any(thread.is_alive() for thread in background):
        stats.failed("a dashboard reader or the chaos thread did not stop within 300 s")

    # Everything Stripe holds is delivered; then the funds' hold passes and is delivered too.
    stack.stripe.control("webhooks/resume")
    stack.stripe.flush()
    stack.stripe.control("clock/advance", seconds=args.available_after + 60)
    stack.stripe.flush()

    load_records = stats.records[setup_requests:]
    return {
        "setup_seconds": round(setup_seconds, 1),
        "load_seconds": round(load_seconds, 1),
        "coaches": [{"id": c.id, "email": c.email, "price": c.price} for c in coaches],
        "outcomes": dict(sorted(stats.outcomes.items())),
        "requests": summarise(stats.records, load_records, load_seconds),
        "server_errors": stats.server_errors,
        "journey_errors": stats.journey_errors,
    }


def _coaches_not_bookable(database_url: str) -> list[int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT u.id FROM users u LEFT JOIN stripe_connected_accounts a ON a.user_id = u.id"
            " WHERE u.role = 'coach' AND (a.charges_enabled IS NOT TRUE)"
        ).fetchall()
    return [r[0] for r in rows]


def summarise(
    records: list[tuple[str, str, int, float]],
    load_records: list[tuple[str, str, int, float]],
    load_seconds: float,
) -> dict[str, Any]:
    by_class: dict[str, Counter[str]] = defaultdict(Counter)
    for target, _, status, _ in records:
        by_class[target][f"{status // 100}xx"] += 1
    routes: dict[str, list[float]] = defaultdict(list)
    for target, route, _, ms in load_records:
        if target == "portal":
            routes[route].append(ms)
    portal_load = [ms for target, _, _, ms in load_records if target == "portal"]
    return {
        "by_status_class": {t: dict(sorted(c.items())) for t, c in by_class.items()},
        "total": len(records),
        "load_phase_portal_requests": len(portal_load),
        "load_phase_portal_rps": round(len(portal_load) / load_seconds, 1) if load_seconds else 0,
        "load_phase_portal_latency_ms": _percentiles(portal_load),
        "routes": {
            route: {"count": len(ms), **_percentiles(ms)}
            for route, ms in sorted(routes.items(), key=lambda kv: -len(kv[1]))
        },
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"p50": round(values[0], 1) if values else 0.0, "p95": 0.0, "max": 0.0}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "max": round(max(values), 1)}


# --- the checks -------------------------------------------------------------------------------


def check(stack: Stack, results: dict[str, Any], started_day: Any) -> list[dict[str, Any]]:
    stripe = stack.stripe
    checks: list[dict[str, Any]] = []

    def record(name: str, ok: bool, detail: Any) -> None:
        checks.append({"check": name, "ok": bool(ok), "detail": detail})

    # 5xx: pages the people saw, and the portal's answers to Stripe's deliveries.
    deliveries = stripe.deliveries()
    delivery_classes = Counter(
        f"{d['status'] // 100}xx" if d["status"] else "no answer" for d in deliveries
    )
    webhook_5xx = [
        f"{d['status']} {d['type']} {d['event']} (attempt {d['attempt']})"
        for d in deliveries
        if d["status"] and d["status"] >= 500
    ]
    results["webhook_deliveries"] = dict(sorted(delivery_classes.items()))
    record("no 5xx on pages", not results["server_errors"], results["server_errors"][:50])
    record("no 5xx to webhook deliveries", not webhook_5xx, webhook_5xx[:50])
    record(
        "every webhook delivery answered",
        "no answer" not in delivery_classes,
        [d for d in deliveries if not d["status"]][:20],
    )
    record(
        "every journey went as a person expects",
        not results["journey_errors"],
        results["journey_errors"][:50],
    )

    # No lost event: every event the stand-in made is settled in the portal's event log.
    accounts = [a["id"] for a in stripe.list_all("accounts")]
    stripe_events: dict[str, str] = {e["id"]: e["type"] for e in stripe.list_all("events")}
    for account in accounts:
        stripe_events.update({e["id"]: e["type"] for e in stripe.list_all("events", account)})
    stripe.flush()  # anything made while listing is delivered before the portal is read
    with psycopg.connect(stack.database_url) as conn:
        portal_events = dict(
            conn.execute("SELECT stripe_event_id, status FROM stripe_events").fetchall()
        )
        missing = sorted(set(stripe_events) - set(portal_events))
        unsettled = {
            eid: status
            for eid, status in portal_events.items()
            if eid in stripe_events and status not in ("processed", "ignored")
        }
        results["events"] = {
            "made_by_stripe": len(stripe_events),
            "connected_accounts": len(accounts),
            "by_type": dict(sorted(Counter(stripe_events.values()).items())),
            "portal_by_status": dict(sorted(Counter(portal_events.values()).items())),
        }
        record(
            "no lost event: each Stripe event processed or ignored",
            not missing and not unsettled,
            {"missing": missing[:50], "not settled": unsettled},
        )

        # No doubled event: one transaction per paid booking, one refund row per Stripe refund.
        doubled = conn.execute(
            "SELECT session_id, count(*) FROM transactions WHERE type = 'session_payment'"
            " GROUP BY session_id HAVING count(*) <> 1"
        ).fetchall()
        paid_without = conn.execute(
            "SELECT s.id, s.status, s.payment_status FROM coaching_sessions s"
            " WHERE s.payment_status IN ('paid', 'refunded', 'partially_refunded')"
            " AND NOT EXISTS (SELECT 1 FROM transactions t WHERE t.session_id = s.id)"
        ).fetchall()
        record(
            "each paid booking has exactly one transaction",
            not doubled and not paid_without,
            {"doubled": doubled, "paid without a transaction": paid_without},
        )
        transactions = {
            pi: (amount, fee)
            for pi, amount, fee in conn.execute(
                "SELECT stripe_payment_intent_id, amount, platform_fee FROM transactions"
            ).fetchall()
        }
        refunds = dict(
            conn.execute(
                "SELECT stripe_refund_id, amount FROM refunds WHERE stripe_refund_id IS NOT NULL"
            ).fetchall()
        )
        stranded_refunds = conn.execute(
            "SELECT id, status FROM refunds WHERE stripe_refund_id IS NULL"
        ).fetchall()
        ledger = dict(
            conn.execute("SELECT kind, count(*) FROM ledger_entries GROUP BY kind").fetchall()
        )
        bookings = dict(
            conn.execute(
                "SELECT status || '/' || payment_status, count(*) FROM coaching_sessions GROUP BY 1"
            ).fetchall()
        )
        double_holds = conn.execute(
            "SELECT slot_id, count(*) FROM coaching_sessions"
            " WHERE status IN ('pending_payment', 'confirmed') GROUP BY slot_id HAVING count(*) > 1"
        ).fetchall()
    record("no time held by two bookings", not double_holds, double_holds)

    charges = [c for c in stripe.list_all("charges") if c["paid"]]
    stripe_refunds = [r for r in stripe.list_all("refunds") if r["status"] == "succeeded"]
    charge_problems = []
    for charge in charges:
        row = transactions.get(charge["payment_intent"])
        if row is None:
            charge_problems.append(f"{charge['id']}: no transaction")
        elif (_minor(row[0]), _minor(row[1])) != (
            charge["amount"],
            charge["application_fee_amount"],
        ):
            charge_problems.append(f"{charge['id']}: {charge['amount']} vs {row[0]}")
    extra = set(transactions) - {c["payment_intent"] for c in charges}
    record(
        "Stripe's paid charges and the portal's transactions agree (one each, amounts, fees)",
        not charge_problems and not extra,
        {"problems": charge_problems[:50], "transactions without a charge": sorted(extra)[:50]},
    )
    refund_problems = [
        f"{r['id']}: {r['amount']} vs {refunds.get(r['id'])}"
        for r in stripe_refunds
        if r["id"] not in refunds or _minor(refunds[r["id"]]) != r["amount"]
    ]
    extra_refunds = set(refunds) - {r["id"] for r in stripe_refunds}
    record(
        "Stripe's refunds and the portal's refund rows agree (one each, amounts)",
        not refund_problems and not extra_refunds and not stranded_refunds,
        {
            "problems": refund_problems[:50],
            "refund rows without a Stripe refund": sorted(extra_refunds)[:50],
            "refund rows never sent": stranded_refunds[:50],
        },
    )
    results["money"] = {
        "stripe_paid_charges": len(charges),
        "stripe_charged_total": _major(sum(c["amount"] for c in charges)),
        "stripe_refunds": len(stripe_refunds),
        "stripe_refunded_total": _major(sum(r["amount"] for r in stripe_refunds)),
        "portal_transactions": len(transactions),
        "portal_refunds": len(refunds),
        "ledger_entries_by_kind": dict(sorted(ledger.items())),
        "bookings_by_status": dict(sorted(bookings.items())),
    }

    verified = flask(stack.env, "ledger", "verify")
    record("flask ledger verify", verified.returncode == 0, verified.stdout.strip()[-2000:])
    today = datetime.now(UTC).date()
    reconciled = flask(stack.env, "reconcile", "--since", f"{started_day}", "--until", f"{today}")
    record(
        "flask reconcile agrees",
        reconciled.returncode == 0,
        (reconciled.stdout + reconciled.stderr).strip()[-2000:],
    )
    stale = stale_dashboards(stack)
    record(
        "each coach's dashboard shows the newest payment or refund on every server",
        not stale,
        stale,
    )
    statuses = failed_sign_ins(stack.portals, 11)
    record(
        f"sign-in throttle held across {len(stack.portals.bases)} server(s): ten failures"
        " answered 400, the eleventh refused with 429",
        statuses == [400] * 10 + [429],
        statuses,
    )
    return checks


def stale_dashboards(stack: Stack) -> list[str]:
    """Coaches whose dashboard, asked of each server, lacks their newest payment or refund.

    Every worker keeps the dashboard's sections rendered under a version read from the
    database, and the coaches read their dashboards on every server all through the load: a
    version that missed a change made through another server would show an older history.
    """
    with psycopg.connect(stack.database_url) as conn:
        newest = dict(
            conn.execute(  # the kinds the dashboard's "Payments and refunds" lists
                "SELECT coach_id, max(id) FROM ledger_entries"
                " WHERE kind IN ('payment', 'refund', 'dispute') GROUP BY coach_id"
            )
        )
    stale = []
    for coach in stack.coaches:
        if coach.id not in newest:
            continue
        for base in stack.portals.bases:
            page = coach.browser.http.get(f"{base}/coach/earnings", timeout=60)
            if page.status_code != 200 or f'id="entry-{newest[coach.id]}"' not in page.text:
                stale.append(f"{coach.email} on {base}: {page.status_code}")
    return stale


def failed_sign_ins(portals: Portals, count: int) -> list[int]:
    """The statuses of `count` wrong-password sign-ins to one account, each to the next server.

    The limit counts per account and per address; counters kept per process or per server
    would let the eleventh through.
    """
    browser = requests.Session()
    browser.trust_env = False
    statuses = []
    for _ in range(count):
        base = portals.next()
        page = browser.get(f"{base}/account/login", timeout=30)
        answer = browser.post(
            f"{base}/account/login",
            data={
                "email": "coach1@load.example",
                "password": "not-the-password-1",
                "csrf_token": csrf_token(page.text),
            },
            allow_redirects=False,
            timeout=30,
        )
        statuses.append(answer.status_code)
    return statuses


def _minor(amount: Decimal) -> int:
    return int(Decimal(amount) * 100)


def _major(minor: int) -> str:
    return f"{Decimal(minor) / 100:.2f}"


def print_summary(results: dict[str, Any]) -> None:
    requests_ = results.get("requests", {})
    print(f"Load phase: {results.get('load_seconds')} s (set-up {results.get('setup_seconds')} s)")
    for target, classes in requests_.get("by_status_class", {}).items():
        print(f"  {target:8} requests by status: {classes}")
    print(f"  webhook deliveries by status: {results.get('webhook_deliveries')}")
    latency = requests_.get("load_phase_portal_latency_ms", {})
    print(
        f"  portal during load: {requests_.get('load_phase_portal_requests')} requests,"
        f" {requests_.get('load_phase_portal_rps')}/s, p50 {latency.get('p50')} ms,"
        f" p95 {latency.get('p95')} ms, max {latency.get('max')} ms"
    )
    print()
    print(f"  {'route':44} {'count':>6} {'p50 ms':>8} {'p95 ms':>8}")
    for route, r in list(requests_.get("routes", {}).items())[:16]:
        print(f"  {route:44} {r['count']:6} {r['p50']:8.1f} {r['p95']:8.1f}")
    print()
    for outcome, n in results.get("outcomes", {}).items():
        print(f"  {n:6}  {outcome}")
    print(f"  events: {results.get('events')}")
    print(f"  money: {results.get('money')}")
    print()
    for c in results.get("checks", []):
        print(f"[{'ok' if c['ok'] else 'FAILED'}] {c['check']}")
        if not c["ok"]:
            print(f"    {json.dumps(c['detail'], default=str)[:2000]}")
    print(f"\nLogs: {results.get('logs')}")


if __name__ == "__main__":
    main()
