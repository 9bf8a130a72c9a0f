"""Connect accounts: Express accounts, their onboarding, login links and external accounts.

Promises: a new account owes its onboarding requirements with charges and payouts disabled;
finishing the hosted onboarding clears them, enables both, and emits `account.updated` (with
`account` set), `account.external_account.created` for the bank account and `capability.updated`
for each capability turned active. A debit card external account (test 4000056655665556, or
token tok_visa_debit) makes instant payouts possible (payouts.py).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .. import cards
from ..errors import invalid_request, missing_param
from ..events import changed_fields
from ..params import get_bool, get_choice, get_dict, get_int, get_str, merge_metadata
from ..store import Obj, list_object, render

if TYPE_CHECKING:
    from ..sandbox import Sandbox

COUNTRY_CURRENCY = {
    "US": "usd", "GB": "gbp", "CA": "cad", "AU": "aud", "JP": "jpy", "CH": "chf", "NZ": "nzd",
    "DE": "eur", "FR": "eur", "ES": "eur", "IT": "eur", "NL": "eur", "IE": "eur", "BE": "eur",
    "AT": "eur", "PT": "eur", "FI": "eur",
}  # fmt: skip
PERSONAL_REQUIREMENTS = [
    "business_type",
    "individual.dob.day",
    "individual.dob.month",
    "individual.dob.year",
    "individual.first_name",
    "individual.last_name",
    "tos_acceptance.date",
    "tos_acceptance.ip",
]
BANK_REQUIREMENTS = ["external_account"]
TEST_ROUTING_NUMBER = "110000000"
GOOD_ACCOUNT_NUMBER = "000123456789"
FAILING_ACCOUNT_NUMBER = "000111111116"
DEBIT_CARDS = {"4000056655665556": "Visa", "5200828282828210": "MasterCard"}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
"""Stripe's test debit cards: the external accounts that can receive instant payouts."""
DEBIT_TOKENS = {"tok_visa_debit": "4000056655665556", "tok_mastercard_debit": "5200828282828210"}
LINK_LIFETIME = 300


# -- accounts ------------------------------------------------------------------------------------
BUSINESS_PROFILE: Obj = {
    "annual_revenue": None,
    "estimated_worker_count": None,
    "mcc": None,
    "name": None,
    "product_description": None,
    "support_address": None,
    "support_email": None,
    "support_phone": None,
    "support_url": None,
    "url": None,
}
CONTROLLER: Obj = {
    "fees": {"payer": "application"},
    "is_controller": True,
    "losses": {"payments": "application"},
    "requirement_collection": "stripe",
    "type": "application",
}
ACCOUNT_DEFAULTS: Obj = {
    "charges_enabled": False,
    "details_submitted": False,
    "payouts_enabled": False,
    "settings": {
        "branding": {
            "icon": None,
            "logo": None,
            "primary_color": None,
            "secondary_color": None,
        },
        "card_payments": {
            "decline_on": {"avs_failure": False, "cvc_failure": False},
            "statement_descriptor_prefix": None,
            "statement_descriptor_prefix_kana": None,
            "statement_descriptor_prefix_kanji": None,
        },
        "dashboard": {"display_name": None, "timezone": "Etc/UTC"},
        "payments": {
            "statement_descriptor": None,
            "statement_descriptor_kana": None,
            "statement_descriptor_kanji": None,
            "statement_descriptor_prefix_kana": None,
            "statement_descriptor_prefix_kanji": None,
        },
        "payouts": {
            "debit_negative_balances": True,
            "schedule": {"delay_days": 2, "interval": "daily"},
            "statement_descriptor": None,
        },
    },
    "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
    "_bank_fails": False,
    "_individual": {},
}
"""A new account's fields that the request does not decide: Stripe's values before onboarding
(a daily payout schedule with 2 days' delay, as for a new US account)."""


