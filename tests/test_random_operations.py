"""Random sequences of ordinary operations, through the portal's pages and the offline Stripe
stand-in, checked against Stripe's own figures after every step.

What a person or Stripe can do is a rule of a Hypothesis state machine: a mentee books and pays
(with a card that succeeds, is declined or is later disputed), abandons a Checkout, cancels; a
coach cancels or asks for a payout, standard or instant (which Stripe may refuse or fail); an
admin refunds part or all of a payment, and the card's bank may refuse a refund later; webhooks
are held and then delivered shuffled and some twice, or delivered after random waits (the
stand-in's chaos mode); the clock moves. After every step with the webhooks delivered, the
invariants compare the portal with the stand-in:

- each coach's pending and available balance equal Stripe's balance for that connected account;
- the platform's fees equal Stripe's application fees net of their refunds;
- every succeeded charge has exactly one transaction, and no slot holds two paid bookings;
- `ledger.verify()` finds no drift, and reconciliation finds no mismatch;
- no page answered with a 5xx.

`make test` runs a bounded number of examples on SQLite and PostgreSQL. A long soak runs the
same machine: `scripts/soak.sh --operations 10000` (see `benchmarks/README.md`).
"""

from __future__ import annotations

import html
import os
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from flask import Flask
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from portal import ledger
from portal.admin import reconciliation
from portal.extensions import db, limiter
from portal.models import (
    AvailabilitySlot,
    CoachProfile,
    Refund,
    Role,
    Transaction,
    TransactionStatus,
    User,
)
from portal.money import to_minor_units
from stripe_sandbox import SandboxConfig
from stripe_sandbox.server import SandboxServer
from tests.builders import make_user
from tests.conftest import PASSWORD, _empty_all_tables
from tests.live import CONNECT_SECRET, PLATFORM_SECRET, LivePortal, LiveSandbox, onboard_coach
from tests.live import live_portal as live_portal  # the fixture

# The portal asks Stripe for Checkout sessions that expire 31 minutes after its own clock's now,
# and Stripe refuses less than 30 minutes after Stripe's now: the stand-in's clock may run at
# most a minute ahead of the portal's. So within one example it moves at most 55 seconds, and its
# money moves as fast: funds become available 20 seconds after a payment, a payout arrives 10
# seconds after it is made, a dispute left unanswered is lost after 40 seconds.
CLOCK_LIMIT = 55

SOAK_OPERATIONS = int(os.environ.get("MONEY_SOAK_OPERATIONS", "0"))
STEPS = 40  # per example; a soak runs as many examples as its operations need


@pytest.fixture(scope="module")
def _fast_sandbox() -> Iterator[SandboxServer]:
    config = SandboxConfig(
        webhook_secret=PLATFORM_SECRET,
        connect_webhook_secret=CONNECT_SECRET,
        webhook_retry_delay=0.05,
        tick_interval=0,
        available_after=20,
        payout_arrival=10,
        dispute_decision_after=40,
    )
    server = SandboxServer(config).start()
    yield server
    server.stop()


@pytest.fixture
def live_sandbox(_fast_sandbox: SandboxServer) -> LiveSandbox:
    sandbox = LiveSandbox(_fast_sandbox)
    sandbox.control("reset")
    return sandbox


CARDS = {
    "succeeds": "4242 4242 4242 4242",
    "declined": "4000 0000 0000 0002",
    "disputed": "4000 0000 0000 0259",
}
# A coach's price and fee, chosen for awkward rounding of every proportional split.
COACHES = [
    (Decimal("95.00"), Decimal("17.25"), "USD"),
    (Decimal("37.77"), Decimal("20.00"), "USD"),
    (Decimal("135.00"), Decimal("12.50"), "EUR"),
]
# Coaches with a debit card Stripe can pay instantly; the others are told why they cannot.
DEBIT_CARDS = ["4000056655665556", "", "5200828282828210"]


@dataclass
class Booked:
    booking_id: int
    mentee: int
    coach: int
    transaction_id: int | None = None


@dataclass
class World:
    portal: LivePortal
    sandbox: LiveSandbox
    coaches: list[User] = field(default_factory=list)
    mentees: list[User] = field(default_factory=list)
    admin: User | None = None
    browsers: dict[int, requests.Session] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)


