"""In-memory state of the sandbox: objects, ids, the clock and the lock.

Promises: every API object lives in one dict keyed by id and tagged with the account that owns
it (None for the platform); ids carry Stripe's prefixes; the clock only moves forward; callers
hold `store.lock` (re-entrant) around anything that reads and then writes. Keys starting with
`_` are the sandbox's private notes and are never rendered.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import string
import threading
import time
from collections.abc import Callable
from typing import Any

from .errors import invalid_request, resource_missing
from .params import get_int

Obj = dict[str, Any]
_ALPHABET = string.ascii_letters + string.digits


class Store:
    """Objects by id, their owners, an insertion order, idempotency records and the clock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.objects: dict[str, Obj] = {}
            self.owner: dict[str, str | None] = {}
            self.order: dict[str, int] = {}
            self._seq = itertools.count()
            self.offset = 0
            self.idempotency: dict[tuple[str | None, str], dict[str, Any]] = {}
            self.links: dict[str, Obj] = {}
            """Private hosted-page tokens (account links, login links, onboarding runs)."""
            self.fail_next_payout: set[str | None] = set()
            self.counters: dict[str, int] = {}

    def resume_order(self, start: int) -> None:
        """Number objects added from now on after `start` (for a store loaded from disk)."""
        self._seq = itertools.count(start)

    # -- clock ---------------------------------------------------------------------------------
    def now(self) -> int:
        return int(time.time()) + self.offset

    def advance(self, seconds: int) -> None:
        if seconds < 0:
            raise invalid_request("The clock only moves forward.", "seconds")
        with self.lock:
            self.offset += seconds

    # -- ids -------------------------------------------------------------------------------------
    @staticmethod
    def new_id(prefix: str, length: int = 24) -> str:
        return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))

    def next_number(self, name: str) -> int:
        with self.lock:
            self.counters[name] = self.counters.get(name, 0) + 1
            return self.counters[name]

    # -- objects ---------------------------------------------------------------------------------
    def add(self, obj: Obj, account: str | None = None) -> Obj:
        with self.lock:
            self.objects[obj["id"]] = obj
            self.owner[obj["id"]] = account
            self.order[obj["id"]] = next(self._seq)
        return obj

    def find(self, object_id: str) -> Obj | None:
        return self.objects.get(object_id)

    def get(self, object_id: str, kind: str, account: str | None, param: str | None = "id") -> Obj:
        """The object `object_id` of type `kind` visible to `account`, or Stripe's 404."""
        obj = self.objects.get(object_id) if isinstance(object_id, str) else None
        if obj is None or obj.get("object") != kind or self.owner.get(object_id) != account:
            raise resource_missing(_KIND_LABELS.get(kind, kind), str(object_id), param)
        return obj

    def select(
        self, kind: str, account: str | None, where: Callable[[Obj], bool] | None = None
    ) -> list[Obj]:
        """Objects of `kind` owned by `account`, newest first."""
        with self.lock:
            found = [
                obj
                for oid, obj in self.objects.items()
                if obj.get("object") == kind
                and self.owner.get(oid) == account
                and (where is None or where(obj))
            ]
        found.sort(key=lambda o: (o.get("created", 0), self.order[o["id"]]), reverse=True)
        return found


_KIND_LABELS = {
    "customer": "customer",
    "payment_method": "PaymentMethod",
    "payment_intent": "payment_intent",
    "setup_intent": "setupintent",
    "charge": "charge",
    "refund": "refund",
    "checkout.session": "checkout.session",
    "product": "product",
    "price": "price",
    "subscription": "subscription",
    "invoice": "invoice",
    "account": "account",
    "payout": "payout",
    "balance_transaction": "balance transaction",
    "event": "event",
    "transfer": "transfer",
    "application_fee": "application fee",
    "dispute": "dispute",
}


def render(obj: Any) -> Any:
    """A deep copy of `obj` without the sandbox's private `_` keys."""
    if isinstance(obj, dict):
        return {k: render(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [render(v) for v in obj]
    return copy.copy(obj)


def list_object(url: str, data: list[Obj], has_more: bool = False) -> Obj:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def paginate(items: list[Obj], params: dict[str, Any], url: str) -> Obj:
    """Stripe's cursor pagination over `items` (already newest first)."""
    limit = get_int(params, "limit", 10)
    if limit is None or not 1 <= limit <= 100:
        raise invalid_request("Invalid limit: must be between 1 and 100", "limit")
    ids = [o["id"] for o in items]
    after, before = params.get("starting_after"), params.get("ending_before")
    if after:
        if after not in ids:
            raise resource_missing("object", after, "starting_after")
        items = items[ids.index(after) + 1 :]
        page = items[:limit]
    elif before:
        if before not in ids:
            raise resource_missing("object", before, "ending_before")
        items = items[: ids.index(before)]
        page = items[-limit:]
        return list_object(url, page, len(items) > limit)
    else:
        page = items[:limit]
    return list_object(url, page, len(items) > limit)
