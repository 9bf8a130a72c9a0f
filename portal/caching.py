"""Read-mostly pages kept rendered between requests, under versions one read gives.

What this module promises:

- `kept(name, version, make)` (one value) and `kept_many(name, versions, make)` (a page's
  worth, made in one batch) give what `make` produced under exactly that `Version`, or call it.
  A `Version` is the database's generation (`portal.models.caching`, read in the same statement
  as the counters) and counters that writers raise under a row lock: the dashboard's
  `ledger_entry_count` and `payout_changes`, a coach's `listing_changes`. Counters, not
  timestamps: two writers' timestamps can commit in the other order, a counter moved under a
  lock changes with every commit. The generation changes when a backup is restored, so counters
  wound back by a restore never find a value kept before it, with no restart. A value made
  from a request's arguments alone, which no write changes (a filter form, filled in and
  checked), is kept under `Version.of_arguments(...)`: no generation, nothing to read.
- A value may say until when it holds (`Expiring`): an open time passes, or enters the last 24
  hours in which cancelling gives nothing back, without anything being written.
- Values are kept per process (a bounded LRU per name), and apart for each path the portal is
  mounted under (`SCRIPT_NAME`), which every link in them names. Nothing kept is trusted without the
  version read of the request that uses it, so any number of processes on any number of
  machines agree: each misses once per change and renders what the database says.
- `page(name, parts, make)` answers with a whole page. The page anonymous visitors share is
  kept whole under `parts` (the versions and arguments it is made from) until it expires, so
  a kept one costs its version read and no rendering; its script nonce is cut out when it is
  kept and each answer gets its own, so no two answers share one and the `Content-Security-
  Policy` header always names the nonce of the page it comes with. It answers with an `ETag`
  made of the same parts (and the release), `304 Not Modified` when the browser or a CDN
  already holds it, and `Cache-Control: public` for at most `PUBLIC_MAX_AGE` seconds and never
  past the moment the page expires. A page that depends on who asks is `private, no-store`.
  It is kept too when the caller names its `reader`, the signed-in person's rows as loaded
  (`rows_read`): every column of them, so any change to what the page or its frame shows
  makes a new key, and one person's page is never another's. Its session's CSRF token is cut
  out with the nonce and each answer gets its own; a request with a message to flash, or an
  HTMX request, gets a page made for it and keeps nothing. `Vary: Cookie` keeps a shared cache
  from handing one visitor's page to another.

The caller reads the version first, so whatever a miss then reads is at least as new as its
key, and a later change makes a new key: a kept value is never shown for newer data.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app, g, has_request_context, request, session
from werkzeug.wrappers import Response

from portal.models import utcnow
from portal.rendering import is_htmx
from portal.security import csp_nonce, is_signed_in
from portal.templating import csrf_token

KEPT = "portal.kept"
KEPT_PER_NAME = 4096  # per process; a value is a few kilobytes of HTML
KEPT_PAGES = 1024  # per process and page name; a directory page is some 12 kilobytes
T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class Version(NamedTuple):
    """One version of what a kept value shows: the database's life and its counters. A tuple,
    so that a key holding it is hashed and compared without a call into Python: the admin
    list looks up fifty rows a page, each key holding the page's version."""

    generation: str
    counters: tuple[Hashable, ...]

    @classmethod
    def of_arguments(cls, *arguments: Hashable) -> Version:
        """The version of a value that the request's `arguments` alone decide, not the data."""
        return cls("", arguments)


@dataclass(frozen=True)
class Expiring(Generic[T]):
    """A value that holds until `until` (None: until its version changes)."""

    value: T
    until: datetime | None


