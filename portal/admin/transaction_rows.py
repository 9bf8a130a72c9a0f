"""The transactions list's rows as HTML, each row written once.

A page of the list is fifty rows of eight cells. Written cell by cell in the template, each row
was a dozen expressions that Jinja escaped one at a time and five filter calls: some 650 calls
to `escape` and 250 to filters per page, the largest part of the page's CPU. Here a row is one
format string filled once. What people typed (names and emails) and the list's URL (it names
the path the portal is mounted under, `SCRIPT_NAME`) are escaped; everything else is the
portal's own text: ids, the words of an enum's value, a date on the reader's clock, and an
amount as `format_money` writes it (digits and a currency's symbol or checked code), none of
which can hold markup.

Even so, the date and the two amounts cost most of a row, so a written row is kept
(`portal.caching.kept_many`) under everything it is made from: the row's values as this
request read them, the reader's zone and the list's URL. A row that changes (a refund, a
dispute, a renamed mentee) is read with new values and written again; nothing kept is shown
for data it was not made from. A page of rows seen before (the list's first page, asked again
as payments arrive) costs a look-up per row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from markupsafe import Markup, escape

from portal import caching
from portal.models import TransactionStatus
from portal.money import format_money
from portal.time_zones import show_time

DATE_FORMAT = "%Y-%m-%d %H:%M:%S %Z"
# Each status's badge colour, as `status_badge` in templates/admin/_macros.html shows it; a
# status not named here gets a plain badge there and here.
TONES = {
    TransactionStatus.COMPLETED: "badge badge-ok",
    TransactionStatus.PENDING: "badge badge-warn",
    TransactionStatus.REFUNDED: "badge badge-warn",
    TransactionStatus.PARTIALLY_REFUNDED: "badge badge-warn",
    TransactionStatus.FAILED: "badge badge-bad",
}
_ROW = (
    '<tr id="txn-{id}">'
    '<td data-label="#"><a href="{list_url}/{id}">{id}</a></td>'
    '<td data-label="Date">{date}</td>'
    '<td data-label="Type">{type}</td>'
    '<td data-label="Status"><span class="{tone}">{status}</span>{disputed}</td>'
    '<td data-label="Mentee">{payer}</td>'
    '<td data-label="Coach">{coach}</td>'
    '<td data-label="Amount" class="num">{amount}</td>'
    '<td data-label="Fee" class="num">{fee}</td>'
    "</tr>\n"
)
_DISPUTED = ' <span class="badge badge-bad">disputed</span>'
_NOBODY = '<span class="muted">none</span>'


def rows_html(rows: Iterable[Any], *, list_url: str, zone: str) -> Markup:
    """The `<tr>`s of `list_page`'s rows, in their order: dates on the clock of `zone`, each
    row's link `list_url` and its id (as `admin.transaction` routes it)."""
    version = caching.Version.of_arguments(list_url, zone)
    listed = [tuple(row) for row in rows]
    written = caching.kept_many(
        "admin.transaction_rows",
        dict.fromkeys(listed, version),
        lambda missing: {
            row: caching.Expiring(_row_html(row, escape(list_url), zone), None) for row in missing
        },
    )
    return Markup("".join(written[row].value for row in listed))  # noqa: S704 - see _row_html


def _row_html(row: tuple[Any, ...], list_url: str, zone: str) -> str:
    """One row; every value in it is escaped or the portal's own text (the module's note)."""
    (
        id_,
        created_at,
        type_,
        status,
        currency,
        amount,
        platform_fee,
        _coach_share,
        disputed,
        payer_name,
        payer_email,
        coach_name,
        coach_email,
    ) = row
    return _ROW.format(
        id=id_,
        list_url=list_url,
        date=show_time(created_at, zone, DATE_FORMAT),
        type=type_.value.replace("_", " "),
        tone=TONES.get(status, "badge"),
        status=status.value.replace("_", " "),
        disputed=_DISPUTED if disputed else "",
        payer=_person(payer_name, payer_email),
        coach=_person(coach_name, coach_email),
        amount=format_money(amount, currency),
        fee=format_money(platform_fee, currency),
    )


def _person(name: str | None, email: str | None) -> str:
    """A party's name and email; a payment without one (a coach on a membership) says none."""
    if email is None:
        return _NOBODY
    return f'{escape(name)} <span class="hint">{escape(email)}</span>'
