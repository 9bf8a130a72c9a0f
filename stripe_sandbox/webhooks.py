"""Webhook delivery: signed POSTs of events to the platform and Connect endpoints.

Promises: each event is POSTed as JSON to the platform URL, or to the Connect URL when it belongs
to a connected account, with a `Stripe-Signature: t=...,v1=...` header that
`stripe.Webhook.construct_event` accepts; a non-2xx answer or a connection error is retried with
a doubling delay up to `webhook_max_attempts`; every attempt is recorded. Deliveries can be
paused, resumed, forced in a given order (duplicates included), and waited for. Under chaos
(`webhook_chaos`), each event waits a random time up to `webhook_chaos_window` before it is
sent, so events close in time arrive shuffled, and one in three is sent a second time: Stripe
promises neither order nor a single delivery.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import random
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from .store import Obj

if TYPE_CHECKING:
    from .sandbox import Sandbox


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header value for `payload` (signed at real time, as Stripe does)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@dataclass(frozen=True)
class Endpoint:
    url: str
    secret: str


class WebhookDispatcher:
    """A worker thread with a queue of due deliveries, pausable, drainable."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, str, int]] = []  # (due, seq, event id, attempt)
        self._seq = itertools.count()
        self._busy = 0
        self._paused = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.deliveries: list[dict[str, Any]] = []
        self._http = requests.Session()
        self._http.trust_env = False  # loopback only: never through a proxy
        self._random = random.Random()  # noqa: S311 (shuffles test deliveries, no secret)

    # -- configuration ---------------------------------------------------------------------------
    def endpoint_for(self, account: str | None) -> Endpoint | None:
        config = self.sb.config
        if account is None:
            url, secret = config.webhook_url, config.webhook_secret
        else:
            url, secret = config.connect_webhook_url, config.connect_webhook_secret
        return Endpoint(url, secret) if url else None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stopped = False
            self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._http.close()

    def reset(self) -> None:
        with self._cond:
            self._queue.clear()
            self.deliveries.clear()
            self._paused = False
            self._cond.notify_all()

    # -- queue -----------------------------------------------------------------------------------
    def enqueue(self, event: Obj) -> None:
        if self.endpoint_for(event.get("account")) is None:
            return
        delays = [0.0]
        if self.sb.config.webhook_chaos:
            copies = 2 if self._random.random() < 1 / 3 else 1
            window = self.sb.config.webhook_chaos_window
            delays = [self._random.uniform(0, window) for _ in range(copies)]
        now = time.monotonic()
        with self._cond:
            for delay in delays:
                heapq.heappush(self._queue, (now + delay, next(self._seq), event["id"], 1))
            self._cond.notify_all()

    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused

    def held(self) -> list[str]:
        with self._cond:
            return [item[2] for item in sorted(self._queue)]

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or in flight; False on timeout or while paused."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if self._paused or remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    def deliver_now(self, event_ids: list[str]) -> list[dict[str, Any]]:
        """Send these events at once, in this order (twice if listed twice), one attempt each.

        They leave the held queue, so a later resume does not send them again.
        """
        wanted = set(event_ids)
        with self._cond:
            self._queue = [item for item in self._queue if item[2] not in wanted]
            heapq.heapify(self._queue)
            self._cond.notify_all()
        return [self._attempt(event_id, attempt=1) for event_id in event_ids]

    # -- worker ----------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (
                    self._paused or not self._queue or self._queue[0][0] > time.monotonic()
                ):
                    wait = 0.5
                    if self._queue and not self._paused:
                        wait = max(0.0, self._queue[0][0] - time.monotonic())
                    self._cond.wait(wait)
                if self._stopped:
                    return
                _, _, event_id, attempt = heapq.heappop(self._queue)
                self._busy += 1
            try:
                record = self._attempt(event_id, attempt)
                if not record["delivered"] and attempt < self.sb.config.webhook_max_attempts:
                    delay = self.sb.config.webhook_retry_delay * (2 ** (attempt - 1))
                    with self._cond:
                        heapq.heappush(
                            self._queue,
                            (time.monotonic() + delay, next(self._seq), event_id, attempt + 1),
                        )
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _attempt(self, event_id: str, attempt: int) -> dict[str, Any]:
        event = self.sb.store.find(event_id)
        record: dict[str, Any] = {
            "event": event_id,
            "type": event["type"] if event else None,
            "account": event.get("account") if event else None,
            "attempt": attempt,
            "url": None,
            "status": None,
            "delivered": False,
            "error": None,
            "at": time.time(),
        }
        endpoint = self.endpoint_for(event.get("account")) if event else None
        if event is None or endpoint is None:
            record["error"] = "no such event" if event is None else "no endpoint configured"
        else:
            record["url"] = endpoint.url
            payload = json.dumps(event, indent=2)
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(payload, endpoint.secret),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            }
            try:
                response = self._http.post(
                    endpoint.url,
                    data=payload.encode(),
                    headers=headers,
                    timeout=self.sb.config.webhook_timeout,
                )
                record["status"] = response.status_code
                record["delivered"] = 200 <= response.status_code < 300
            except requests.RequestException as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
            if record["delivered"]:
                with self.sb.store.lock:
                    event["pending_webhooks"] = max(0, event["pending_webhooks"] - 1)
        with self._cond:
            self.deliveries.append(record)
        return record
