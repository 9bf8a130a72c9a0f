"""Control endpoints under `/_sandbox/` for tests and demos (no API key needed).

Promises: move the clock, pause/resume/force/flush webhook deliveries, shuffle and double them
(chaos), redeliver an event, make the next payout fail, close a dispute as won or lost, have
Stripe ask an onboarded account for more information, make a succeeded refund fail as a card's
bank can,
reconfigure webhook endpoints, reset everything, and show every delivery attempt. Bodies may be
JSON (an object) or form-encoded; answers are JSON. A value a control cannot use is refused as
Stripe refuses a parameter (400, `invalid_request_error` naming it) before anything changes.
"""

from __future__ import annotations

import math
import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from .errors import StripeError, invalid_request
from .resources import accounts, disputes, refunds
from .sandbox import Sandbox
from .store import Obj

bp = Blueprint("control", __name__, url_prefix="/_sandbox")


def _found(sb: Sandbox, object_id: str, kind: str) -> Obj:
    """The `kind` object `object_id`, in whichever account it lives; 400 when there is none."""
    found = sb.store.find(object_id)
    if found is None or found.get("object") != kind:
        raise invalid_request(f"No such {kind}: '{object_id}'", "id")
    return found


def sandbox() -> Sandbox:
    return current_app.extensions["stripe_sandbox"]


# The clock moves at most this far in one step: a date past year 9999 cannot be shown, and a
# clock moved there failed every later request.
MAX_ADVANCE_SECONDS = 10 * 365 * 86400
MAX_FLUSH_SECONDS = 600.0
LISTS = ("ids", "currently_due")


def _body() -> dict[str, Any]:
    if request.is_json:
        data = request.get_json(silent=True)
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise invalid_request("The body must be a JSON object or a form.")
        return data
    data = request.form.to_dict()
    for name in LISTS:
        values = request.form.getlist(name) or request.form.getlist(f"{name}[]")
        if values:
            data[name] = values
    return data


def _seconds(body: dict[str, Any], name: str, maximum: int) -> int:
    """`body[name]`, a whole number of seconds from 0 to `maximum` (0 when absent or empty)."""
    value = body.get(name)
    if value is None or value == "":
        return 0
    whole = isinstance(value, int) and not isinstance(value, bool)
    if (whole or (isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,20}", value))) and (
        0 <= int(value) <= maximum
    ):
        return int(value)
    raise invalid_request(f"{name} must be a whole number of seconds from 0 to {maximum}", name)


def _list_of_strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid_request(f"{name} must be a list of strings", name)
    return value


@bp.errorhandler(StripeError)
def _stripe_error(exc: StripeError) -> tuple[Response, int]:
    return jsonify(exc.body()), exc.status


@bp.post("/clock/advance")
def advance_clock() -> Response:
    seconds = _seconds(_body(), "seconds", MAX_ADVANCE_SECONDS)
    sb = sandbox()
    sb.advance(seconds)
    return jsonify(now=sb.store.now(), offset=sb.store.offset)


@bp.get("/clock")
def clock() -> Response:
    sb = sandbox()
    return jsonify(now=sb.store.now(), offset=sb.store.offset)


@bp.post("/events/<eid>/redeliver")
def redeliver(eid: str) -> Response:
    sb = sandbox()
    sb.webhooks.enqueue(_found(sb, eid, "event"))
    return jsonify(queued=eid)


@bp.post("/webhooks/pause")
def pause() -> Response:
    sandbox().webhooks.pause()
    return jsonify(paused=True)


@bp.post("/webhooks/resume")
def resume() -> Response:
    sandbox().webhooks.resume()
    return jsonify(paused=False)


@bp.post("/webhooks/deliver")
def deliver() -> Response:
    ids = _body().get("ids") or []
    if not isinstance(ids, list):
        raise invalid_request("ids must be a list of event ids", "ids")
    return jsonify(deliveries=sandbox().webhooks.deliver_now([str(i) for i in ids]))


@bp.post("/webhooks/flush")
def flush() -> Response:
    timeout = _body().get("timeout", 10)
    try:
        seconds = float(str(timeout))
    except ValueError:
        seconds = math.nan
    if isinstance(timeout, bool) or not 0 <= seconds <= MAX_FLUSH_SECONDS:
        raise invalid_request(
            f"timeout must be a number of seconds from 0 to {MAX_FLUSH_SECONDS:g}", "timeout"
        )
    webhooks = sandbox().webhooks
    drained = webhooks.flush(seconds)
    return jsonify(drained=drained, held=webhooks.held(), deliveries=webhooks.deliveries)


@bp.post("/webhooks/config")
def configure_webhooks() -> Response:
    body = _body()
    keys = ("webhook_url", "connect_webhook_url", "webhook_secret", "connect_webhook_secret")
    for key in keys:
        if key in body and not isinstance(body[key], str | None):
            raise invalid_request(f"{key} must be a string", key)
    config = sandbox().config
    for key in keys:
        if key in body:
            setattr(config, key, body[key] or None if key.endswith("url") else body[key])
    return jsonify(webhook_url=config.webhook_url, connect_webhook_url=config.connect_webhook_url)


@bp.post("/webhooks/chaos")
def webhook_chaos() -> Response:
    """`on`: true to shuffle and double deliveries from now on, false for Stripe's usual order."""
    on = _body().get("on")
    if isinstance(on, str):
        on = {"true": True, "1": True, "false": False, "0": False}.get(on.lower())
    if not isinstance(on, bool):
        raise invalid_request("on must be true or false", "on")
    config = sandbox().config
    config.webhook_chaos = on
    return jsonify(webhook_chaos=config.webhook_chaos)


@bp.get("/deliveries")
def deliveries() -> Response:
    webhooks = sandbox().webhooks
    event = request.args.get("event")
    found = [d for d in webhooks.deliveries if event is None or d["event"] == event]
    return jsonify(paused=webhooks.paused, held=webhooks.held(), deliveries=found)


@bp.post("/payouts/fail_next")
def fail_next_payout() -> Response:
    account = _body().get("account") or None
    sb = sandbox()
    with sb.store.lock:
        sb.store.fail_next_payout.add(account)
    return jsonify(fail_next=account or "any account")


@bp.post("/disputes/<did>/close")
def close_dispute(did: str) -> Response:
    outcome = str(_body().get("outcome") or "")
    sb = sandbox()
    with sb.store.lock:
        dispute = _found(sb, did, "dispute")
        disputes.close(sb, dispute, outcome)
        return jsonify(id=did, status=dispute["status"])


@bp.post("/accounts/<aid>/require")
def require_information(aid: str) -> Response:
    body = _body()
    due = _list_of_strings(body, "currently_due")
    deadline_in = _seconds(body, "deadline_in", MAX_ADVANCE_SECONDS)
    sb = sandbox()
    with sb.store.lock:
        account = sb.store.get(aid, "account", None, "account")
        deadline = sb.store.now() + deadline_in if deadline_in else None
        accounts.ask_for_more(sb, account, due, deadline)
        return jsonify(id=aid, requirements=account["requirements"])


@bp.post("/refunds/<rid>/fail")
def fail_refund(rid: str) -> Response:
    reason = str(_body().get("reason") or "expired_or_canceled_card")
    sb = sandbox()
    with sb.store.lock:
        refund = _found(sb, rid, "refund")
        refunds.fail(sb, refund, reason, sb.store.owner.get(rid))
        return jsonify(id=rid, status=refund["status"])


@bp.post("/reset")
def reset() -> Response:
    sandbox().reset()
    return jsonify(reset=True)