def create_account(sb: Sandbox, p: dict[str, Any]) -> Obj:
    account_type = get_choice(p, "type", ["express", "standard", "custom"], "express")
    country = (get_str(p, "country") or "US").upper()
    requested = get_dict(p, "capabilities")
    capabilities = {
        name: "inactive"
        for name, v in requested.items()
        if get_bool(get_dict(requested, name), "requested")
    } or {"card_payments": "inactive", "transfers": "inactive"}
    acct_id = sb.store.new_id("acct", 16)
    account: Obj = {
        "id": acct_id,
        "object": "account",
        **copy.deepcopy(ACCOUNT_DEFAULTS),
        "business_profile": {
            **BUSINESS_PROFILE,
            **{k: v for k, v in get_dict(p, "business_profile").items() if isinstance(v, str)},
        },
        "business_type": get_choice(
            p, "business_type", ["individual", "company", "non_profit", "government_entity"]
        ),
        "capabilities": capabilities,
        "controller": {
            **copy.deepcopy(CONTROLLER),
            "stripe_dashboard": {"type": account_type if account_type != "custom" else "none"},
        },
        "country": country,
        "created": sb.store.now(),
        "default_currency": COUNTRY_CURRENCY.get(country, "usd"),
        "email": get_str(p, "email"),
        "external_accounts": list_object(f"/v1/accounts/{acct_id}/external_accounts", []),
        "future_requirements": _requirements([], None),
        "metadata": merge_metadata({}, p.get("metadata")),
        "requirements": _requirements(
            [r for r in PERSONAL_REQUIREMENTS if r != "business_type" or not p.get("business_type")]
            + BANK_REQUIREMENTS,
            "requirements.past_due",
        ),
        "type": account_type,
    }
    if schedule := get_dict(get_dict(get_dict(p, "settings"), "payouts"), "schedule"):
        _apply_schedule(account, schedule)
    sb.store.add(account, None)
    return account


def _requirements(due: list[str], disabled_reason: str | None) -> Obj:
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": disabled_reason if due else None,
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


def _apply_schedule(account: Obj, schedule: dict[str, Any]) -> None:
    param = "settings[payouts][schedule]"
    current = dict(account["settings"]["payouts"]["schedule"])
    interval = get_choice(schedule, "interval", ["manual", "daily", "weekly", "monthly"])
    if interval:
        current = {"delay_days": current.get("delay_days", 2), "interval": interval}
    if "delay_days" in schedule:
        days = schedule["delay_days"]
        current["delay_days"] = 2 if days == "minimum" else get_int(schedule, "delay_days")
    if current["interval"] == "weekly":
        anchor = get_str(schedule, "weekly_anchor") or current.get("weekly_anchor")
        if anchor not in WEEKDAYS:
            raise invalid_request(
                "You must specify a weekly_anchor (monday..sunday) for a weekly payout schedule.",
                f"{param}[weekly_anchor]",
            )
        current["weekly_anchor"] = anchor
    if current["interval"] == "monthly":
        anchor_day = get_int(schedule, "monthly_anchor") or current.get("monthly_anchor")
        if anchor_day is None or not 1 <= anchor_day <= 31:
            raise invalid_request(
                "You must specify a monthly_anchor between 1 and 31 for a monthly payout schedule.",
                f"{param}[monthly_anchor]",
            )
        current["monthly_anchor"] = anchor_day
    account["settings"]["payouts"]["schedule"] = current


def update_account(sb: Sandbox, account: Obj, p: dict[str, Any]) -> Obj:
    before = render(account)
    if "email" in p:
        account["email"] = get_str(p, "email")
    if "business_type" in p:
        account["business_type"] = get_str(p, "business_type")
    account["metadata"] = merge_metadata(account["metadata"], p.get("metadata"))
    for key, value in get_dict(p, "business_profile").items():
        account["business_profile"][key] = value or None
    settings = get_dict(get_dict(p, "settings"), "payouts")
    if schedule := get_dict(settings, "schedule"):
        _apply_schedule(account, schedule)
    if "statement_descriptor" in settings:
        account["settings"]["payouts"]["statement_descriptor"] = settings["statement_descriptor"]
    emit_account_updated(sb, account, before)
    return account


def emit_account_updated(sb: Sandbox, account: Obj, before: Obj) -> None:
    if previous := changed_fields(before, account):
        sb.emit("account.updated", account, account["id"], previous)


