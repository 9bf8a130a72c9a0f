"""SetupIntents: saving a card for later, on the API or the hosted Checkout page.

Promises: `setup_intent.created`, then `setup_intent.succeeded` with the card attached to the
customer, or `setup_intent.setup_failed` with `last_setup_error` and the card error raised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import cards
from ..cards import Behaviour
from ..errors import invalid_request
from ..params import get_bool, get_choice, get_str, merge_metadata
from ..store import Obj, render
from . import payment_methods

if TYPE_CHECKING:
    from ..sandbox import Sandbox


def create_setup_intent(sb: Sandbox, p: dict[str, Any], account: str | None) -> Obj:
    seti_id = sb.store.new_id("seti")
    customer = get_str(p, "customer")
    if customer:
        sb.store.get(customer, "customer", account, "customer")
    pm_id = get_str(p, "payment_method")
    pm = payment_methods.resolve_payment_method(sb, pm_id, account) if pm_id else None
    seti: Obj = {
        "id": seti_id,
        "object": "setup_intent",
        "application": None,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "client_secret": f"{seti_id}_secret_{sb.store.new_id('x')[2:]}",
        "created": sb.store.now(),
        "customer": customer,
        "description": get_str(p, "description"),
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": merge_metadata({}, p.get("metadata")),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": pm["id"] if pm else None,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "single_use_mandate": None,
        "status": "requires_confirmation" if pm else "requires_payment_method",
        "usage": get_choice(p, "usage", ["off_session", "on_session"], "off_session"),
    }
    sb.store.add(seti, account)
    sb.emit("setup_intent.created", seti, account)
    if get_bool(p, "confirm"):
        confirm_setup_intent(sb, seti, {}, account)
    return seti


def confirm_setup_intent(sb: Sandbox, seti: Obj, p: dict[str, Any], account: str | None) -> Obj:
    if seti["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise invalid_request(
            f"You cannot confirm this SetupIntent because it has a status of {seti['status']}.",
            None,
            "setup_intent_unexpected_state",
        )
    if pm_id := get_str(p, "payment_method"):
        seti["payment_method"] = payment_methods.resolve_payment_method(sb, pm_id, account)["id"]
    if not seti["payment_method"]:
        raise invalid_request(
            "You cannot confirm this SetupIntent because it's missing a payment method.",
            "payment_method",
            "setup_intent_unexpected_state",
        )
    pm = sb.store.get(seti["payment_method"], "payment_method", account, "payment_method")
    error = cards.attach_outcome(Behaviour(pm["_behaviour"]))
    if error is not None:
        seti["status"] = "requires_payment_method"
        seti["payment_method"] = None
        seti["last_setup_error"] = payment_methods.last_error(error, pm)
        sb.emit("setup_intent.setup_failed", seti, account)
        error.extra["setup_intent"] = render(seti)
        raise error
    if seti["customer"]:
        payment_methods.attach_payment_method(sb, pm, seti["customer"], account, check=False)
    seti["status"] = "succeeded"
    seti["last_setup_error"] = None
    sb.emit("setup_intent.succeeded", seti, account)
    return seti