class MoneyMachine(RuleBasedStateMachine):
    world: World  # set by the test before the machine runs

    bookings = Bundle("bookings")

    def __init__(self) -> None:
        super().__init__()
        self.held = False
        self.clock = 0  # seconds the stand-in's clock has moved in this example
        w = self.world
        w.sandbox.control("reset")
        w.sandbox.control("webhooks/chaos", on=False)
        _point_webhooks_at(w.sandbox, w.portal)
        with w.portal.app.app_context():  # a new world: no sign-in counted against it yet
            limiter.reset()
        db.session.remove()
        _empty_all_tables()
        w.browsers.clear()
        w.server_errors.clear()
        w.coaches = []
        for (price, fee, currency), debit_card in zip(COACHES, DEBIT_CARDS, strict=True):
            coach = make_user(
                Role.COACH,
                password=PASSWORD,
                session_price=price,
                platform_fee_percentage=fee,
                currency=currency,
                minimum_payout=Decimal("1.00"),
            )
            onboard_coach(w.sandbox, coach, debit_card=debit_card)
            w.coaches.append(coach)
        w.mentees = [make_user(Role.MENTEE, password=PASSWORD) for _ in range(2)]
        w.admin = make_user(Role.ADMIN, password=PASSWORD)

    # -- people and their pages --------------------------------------------------------------

    def _browser(self, user: User) -> requests.Session:
        w = self.world
        if user.id not in w.browsers:
            browser = w.portal.browser()
            w.portal.login(browser, user)
            w.browsers[user.id] = browser
        return w.browsers[user.id]

    def _get(self, user: User, path: str) -> requests.Response:
        return self._checked(self._browser(user).get(self.world.portal.url + path, timeout=30))

    def _post(self, user: User, path: str, page: str, **data: str) -> requests.Response:
        browser = self._browser(user)
        token = _csrf(self._get(user, page).text)
        response = browser.post(
            self.world.portal.url + path,
            data={"csrf_token": token, **data},
            allow_redirects=False,
            timeout=30,
        )
        return self._checked(response)

    def _checked(self, response: requests.Response) -> requests.Response:
        if response.status_code >= 500:
            self.world.server_errors.append(f"{response.request.method} {response.url}")
        assert response.status_code < 500, f"{response.request.method} {response.url}"
        return response

    def _agreeing(self, check: Callable[[], None]) -> None:
        """Run `check` once what is due at Stripe has happened and its events have arrived.

        The stand-in's clock runs on while the test does: funds come due, payouts arrive, and a
        disputed charge is decided between two steps, and the portal hears of it by webhook a
        moment later. So a check that disagrees is run again after that moment (Stripe's due
        work done and every event delivered), twice at most; a disagreement that outlives it is
        drift.
        """
        for attempt in range(3):
            self.world.sandbox.advance(0)  # apply what is due now, as Stripe does on its own
            self._settle()
            try:
                check()
                return
            except AssertionError:
                if attempt == 2:
                    raise

    def _settle(self) -> None:
        if not self.held:
            self.world.sandbox.flush()
        db.session.expire_all()

    # -- mentees -------------------------------------------------------------------------------

    @rule(
        target=bookings,
        coach=st.integers(0, len(COACHES) - 1),
        mentee=st.integers(0, 1),
        card=st.sampled_from(["succeeds", "succeeds", "succeeds", "declined", "disputed"]),
        come_back=st.booleans(),
        hours=st.sampled_from([6, 30, 72]),  # inside and outside the 24 h refund window
    )
    def book_and_pay(
        self, coach: int, mentee: int, card: str, come_back: bool, hours: int
    ) -> Booked | None:
        w = self.world
        coach_user, mentee_user = w.coaches[coach], w.mentees[mentee]
        slot = _new_slot(coach_user, hours)
        booked = self._post(mentee_user, f"/slots/{slot}/book", f"/coaches/{coach_user.id}")
        if booked.status_code != 303 or not booked.headers["Location"].startswith(w.sandbox.url):
            # Refused (too many unpaid holds, Stripe said no): a 4xx or a page that says why.
            assert booked.status_code in (303, 400, 409, 422, 429), booked.status_code
            return None
        checkout = booked.headers["Location"]
        paid = self._browser(mentee_user).post(
            checkout,
            data={"number": CARDS[card], "expiry": "12/34", "cvc": "123", "name": "A Mentee"},
            allow_redirects=False,
            timeout=30,
        )
        if paid.status_code == 303 and come_back:
            self._checked(self._browser(mentee_user).get(paid.headers["Location"], timeout=30))
        self._settle()
        booking_id = _booking_of_slot(slot)
        return Booked(booking_id, mentee_user.id, coach_user.id)

    @rule(coach=st.integers(0, len(COACHES) - 1), mentee=st.integers(0, 1))
    def abandon_checkout(self, coach: int, mentee: int) -> None:
        w = self.world
        coach_user, mentee_user = w.coaches[coach], w.mentees[mentee]
        slot = _new_slot(coach_user, 72)
        booked = self._post(mentee_user, f"/slots/{slot}/book", f"/coaches/{coach_user.id}")
        if booked.status_code == 303 and booked.headers["Location"].startswith(w.sandbox.url):
            self._checked(
                self._browser(mentee_user).get(
                    booked.headers["Location"] + "/cancel", allow_redirects=True, timeout=30
                )
            )
        self._settle()

    @rule(booking=bookings, by_coach=st.booleans())
    def cancel(self, booking: Booked | None, by_coach: bool) -> None:
        if booking is None:
            return
        who = _user(booking.coach if by_coach else booking.mentee)
        confirm = f"/bookings/{booking.booking_id}/cancel"  # what comes back, then confirm
        response = self._post(who, confirm, confirm)
        assert response.status_code in (303, 200, 400, 409), response.status_code
        self._settle()

    # -- admins --------------------------------------------------------------------------------

    @rule(booking=bookings, share=st.sampled_from(["0.01", "0.07", "0.19", "0.5", "1"]))
    def admin_refund(self, booking: Booked | None, share: str) -> None:
        if booking is None:
            return
        txn = db.session.scalar(
            db.select(Transaction).where(Transaction.session_id == booking.booking_id)
        )
        if txn is None:
            return
        refunded = sum((r.amount for r in txn.refunds), Decimal("0"))
        left = txn.amount - refunded
        if share == "0.01":  # the smallest refund there is
            amount = Decimal("0.01")
        else:
            amount = max((left * Decimal(share)).quantize(Decimal("0.01")), Decimal("0.01"))
        admin = self.world.admin
        assert admin is not None
        page = f"/admin/transactions/{txn.id}/refund"
        shown = self._post(admin, page, page, amount=str(amount), reason="requested_by_customer")
        if shown.status_code != 200 or "refund/confirm" not in shown.text:
            assert shown.status_code in (200, 400, 409), shown.status_code
            self._settle()
            return
        hidden = _hidden_fields(shown.text)
        confirmed = self._checked(
            self._browser(admin).post(
                f"{self.world.portal.url}{page}/confirm",
                data=hidden,
                allow_redirects=False,
                timeout=30,
            )
        )
        assert confirmed.status_code in (200, 303, 400, 409), confirmed.status_code
        self._settle()

    # -- coaches and Stripe --------------------------------------------------------------------

    @rule(coach=st.integers(0, len(COACHES) - 1), fail=st.booleans(), instant=st.booleans())
    def pay_out_now(self, coach: int, fail: bool, instant: bool) -> None:
        coach_user = self.world.coaches[coach]
        if fail:
            self.world.sandbox.control(
                "payouts/fail_next", account=coach_user.stripe_connect_account_id
            )
        path = "/coach/earnings/pay-out/instant" if instant else "/coach/earnings/pay-out"
        page = self._get(coach_user, path)
        form = _hidden_fields(page.text)
        if "amount" not in form:  # nothing to pay out, or payouts not possible: said on the page
            return
        response = self._checked(
            self._browser(coach_user).post(
                f"{self.world.portal.url}{path}",
                data=form,
                allow_redirects=False,
                timeout=30,
            )
        )
        assert response.status_code in (200, 303, 400, 409), response.status_code
        self._settle()

    @rule(seconds=st.sampled_from([5, 12, 25]))
    def time_passes(self, seconds: int) -> None:
        if self.clock + seconds > CLOCK_LIMIT:
            return
        self.clock += seconds
        self.world.sandbox.advance(seconds)
        self._settle()

    @precondition(lambda self: not self.held)
    @rule()
    def hold_webhooks(self) -> None:
        self.world.sandbox.control("webhooks/pause")
        self.held = True

    @precondition(lambda self: self.held)
    @rule(seed=st.integers(0, 2**32 - 1), twice=st.integers(0, 3))
    def deliver_held_webhooks(self, seed: int, twice: int) -> None:
        """Everything held, in a random order, some of it twice; then back to normal.

        How many events are held depends on timing, so the order comes from a seed rather
        than from draws whose number would vary between runs of the same example."""
        sandbox = self.world.sandbox
        shuffle = random.Random(seed)  # noqa: S311 - an order to test, not a secret
        held = _held(sandbox)
        order = held + shuffle.sample(held, min(twice, len(held)))
        shuffle.shuffle(order)
        if order:
            sandbox.control("webhooks/deliver", ids=order)
        sandbox.control("webhooks/resume")
        self.held = False
        self._settle()

    @rule(on=st.booleans())
    def chaos(self, on: bool) -> None:
        """From now on, every event delivered after a random wait, one in three twice."""
        self.world.sandbox.control("webhooks/chaos", on=on)
        self._settle()

    # -- what must always hold -----------------------------------------------------------------

    @invariant()
    def no_server_error(self) -> None:
        assert self.world.server_errors == []

    @invariant()
    def balances_equal_stripes(self) -> None:
        if not self.held:
            self._agreeing(self._balances_equal_stripes)

    def _balances_equal_stripes(self) -> None:
        for coach in self.world.coaches:
            profile = db.session.scalar(
                db.select(CoachProfile).where(CoachProfile.user_id == coach.id)
            )
            stripe_pending, stripe_available = _stripe_balance(
                self.world.sandbox, coach.stripe_connect_account_id or "", profile.currency
            )
            assert (
                to_minor_units(profile.pending_balance, profile.currency),
                to_minor_units(profile.available_balance, profile.currency),
            ) == (stripe_pending, stripe_available), f"coach {coach.id} ({profile.currency})"

    @rule(booking=bookings, reason=st.sampled_from(["expired_or_canceled_card", "declined"]))
    def a_refund_fails_later(self, booking: Booked | None, reason: str) -> None:
        """The card's bank refuses a refund that had succeeded."""
        if booking is None:
            return
        txn = db.session.scalar(
            db.select(Transaction).where(Transaction.session_id == booking.booking_id)
        )
        made = [r.stripe_refund_id for r in txn.refunds if r.stripe_refund_id] if txn else []
        for refund_id in made:
            if _stripe_get(self.world.sandbox, f"/v1/refunds/{refund_id}")["status"] == "succeeded":
                self.world.sandbox.control(f"refunds/{refund_id}/fail", reason=reason)
                break
        self._settle()

    @invariant()
    def platform_fees_equal_stripes(self) -> None:
        if not self.held:
            self._agreeing(self._platform_fees_equal_stripes)

    def _platform_fees_equal_stripes(self) -> None:
        ours: dict[str, int] = {}
        for txn in db.session.scalars(db.select(Transaction)):
            if txn.status in (TransactionStatus.PENDING, TransactionStatus.FAILED):
                continue
            ours[txn.currency.lower()] = ours.get(txn.currency.lower(), 0) + to_minor_units(
                txn.platform_fee, txn.currency
            )
        for refund in db.session.scalars(db.select(Refund)):
            if refund.status.value != "succeeded" and refund.transfer_reversed is None:
                continue  # no fee refund at Stripe (one that failed later keeps its own)
            currency = refund.transaction.currency
            ours[currency.lower()] = ours.get(currency.lower(), 0) - to_minor_units(
                refund.platform_fee_refunded, currency
            )
        theirs: dict[str, int] = {}
        for fee in _stripe_list(self.world.sandbox, "/v1/application_fees"):
            theirs[fee["currency"]] = (
                theirs.get(fee["currency"], 0) + fee["amount"] - fee["amount_refunded"]
            )
        assert {k: v for k, v in ours.items() if v} == {k: v for k, v in theirs.items() if v}

    @invariant()
    def one_transaction_per_succeeded_charge(self) -> None:
        if not self.held:
            self._agreeing(self._one_transaction_per_succeeded_charge)

    def _one_transaction_per_succeeded_charge(self) -> None:
        for charge in _stripe_list(self.world.sandbox, "/v1/charges"):
            if charge["status"] != "succeeded":
                continue
            count = db.session.scalar(
                db.select(db.func.count())
                .select_from(Transaction)
                .where(Transaction.stripe_payment_intent_id == charge["payment_intent"])
            )
            assert count == 1, charge["id"]

    @invariant()
    def no_slot_holds_two_paid_bookings(self) -> None:
        rows = db.session.execute(
            db.text(
                "SELECT slot_id, count(*) FROM coaching_sessions "
                "WHERE payment_status IN ('paid', 'partially_refunded') "
                "GROUP BY slot_id HAVING count(*) > 1"
            )
        ).all()
        assert rows == []

    @invariant()
    def ledger_and_reconciliation_are_clean(self) -> None:
        if not self.held:
            self._agreeing(self._ledger_and_reconciliation_are_clean)

    def _ledger_and_reconciliation_are_clean(self) -> None:
        assert ledger.verify() == []
        today = datetime.now(UTC).date()
        with self.world.portal.app.app_context():  # the app that talks to the stand-in
            report = reconciliation.reconcile(date(2000, 1, 1), today + timedelta(days=400))
            mismatches = [str(m) for m in report.mismatches]
        assert mismatches == []