class _Store:
    """A bounded LRU of `Expiring` values, safe to share between a process's threads."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[Hashable, Expiring[Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, now: datetime) -> Expiring[Any] | None:
        with self._lock:
            found = self._values.get(key)
            if found is None:
                return None
            if found.until is not None and now >= found.until:
                del self._values[key]
                return None
            self._values.move_to_end(key)
            return found

    def put(self, key: Hashable, value: Expiring[Any]) -> None:
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self._size:
                self._values.popitem(last=False)


def init_app(app: Flask) -> None:
    app.extensions[KEPT] = {}


def _mounted_at() -> str:
    """The path the portal is mounted under for this request (`SCRIPT_NAME`): every link in a
    kept value names it, so each value is kept apart for each such path."""
    return request.script_root if has_request_context() else ""


def _store(name: str, size: int = KEPT_PER_NAME) -> _Store:
    stores: dict[str, _Store] = current_app.extensions[KEPT]
    store = stores.get(name)
    if store is None:
        store = stores.setdefault(name, _Store(size))
    return store


def kept(name: str, version: Version, make: Callable[[], T]) -> T:
    """What `make()` gives for `version`, made once per process per version."""
    store = _store(name)
    key = (version, _mounted_at())
    found = store.get(key, utcnow())
    if found is not None:
        return found.value  # type: ignore[no-any-return]
    value = make()
    store.put(key, Expiring(value, None))
    return value


def kept_many(
    name: str,
    versions: Mapping[K, Version],
    make: Callable[[Collection[K]], Mapping[K, Expiring[T]]],
    *,
    now: datetime | None = None,
) -> dict[K, Expiring[T]]:
    """Each key's value under its version; the missing ones made by ONE call of `make`.

    `make(keys)` returns an `Expiring` value for every key it is given, so a page of values
    costs the same number of queries whether none, some or all of them are kept.
    """
    now = now or utcnow()
    store = _store(name)
    mounted_at = _mounted_at()
    found: dict[K, Expiring[T]] = {}
    missing = []
    for key, version in versions.items():
        hit = store.get((key, version, mounted_at), now)
        if hit is None:
            missing.append(key)
        else:
            found[key] = hit
    if missing:
        made = make(missing)
        for key in missing:
            store.put((key, versions[key], mounted_at), made[key])
            found[key] = made[key]
    return found


def earliest(*moments: datetime | None) -> datetime | None:
    """The first of the moments a page's parts expire at (None when none expires)."""
    return min((m for m in moments if m is not None), default=None)


# --- HTTP caching of anonymous pages ----------------------------------------------------------


def is_shared_page() -> bool:
    """Whether this request's page is the same for every anonymous visitor: nobody signed in,
    and no message waiting to be shown once."""
    return not is_signed_in() and "_flashes" not in session


def etag(*parts: object) -> str:
    """A strong validator of a page made from `parts` (versions, arguments) by this release."""
    digest = hashlib.sha256(repr((_release(), parts)).encode()).hexdigest()
    return digest[:32]


def not_modified(tag: str, expires: datetime | None) -> Response | None:
    """A 304 when the request already holds the page tagged `tag`, else None."""
    if not request.if_none_match.contains(tag):
        return None
    return shared(Response(status=304), tag, expires)


def shared(response: Response, tag: str, expires: datetime | None) -> Response:
    """Mark an anonymous page as one a browser or a CDN may keep, until it changes."""
    response.set_etag(tag)
    max_age = current_app.config["PUBLIC_MAX_AGE"]
    if expires is not None:
        max_age = max(0, min(max_age, int((expires - utcnow()).total_seconds())))
    response.headers["Cache-Control"] = f"public, max-age={max_age}, must-revalidate"
    response.vary.add("Cookie")
    return response


def personal(response: Response) -> Response:
    """Mark a page that depends on who asks: kept by no one."""
    response.headers["Cache-Control"] = "private, no-store"
    response.vary.add("Cookie")
    return response