def ask_for_more(sb: Sandbox, account: Obj, due: list[str], deadline: int | None) -> None:
    """Stripe asking an account for more information after onboarding (a document, an ID
    number): with a `deadline` the payouts go on until then; without one they stop now."""
    before = render(account)
    account["requirements"] = {
        **_requirements(due, None if deadline else "requirements.past_due"),
        "current_deadline": deadline,
        "past_due": [] if deadline else list(due),
    }
    if not deadline and due:
        account["payouts_enabled"] = False
    emit_account_updated(sb, account, before)


def delete_account(sb: Sandbox, account: Obj) -> Obj:
    with sb.store.lock:
        del sb.store.objects[account["id"]]
    return {"id": account["id"], "object": "account", "deleted": True}


# -- onboarding ----------------------------------------------------------------------------------
def create_account_link(sb: Sandbox, p: dict[str, Any]) -> Obj:
    account_id = get_str(p, "account", required=True) or ""
    sb.store.get(account_id, "account", None, "account")
    get_choice(p, "type", ["account_onboarding", "account_update"])
    if not p.get("type"):
        raise missing_param("type")
    refresh_url = get_str(p, "refresh_url", required=True)
    return_url = get_str(p, "return_url", required=True)
    link_id = sb.store.new_id("link")
    now = sb.store.now()
    sb.store.links[link_id] = {
        "kind": "account_link",
        "account": account_id,
        "refresh_url": refresh_url,
        "return_url": return_url,
        "expires_at": now + LINK_LIFETIME,
        "used": False,
    }
    return {
        "object": "account_link",
        "created": now,
        "expires_at": now + LINK_LIFETIME,
        "url": sb.page_url(f"/connect/onboarding/{link_id}"),
    }


def submit_personal_details(sb: Sandbox, account: Obj, form: dict[str, str]) -> list[str]:
    """Store step one of onboarding; returns the problems to show (empty when accepted)."""
    problems = []
    for field, label in (("first_name", "First name"), ("last_name", "Last name")):
        if not form.get(field, "").strip():
            problems.append(f"{label} is required.")
    dob = form.get("dob", "")
    try:
        year, month, day = (int(x) for x in dob.split("-"))
    except ValueError:
        problems.append("Date of birth is required (YYYY-MM-DD).")
        year = month = day = 0
    if not form.get("tos"):
        problems.append("Accept the services agreement to continue.")
    if problems:
        return problems
    before = render(account)
    account["business_type"] = account["business_type"] or "individual"
    account["_individual"] = {
        "first_name": form["first_name"].strip(),
        "last_name": form["last_name"].strip(),
        "dob": {"day": day, "month": month, "year": year},
    }
    account["business_profile"]["name"] = (
        account["business_profile"]["name"] or f"{form['first_name']} {form['last_name']}".strip()
    )
    account["tos_acceptance"] = {"date": sb.store.now(), "ip": "127.0.0.1", "user_agent": None}
    _set_due(
        account, [r for r in account["requirements"]["currently_due"] if r in BANK_REQUIREMENTS]
    )
    emit_account_updated(sb, account, before)
    return []


def submit_bank_account(
    sb: Sandbox, account: Obj, routing: str, number: str, debit_card: str = ""
) -> list[str]:
    """Store step two (the bank account, and a debit card for instant payouts if given) and
    finish onboarding; returns problems if any."""
    routing, number = routing.strip(), number.strip()
    debit_card = debit_card.replace(" ", "").strip()
    if not (routing.isdigit() and len(routing) == 9):
        return [f"Routing number must be 9 digits (test: {TEST_ROUTING_NUMBER})."]
    if not (number.isdigit() and 4 <= len(number) <= 17):
        return [f"Account number must be 4 to 17 digits (test: {GOOD_ACCOUNT_NUMBER})."]
    if debit_card and debit_card not in DEBIT_CARDS:
        return [
            "Only a debit card can receive instant payouts "
            f"(test: {next(iter(DEBIT_CARDS))}); leave the card empty to skip it."
        ]
    before = render(account)
    bank = _bank_account(sb, account, routing, number)
    account["external_accounts"]["data"] = [bank]
    if debit_card:
        _add_debit_card(sb, account, debit_card)
    account["_bank_fails"] = number == FAILING_ACCOUNT_NUMBER
    remaining = [r for r in account["requirements"]["currently_due"] if r not in BANK_REQUIREMENTS]
    _set_due(account, remaining)
    account["details_submitted"] = True
    if not remaining:
        account["charges_enabled"] = True
        account["payouts_enabled"] = True
        account["capabilities"] = {name: "active" for name in account["capabilities"]}
    emit_account_updated(sb, account, before)
    sb.emit("account.external_account.created", bank, account["id"])
    for name, status in account["capabilities"].items():
        if before["capabilities"].get(name) != status:
            previous = {"status": before["capabilities"].get(name)}
            sb.emit("capability.updated", capability(sb, account, name), account["id"], previous)
    return []


