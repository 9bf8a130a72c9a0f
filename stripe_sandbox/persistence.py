"""The sandbox's state on disk: one SQLite file, so a restarted stand-in remembers everything.

Promises: with `config.state_file` set, `StateFile.load(store)` fills an empty store with what
was saved last (objects and their owners and order, the clock's offset, idempotency records,
hosted-page tokens, counters, payouts told to fail), and `StateFile.save(store)` writes the
store as it is now, in one transaction, only when it differs from what was written last. The
state is JSON in a one-row table; card numbers never reach the store, so never the file.
Webhook deliveries still queued are not kept: events whose `pending_webhooks` is above zero are
queued again after a load (see `Sandbox.start`).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from .store import Store

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sandbox_state "
    "(id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL)"
)


class StateFile:
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._written: str | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10)
        connection.execute(SCHEMA)
        return connection

    def load(self, store: Store) -> bool:
        """Fill `store` from the file; False when the file holds no state yet."""
        connection = self._connect()
        try:
            row = connection.execute("SELECT state FROM sandbox_state WHERE id = 1").fetchone()
        finally:
            connection.close()
        if row is None:
            return False
        restore(store, json.loads(row[0]))
        self._written = _digest(row[0])
        return True

    def save(self, store: Store) -> None:
        """Write the store's state if it changed since the last write.

        One save at a time, each taking its snapshot inside the turn, so an older snapshot is
        never written over a newer one.
        """
        with self._lock:
            with store.lock:
                text = json.dumps(snapshot(store), separators=(",", ":"))
            digest = _digest(text)
            if digest == self._written:
                return
            connection = self._connect()
            try:
                with connection:
                    connection.execute(
                        "INSERT OR REPLACE INTO sandbox_state (id, state) VALUES (1, ?)", (text,)
                    )
            finally:
                connection.close()
            self._written = digest


def snapshot(store: Store) -> dict[str, Any]:
    """Everything the store knows, as JSON-ready values."""
    return {
        "objects": [
            [oid, store.owner[oid], store.order[oid], obj] for oid, obj in store.objects.items()
        ],
        "offset": store.offset,
        "idempotency": [
            [account, key, record] for (account, key), record in store.idempotency.items()
        ],
        "links": store.links,
        "fail_next_payout": sorted(store.fail_next_payout, key=lambda a: a or ""),
        "counters": store.counters,
    }


def restore(store: Store, state: dict[str, Any]) -> None:
    with store.lock:
        store.reset()
        for oid, owner, order, obj in state["objects"]:
            store.objects[oid] = obj
            store.owner[oid] = owner
            store.order[oid] = order
        store.resume_order(max(store.order.values(), default=-1) + 1)
        store.offset = state["offset"]
        store.idempotency = {
            (account, key): record for account, key, record in state["idempotency"]
        }
        store.links = state["links"]
        store.fail_next_payout = set(state["fail_next_payout"])
        store.counters = state["counters"]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