def _point_webhooks_at(sandbox: LiveSandbox, portal: LivePortal) -> None:
    sandbox.control(
        "webhooks/config",
        webhook_url=portal.url + "/webhooks/stripe",
        connect_webhook_url=portal.url + "/webhooks/stripe/connect",
        webhook_secret=PLATFORM_SECRET,
        connect_webhook_secret=CONNECT_SECRET,
    )


def _hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of a page's forms (a confirmation's amount, token and CSRF token)."""
    found = {}
    for tag in re.findall(r"<input[^>]*>", page):
        if 'type="hidden"' in tag:
            name = re.search(r'name="([^"]+)"', tag)
            value = re.search(r'value="([^"]*)"', tag)
            if name:
                found[name[1]] = html.unescape(value[1]) if value else ""
    return found


def _held(sandbox: LiveSandbox) -> list[str]:
    response = requests.get(sandbox.url + "/_sandbox/deliveries", timeout=30)
    response.raise_for_status()
    return list(response.json()["held"])


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'"X-CSRFToken": "([^"]+)"', page
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def _new_slot(coach: User, hours: int) -> int:
    latest = db.session.scalar(
        db.select(db.func.max(AvailabilitySlot.starts_at)).where(
            AvailabilitySlot.coach_id == coach.id
        )
    )
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours)
    if latest is not None:
        latest = latest if latest.tzinfo else latest.replace(tzinfo=UTC)
        start = max(start, latest + timedelta(hours=1))
    slot = AvailabilitySlot(coach_id=coach.id, starts_at=start, duration_minutes=60)
    db.session.add(slot)
    db.session.commit()
    return slot.id


def _booking_of_slot(slot_id: int) -> int:
    return db.session.execute(
        db.text("SELECT max(id) FROM coaching_sessions WHERE slot_id = :slot"), {"slot": slot_id}
    ).scalar_one()


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    assert user is not None
    return user


def _stripe_get(sandbox: LiveSandbox, path: str, account: str | None = None, **params: str):  # type: ignore[no-untyped-def]
    headers = {"Authorization": "Bearer sk_test_live"}
    if account:
        headers["Stripe-Account"] = account
    response = requests.get(sandbox.url + path, headers=headers, params=params, timeout=30)
    response.raise_for_status()
    return response.json()


def _stripe_list(sandbox: LiveSandbox, path: str) -> list[dict]:
    found: list[dict] = []
    after: str | None = None
    while True:
        params = {"limit": "100", **({"starting_after": after} if after else {})}
        page = _stripe_get(sandbox, path, **params)
        found.extend(page["data"])
        if not page["has_more"]:
            return found
        after = page["data"][-1]["id"]


def _stripe_balance(sandbox: LiveSandbox, account: str, currency: str) -> tuple[int, int]:
    balance = _stripe_get(sandbox, "/v1/balance", account=account)

    def amount(kind: str) -> int:
        return sum(b["amount"] for b in balance[kind] if b["currency"] == currency.lower())

    return amount("pending"), amount("available")


def test_random_operations_leave_the_portal_agreeing_with_stripe(
    app: Flask, live_sandbox: LiveSandbox, live_portal: LivePortal
) -> None:
    MoneyMachine.world = World(live_portal, live_sandbox)
    examples = (
        -(-SOAK_OPERATIONS // STEPS)
        if SOAK_OPERATIONS
        else int(os.environ.get("MONEY_EXAMPLES", "4"))
    )
    run_state_machine_as_test(
        MoneyMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=not SOAK_OPERATIONS,
            suppress_health_check=list(HealthCheck),
            database=None,
            # A failure prints its steps at once; shrinking them (slow with a live portal and
            # stand-in) is asked for with MONEY_SHRINK=1.
            phases=[p for p in Phase if p is not Phase.shrink or os.environ.get("MONEY_SHRINK")],
        ),
    )
    live_sandbox.control("webhooks/resume")
    live_sandbox.control("webhooks/chaos", on=False)


pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