def _bank_account(sb: Sandbox, account: Obj, routing: str, number: str) -> Obj:
    """The account's bank account for standard payouts (the default for its currency)."""
    return {
        "id": sb.store.new_id("ba"),
        "object": "bank_account",
        "account": account["id"],
        "account_holder_name": None,
        "account_holder_type": "individual",
        "available_payout_methods": ["standard"],
        "bank_name": "STRIPE TEST BANK",
        "country": account["country"],
        "currency": account["default_currency"],
        "default_for_currency": True,
        "fingerprint": sb.store.new_id("fp", 12)[3:],
        "last4": number[-4:],
        "metadata": {},
        "routing_number": routing,
        "status": "new",
    }


def _add_debit_card(sb: Sandbox, account: Obj, number: str) -> Obj:
    """A debit card external account (never the default for standard payouts)."""
    brand = DEBIT_CARDS[number]
    card: Obj = {
        "id": sb.store.new_id("card"),
        "object": "card",
        "account": account["id"],
        "address_city": None,
        "address_country": None,
        "address_line1": None,
        "address_line1_check": None,
        "address_line2": None,
        "address_state": None,
        "address_zip": None,
        "address_zip_check": None,
        "available_payout_methods": ["standard", "instant"],
        "brand": brand,
        "country": account["country"],
        "currency": account["default_currency"],
        "cvc_check": "pass",
        "default_for_currency": False,
        "dynamic_last4": None,
        "exp_month": 12,
        "exp_year": 2034,
        "fingerprint": cards.inspect(number).fingerprint,
        "funding": "debit",
        "last4": number[-4:],
        "metadata": {},
        "name": None,
        "status": None,
        "tokenization_method": None,
    }
    account["external_accounts"]["data"].append(card)
    sb.emit("account.external_account.created", card, account["id"])
    return card


def create_external_account(sb: Sandbox, account: Obj, p: dict[str, Any]) -> Obj:
    """`POST /v1/accounts/{id}/external_accounts` with a debit card token (tok_visa_debit)."""
    token = get_str(p, "external_account", required=True) or ""
    number = DEBIT_TOKENS.get(token)
    if number is None:
        raise invalid_request(
            "The sandbox adds debit cards by token: "
            + ", ".join(DEBIT_TOKENS)
            + " (a credit card cannot receive payouts).",
            "external_account",
            "invalid_card_type",
        )
    before = render(account)
    card = _add_debit_card(sb, account, number)
    emit_account_updated(sb, account, before)
    return card


def capability(sb: Sandbox, account: Obj, name: str) -> Obj:
    """The `capability` object for one of the account's capabilities, as Stripe shows it."""
    status = account["capabilities"][name]
    due = [] if status == "active" else account["requirements"]["currently_due"]
    return {
        "id": name,
        "object": "capability",
        "account": account["id"],
        "future_requirements": _requirements([], None),
        "requested": True,
        "requested_at": account["created"],
        "requirements": _requirements(due, None if status == "active" else "requirements.past_due"),
        "status": status,
    }


def _set_due(account: Obj, due: list[str]) -> None:
    account["requirements"] = _requirements(due, "requirements.past_due")


def create_login_link(sb: Sandbox, account: Obj) -> Obj:
    if account["type"] != "express":
        raise invalid_request("Login links can only be created for Express accounts.", "account")
    if not account["details_submitted"]:
        raise invalid_request(
            "Cannot create a login link for an account that has not completed onboarding.",
            "account",
        )
    token = sb.store.new_id("lnk")
    sb.store.links[token] = {"kind": "login_link", "account": account["id"]}
    return {
        "object": "login_link",
        "created": sb.store.now(),
        "url": sb.page_url(f"/connect/express/{token}"),
    }
