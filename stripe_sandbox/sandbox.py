"""The sandbox as one object: configuration, state, event emission, webhooks and the clock.

Promises: `Sandbox` is what every route and hosted page works on; `tick()` applies everything
that is due at the sandbox clock's current time (funds released, automatic payouts made,
payouts arrived, disputes decided, subscriptions renewed, checkout sessions expired);
`start()`/`stop()` run the webhook worker and a ticker. With `config.state_file`, the state
saved there is loaded when the sandbox is made (unless `config.fresh`), `persist()` writes it
(the app calls it after each request, the ticker after each tick), and `start()` queues again
every event not yet delivered.
"""

from __future__ import annotations

import threading
from typing import Any

from . import events
from .config import SandboxConfig
from .persistence import StateFile
from .store import Obj, Store
from .webhooks import WebhookDispatcher


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.store = Store()
        self.webhooks = WebhookDispatcher(self)
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self.state = StateFile(config.state_file) if config.state_file else None
        self._loaded = False
        if self.state is not None:
            if config.fresh:
                self.persist()
            else:
                self._loaded = self.state.load(self.store)

    def persist(self) -> None:
        """Write the state to `config.state_file`, if there is one (and it changed)."""
        if self.state is not None:
            self.state.save(self.store)

    # -- helpers used by the domain modules ------------------------------------------------------
    def emit(
        self,
        type_: str,
        obj: Obj,
        account: str | None = None,
        previous: dict[str, Any] | None = None,
    ) -> Obj:
        return events.emit(self, type_, obj, account, previous)

    def page_url(self, path: str) -> str:
        return self.config.public_url.rstrip("/") + path

    # -- time ------------------------------------------------------------------------------------
    def tick(self) -> None:
        from . import billing, checkout, connect, disputes, ledger

        with self.store.lock:
            ledger.release_due(self)
            connect.pay_out_scheduled(self)
            connect.settle_payouts(self)
            disputes.decide_due(self)
            billing.renew_subscriptions(self)
            checkout.expire_sessions(self)

    def advance(self, seconds: int) -> None:
        with self.store.lock:
            self.store.advance(seconds)
            self.tick()

    def reset(self) -> None:
        with self.store.lock:
            self.store.reset()
            self.webhooks.reset()

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.webhooks.start()
        if self._loaded:  # what was still on its way when the last run stopped
            self._loaded = False
            for event in self._undelivered_events():
                self.webhooks.enqueue(event)
        if self.config.tick_interval > 0 and self._ticker is None:
            self._stop.clear()
            self._ticker = threading.Thread(
                target=self._tick_loop, name="sandbox-clock", daemon=True
            )
            self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        self.webhooks.stop()
        self.persist()

    def _undelivered_events(self) -> list[Obj]:
        with self.store.lock:
            found = [
                obj
                for obj in self.store.objects.values()
                if obj.get("object") == "event" and obj["pending_webhooks"] > 0
            ]
        return sorted(found, key=lambda event: self.store.order[event["id"]])

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.config.tick_interval):
            self.tick()
            self.persist()