@functools.cache
def _release() -> str:
    """A digest of the code and templates, so a new release never answers 304 to an old page."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for folder, pattern in ((root / "portal", "*.py"), (root / "templates", "*.html")):
        for path in sorted(folder.rglob(pattern)):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def page(
    name: str,
    parts: tuple[object, ...],
    make: Callable[[], Expiring[str]],
    *,
    reader: bytes | None = None,
) -> Response:
    """Answer with the page `make()` renders (its HTML, and until when it holds).

    For anonymous visitors the whole page is kept under `parts`, the versions and arguments it
    is made from, and tagged by them: a kept page is answered without rendering, or with a 304
    when the visitor holds it already. A signed-in person's page is kept only when the caller
    names its `reader` (`rows_read` of the rows it shows), under `reader` and `parts`, and is
    answered to them alone, kept by no one else. Any other page is made for whoever asks.
    """
    if is_shared_page():
        found = _kept_page(name, parts, make)
        kept_page: _KeptPage = found.value
        return not_modified(kept_page.tag, found.until) or shared(
            Response(kept_page.fill(), mimetype="text/html"), kept_page.tag, found.until
        )
    if reader is None or "_flashes" in session or is_htmx():
        return personal(Response(make().value, mimetype="text/html"))
    return personal(
        Response(_kept_page(name, (reader, parts), make).value.fill(), mimetype="text/html")
    )


def rows_read(*rows: object) -> bytes:
    """A digest of the loaded columns of `rows` (mapped instances, or None), as this request
    read them: a page made from them, kept under it, is made again when any of them changes.

    A column the request did not load (a deferred one) counts only as not loaded: a page kept
    under the digest must show nothing of such a column, since a kept answer never reads it.
    The digest, not the values, is kept: no password hash or sign-in token outlives the
    request in a key.
    """
    values = []
    for row in rows:
        if row is None:
            values.append(None)
        else:
            loaded = vars(row)
            values.append(tuple(map(loaded.get, _columns(type(row)), repeat(...))))
    return hashlib.sha256(repr(values).encode()).digest()


@functools.cache
def _columns(model: type) -> tuple[str, ...]:
    return tuple(column.key for column in sa.inspect(model).column_attrs)


def _kept_page(
    name: str, key: tuple[object, ...], make: Callable[[], Expiring[str]]
) -> Expiring[_KeptPage]:
    store = _store(name, KEPT_PAGES)
    key = (*key, _mounted_at())
    found = store.get(key, utcnow())
    if found is None:
        made = make()
        kept_page = _KeptPage.cut(made.value, _per_request_values(), etag(*key, made.until))
        found = Expiring(kept_page, made.until)
        store.put(key, found)
    return found


def _per_request_values() -> dict[str, str]:
    """What this request's rendering wrote that no other answer may show: the script nonce
    and, when the page asked for it, the session's CSRF token."""
    values = {"nonce": csp_nonce()}  # the one this rendering used
    token = g.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    if token is not None:
        values["csrf"] = token
    return values


_FILLS: dict[str, Callable[[], str]] = {"nonce": csp_nonce, "csrf": csrf_token}


@dataclass(frozen=True)
class _KeptPage:
    """A kept page: its HTML in the pieces around the values each answer writes its own of
    (`slots`, by name: its script nonce, its session's CSRF token), and its ETag."""

    pieces: tuple[str, ...]
    slots: tuple[str, ...]
    tag: str

    @classmethod
    def cut(cls, html: str, values: Mapping[str, str], tag: str) -> _KeptPage:
        slot_of = {value: slot for slot, value in values.items()}
        split = re.split("(" + "|".join(map(re.escape, slot_of)) + ")", html)
        return cls(tuple(split[0::2]), tuple(slot_of[value] for value in split[1::2]), tag)

    def fill(self) -> str:
        """The page with this request's own values in its slots."""
        values = {slot: _FILLS[slot]() for slot in set(self.slots)}
        filled = [self.pieces[0]]
        for slot, piece in zip(self.slots, self.pieces[1:], strict=True):
            filled += (values[slot], piece)
        return "".join(filled)
