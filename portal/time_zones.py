"""Each person's time zone, and the one way the portal shows a time.

What this module promises:

- A time zone is an IANA name (`Europe/Berlin`) that `zoneinfo` knows, from the system's
  database or the `tzdata` package; `is_time_zone` is the one check. `localtime` and `Factory`
  are in that list on some systems but name no place, so they are refused.
- `show_time(moment, zone)` is how a UTC moment is written for a person, on pages (the
  `datetime` template filter), in mail and in CSV files: "Mon 30 Nov 2026, 10:00 CET", always
  with the zone's abbreviation, so a time is never read in the wrong zone.
- `wall_time_to_utc(wall, zone)` reads a date and time a person typed as the time on their
  clock. A time that the clock skips (the spring-forward gap) raises `NonexistentTime`; one it
  shows twice (the fall-back overlap) is the first of the two.

Storage stays UTC; nothing here reads the request (`portal.templating` decides whose zone a
page uses).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

DEFAULT_TIME_ZONE = "UTC"
FULL = "%a %d %b %Y, %H:%M %Z"
_NOT_PLACES = frozenset({"localtime", "Factory"})


class NonexistentTime(ValueError):
    """A wall-clock time that the zone's clocks skip (the spring-forward gap)."""


@cache
def time_zone_names() -> frozenset[str]:
    """Every zone name a person may choose."""
    return frozenset(available_timezones() - _NOT_PLACES)


@cache
def suggested_time_zones() -> list[str]:
    """The names offered in a list: places (`Region/City`) and UTC, without legacy aliases."""
    places = (n for n in time_zone_names() if "/" in n and not n.startswith(("Etc/", "US/")))
    return sorted({*places, DEFAULT_TIME_ZONE})


def is_time_zone(name: str | None) -> bool:
    return bool(name) and name in time_zone_names()


def zone_of(name: str | None) -> ZoneInfo:
    """The zone called `name`, or UTC for an unknown or empty name."""
    return ZoneInfo(name if name and is_time_zone(name) else DEFAULT_TIME_ZONE)


def local(moment: datetime, zone: str | None) -> datetime:
    """The aware UTC `moment` on the clocks of `zone`."""
    if moment.tzinfo is None:
        raise ValueError("Naive datetimes cannot be shown; pass a timezone-aware UTC value.")
    return moment.astimezone(zone_of(zone))


def show_time(moment: datetime | None, zone: str | None, fmt: str = FULL) -> str:
    """`moment` as a person in `zone` reads it ("Mon 30 Nov 2026, 10:00 CET"); "" for None."""
    return "" if moment is None else local(moment, zone).strftime(fmt)


def wall_time_to_utc(wall: datetime, zone: str) -> datetime:
    """The UTC moment at which the clocks of `zone` show the naive `wall` time.

    Raises `NonexistentTime` for a time the clocks skip; an ambiguous time (shown twice when
    the clocks go back) is its first occurrence.
    """
    if wall.tzinfo is not None:
        raise ValueError("Pass the wall-clock time as a naive datetime.")
    first = wall.replace(tzinfo=zone_of(zone), fold=0)
    moment = first.astimezone(UTC)
    if moment.astimezone(first.tzinfo).replace(tzinfo=None) != wall:
        raise NonexistentTime(
            f"{wall:%d %b %Y, %H:%M} does not exist in {zone}: the clocks go forward then. "
            "Pick a time an hour later or earlier."
        )
    return moment
