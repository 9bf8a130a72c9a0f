"""The `/v1` API: authentication, Stripe-Account scoping, parameters, idempotency, expansion.

Promises: every route answers like Stripe's API for the calls the portal makes: JSON objects,
list objects with cursor pagination, `expand[]`, Stripe's error bodies and statuses (401 for a
missing or non-test key, 400 for unknown parameters, 404 resource_missing, 402 card errors), and
`Idempotency-Key` replays (`Idempotent-Replayed: true`) or conflicts (400 idempotency_error).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, request

from . import billing, checkout, connect, disputes, ledger, payments, transfers
from .errors import StripeError, invalid_request
from .events import set_request
from .params import check_names, decode_form, expand_list, get_str, merge_metadata, params_class
from .sandbox import Sandbox
from .store import Obj, paginate, render

bp = Blueprint("stripe_api", __name__, url_prefix="/v1")
Handler = Callable[..., Any]


def sandbox() -> Sandbox:
    return current_app.extensions["stripe_sandbox"]


def route(rule: str, method: str, params: str | None) -> Callable[[Handler], Handler]:
    """Register `handler(sb, p, account, **url_args)` for METHOD /v1{rule}, checked by `params`."""

    def register(handler: Handler) -> Handler:
        def view(**url_args: Any) -> Response:
            return _handle(handler, params, url_args)

        view.__name__ = f"{handler.__name__}_{method.lower()}"
        bp.add_url_rule(rule, view.__name__, view, methods=[method])
        return handler

    return register


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(body, indent=2), status, mimetype="application/json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def error_response(exc: StripeError) -> Response:
    return _json(exc.body(), exc.status)


def _authenticate() -> None:
    header = request.headers.get("Authorization", "")
    key = ""
    if header.startswith("Bearer "):
        key = header[7:].strip()
    elif header.startswith("Basic "):
        try:
            key = base64.b64decode(header[6:]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            key = ""
    if not key:
        raise StripeError(
            401,
            "invalid_request_error",
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth "
            "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    if not key.startswith(("sk_test_", "rk_test_")):
        shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:]
        raise StripeError(
            401,
            "invalid_request_error",
            f"Invalid API Key provided: {shown}. The sandbox accepts test keys (sk_test_...).",
            code="api_key_invalid",
        )


def _account(sb: Sandbox) -> str | None:
    account = request.headers.get("Stripe-Account") or None
    if account is None:
        return None
    obj = sb.store.find(account)
    if obj is None or obj.get("object") != "account":
        raise StripeError(
            403,
            "invalid_request_error",
            f"The provided key does not have access to account '{account}' (or that account "
            "does not exist). Application access may have been revoked.",
            code="account_invalid",
        )
    return account


def _params() -> dict[str, Any]:
    pairs = list(request.args.items(multi=True))
    if request.method in ("POST", "DELETE"):
        if request.is_json:
            raise invalid_request("The sandbox's v1 API takes form-encoded bodies.", None)
        pairs += list(request.form.items(multi=True))
    return decode_form(pairs)


def _handle(handler: Handler, params_name: str | None, url_args: dict[str, Any]) -> Response:
    sb = sandbox()
    request_id = sb.store.new_id("req", 14)
    idem_key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
    try:
        _authenticate()
        account = _account(sb)
        p = _params()
        check_names(p, params_class(params_name) if params_name else None)
        set_request(request_id, idem_key)
        fingerprint = hashlib.sha256(
            json.dumps([request.path, p], sort_keys=True).encode()
        ).hexdigest()
        with sb.store.lock:
            if idem_key:
                stored = sb.store.idempotency.get((account, idem_key))
                if stored is not None:
                    if stored["fingerprint"] != fingerprint:
                        raise StripeError(
                            400,
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{idem_key}' if you meant to execute a different request.",
                        )
                    return _json(
                        stored["body"],
                        stored["status"],
                        {
                            "Idempotent-Replayed": "true",
                            "Idempotency-Key": idem_key,
                            "Request-Id": request_id,
                        },
                    )
            sb.tick()
            try:
                result = handler(sb, p, account, **url_args)
                body, status = _expand(sb, render(result), expand_list(p)), 200
            except StripeError as exc:
                body, status = exc.body(), exc.status
            if idem_key:
                sb.store.idempotency[(account, idem_key)] = {
                    "fingerprint": fingerprint,
                    "status": status,
                    "body": body,
                }
            sb.tick()
        headers = {"Request-Id": request_id}
        if idem_key:
            headers["Idempotency-Key"] = idem_key
        return _json(body, status, headers)
    except StripeError as exc:
        return _json(exc.body(), exc.status, {"Request-Id": request_id})
    finally:
        set_request(None, None)


def _expand(sb: Sandbox, body: Any, paths: list[str]) -> Any:
    for path in paths:
        body = _expand_path(sb, body, path.split("."), path)
    return body


def _expand_path(sb: Sandbox, value: Any, parts: list[str], full: str) -> Any:
    if not parts or value is None:
        return value
    head, rest = parts[0], parts[1:]
    if isinstance(value, dict) and value.get("object") == "list" and head == "data":
        value["data"] = [_expand_path(sb, item, rest, full) for item in value["data"]]
        return value
    if not isinstance(value, dict):
        raise invalid_request(f"This property cannot be expanded ({full}).", "expand")
    if head == "line_items" and value.get("object") == "checkout.session":
        stored = sb.store.find(value["id"])
        value["line_items"] = _expand_path(sb, checkout.line_items_list(stored or {}), rest, full)
        return value
    if head not in value:
        raise invalid_request(f"This property cannot be expanded ({full}).", "expand")
    child = value[head]
    if isinstance(child, str):
        target = sb.store.find(child)
        if target is None:
            raise invalid_request(f"This property cannot be expanded ({full}).", "expand")
        child = render(target)
    value[head] = _expand_path(sb, child, rest, full)
    return value


def _listing(
    sb: Sandbox, kind: str, account: str | None, p: dict[str, Any], url: str, **filters: Any
) -> Obj:
    wanted = {k: v for k, v in filters.items() if v is not None}

    def matches(obj: Obj) -> bool:
        return all(_field(obj, k) == v for k, v in wanted.items()) and _created_ok(obj, p)

    return paginate(sb.store.select(kind, account, matches), p, url)


def _field(obj: Obj, key: str) -> Any:
    value: Any = obj
    for part in key.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _created_ok(obj: Obj, p: dict[str, Any]) -> bool:
    created = p.get("created")
    if created is None:
        return True
    if not isinstance(created, dict):
        return obj["created"] == int(created)
    checks = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
    return all(checks[op](obj["created"], int(v)) for op, v in created.items() if op in checks)


def _platform_only(account: str | None) -> None:
    if account is not None:
        raise invalid_request(
            "This request is made by the platform, without the Stripe-Account header.", None
        )


# -- customers -----------------------------------------------------------------------------------
@route("/customers", "POST", "CustomerCreateParams")
def create_customer(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return payments.create_customer(sb, p, account)


@route("/customers", "GET", "CustomerListParams")
def list_customers(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return _listing(sb, "customer", account, p, "/v1/customers", email=get_str(p, "email"))


@route("/customers/<cid>", "GET", "CustomerRetrieveParams")
def retrieve_customer(sb: Sandbox, p: dict, account: str | None, cid: str) -> Obj:
    return sb.store.get(cid, "customer", account)


@route("/customers/<cid>", "POST", "CustomerUpdateParams")
def update_customer(sb: Sandbox, p: dict, account: str | None, cid: str) -> Obj:
    return payments.update_customer(sb, sb.store.get(cid, "customer", account), p, account)


@route("/customers/<cid>/payment_methods", "GET", "CustomerPaymentMethodListParams")
def list_customer_payment_methods(sb: Sandbox, p: dict, account: str | None, cid: str) -> Obj:
    sb.store.get(cid, "customer", account)
    return _listing(
        sb, "payment_method", account, p, f"/v1/customers/{cid}/payment_methods", customer=cid
    )


# -- payment methods -----------------------------------------------------------------------------
@route("/payment_methods", "POST", "PaymentMethodCreateParams")
def create_payment_method(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return payments.create_payment_method(sb, p, account)


@route("/payment_methods", "GET", "PaymentMethodListParams")
def list_payment_methods(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return _listing(
        sb, "payment_method", account, p, "/v1/payment_methods", customer=get_str(p, "customer")
    )


@route("/payment_methods/<pm>", "GET", "PaymentMethodRetrieveParams")
def retrieve_payment_method(sb: Sandbox, p: dict, account: str | None, pm: str) -> Obj:
    return sb.store.get(pm, "payment_method", account)


@route("/payment_methods/<pm>/attach", "POST", "PaymentMethodAttachParams")
def attach_payment_method(sb: Sandbox, p: dict, account: str | None, pm: str) -> Obj:
    customer = get_str(p, "customer", required=True) or ""
    method = payments.resolve_payment_method(sb, pm, account, "id")
    return payments.attach_payment_method(sb, method, customer, account)


@route("/payment_methods/<pm>/detach", "POST", "PaymentMethodDetachParams")
def detach_payment_method(sb: Sandbox, p: dict, account: str | None, pm: str) -> Obj:
    return payments.detach_payment_method(sb, sb.store.get(pm, "payment_method", account), account)


# -- setup intents -------------------------------------------------------------------------------
@route("/setup_intents", "POST", "SetupIntentCreateParams")
def create_setup_intent(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return payments.create_setup_intent(sb, p, account)


@route("/setup_intents", "GET", "SetupIntentListParams")
def list_setup_intents(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return _listing(
        sb, "setup_intent", account, p, "/v1/setup_intents", customer=get_str(p, "customer")
    )


@route("/setup_intents/<sid>", "GET", "SetupIntentRetrieveParams")
def retrieve_setup_intent(sb: Sandbox, p: dict, account: str | None, sid: str) -> Obj:
    return sb.store.get(sid, "setup_intent", account)


@route("/setup_intents/<sid>/confirm", "POST", "SetupIntentConfirmParams")
def confirm_setup_intent(sb: Sandbox, p: dict, account: str | None, sid: str) -> Obj:
    return payments.confirm_setup_intent(sb, sb.store.get(sid, "setup_intent", account), p, account)


# -- payment intents, charges, refunds -----------------------------------------------------------
@route("/payment_intents", "POST", "PaymentIntentCreateParams")
def create_payment_intent(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return payments.create_payment_intent(sb, p, account)


@route("/payment_intents", "GET", "PaymentIntentListParams")
def list_payment_intents(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return _listing(
        sb, "payment_intent", account, p, "/v1/payment_intents", customer=get_str(p, "customer")
    )


@route("/payment_intents/<pid>", "GET", "PaymentIntentRetrieveParams")
def retrieve_payment_intent(sb: Sandbox, p: dict, account: str | None, pid: str) -> Obj:
    return sb.store.get(pid, "payment_intent", account)


@route("/payment_intents/<pid>", "POST", "PaymentIntentUpdateParams")
def update_payment_intent(sb: Sandbox, p: dict, account: str | None, pid: str) -> Obj:
    pi = sb.store.get(pid, "payment_intent", account)
    unsupported = set(p) - {"metadata", "description", "receipt_email", "expand"}
    if unsupported:
        raise invalid_request(
            f"The sandbox updates only metadata, description and receipt_email (got "
            f"{', '.join(sorted(unsupported))}).",
            sorted(unsupported)[0],
        )
    pi["metadata"] = merge_metadata(pi["metadata"], p.get("metadata"))
    for key in ("description", "receipt_email"):
        if key in p:
            pi[key] = get_str(p, key)
    return pi


@route("/payment_intents/<pid>/confirm", "POST", "PaymentIntentConfirmParams")
def confirm_payment_intent(sb: Sandbox, p: dict, account: str | None, pid: str) -> Obj:
    off = p.get("off_session")
    return payments.confirm_payment_intent(
        sb,
        sb.store.get(pid, "payment_intent", account),
        account,
        payment_method=get_str(p, "payment_method"),
        off_session=off in ("true", "one_off", "recurring"),
        return_url=get_str(p, "return_url"),
    )


@route("/payment_intents/<pid>/cancel", "POST", "PaymentIntentCancelParams")
def cancel_payment_intent(sb: Sandbox, p: dict, account: str | None, pid: str) -> Obj:
    return payments.cancel_payment_intent(
        sb, sb.store.get(pid, "payment_intent", account), p, account
    )


@route("/charges", "GET", "ChargeListParams")
def list_charges(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return _listing(
        sb,
        "charge",
        account,
        p,
        "/v1/charges",
        customer=get_str(p, "customer"),
        payment_intent=get_str(p, "payment_intent"),
    )


@route("/charges/<cid>", "GET", "ChargeRetrieveParams")
def retrieve_charge(sb: Sandbox, p: dict, account: str | None, cid: str) -> Obj:
    return sb.store.get(cid, "charge", account)


@route("/refunds", "POST", "RefundCreateParams")
def create_refund(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return payments.create_refund(sb, p, account)


@route("/refunds", "GET", "RefundListParams")
def list_refunds(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return _listing(
        sb,
        "refund",
        account,
        p,
        "/v1/refunds",
        charge=get_str(p, "charge"),
        payment_intent=get_str(p, "payment_intent"),
    )


@route("/refunds/<rid>", "GET", "RefundRetrieveParams")
def retrieve_refund(sb: Sandbox, p: dict, account: str | None, rid: str) -> Obj:
    return sb.store.get(rid, "refund", account)


@route("/disputes", "GET", "DisputeListParams")
def list_disputes(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return _listing(
        sb,
        "dispute",
        account,
        p,
        "/v1/disputes",
        charge=get_str(p, "charge"),
        payment_intent=get_str(p, "payment_intent"),
    )


@route("/disputes/<did>", "GET", "DisputeRetrieveParams")
def retrieve_dispute(sb: Sandbox, p: dict, account: str | None, did: str) -> Obj:
    return sb.store.get(did, "dispute", account)


@route("/disputes/<did>", "POST", "DisputeUpdateParams")
def update_dispute(sb: Sandbox, p: dict, account: str | None, did: str) -> Obj:
    return disputes.update(sb, sb.store.get(did, "dispute", account), p, account)


@route("/transfers", "GET", "TransferListParams")
def list_transfers(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return _listing(
        sb,
        "transfer",
        account,
        p,
        "/v1/transfers",
        destination=get_str(p, "destination"),
        transfer_group=get_str(p, "transfer_group"),
    )


@route("/transfers/<tid>", "GET", "TransferRetrieveParams")
def retrieve_transfer(sb: Sandbox, p: dict, account: str | None, tid: str) -> Obj:
    return sb.store.get(tid, "transfer", account)


@route("/transfers/<tid>/reversals", "POST", "TransferReversalCreateParams")
def create_transfer_reversal(sb: Sandbox, p: dict, account: str | None, tid: str) -> Obj:
    _platform_only(account)
    return transfers.create_reversal(sb, sb.store.get(tid, "transfer", None), p)


@route("/transfers/<tid>/reversals", "GET", "TransferReversalListParams")
def list_transfer_reversals(sb: Sandbox, p: dict, account: str | None, tid: str) -> Obj:
    transfer = sb.store.get(tid, "transfer", account)
    return paginate(transfer["reversals"]["data"], p, f"/v1/transfers/{tid}/reversals")


@route("/application_fees", "GET", "ApplicationFeeListParams")
def list_application_fees(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return _listing(
        sb, "application_fee", account, p, "/v1/application_fees", charge=get_str(p, "charge")
    )


@route("/application_fees/<fid>", "GET", "ApplicationFeeRetrieveParams")
def retrieve_application_fee(sb: Sandbox, p: dict, account: str | None, fid: str) -> Obj:
    return sb.store.get(fid, "application_fee", account)


@route("/application_fees/<fid>/refunds", "GET", "ApplicationFeeRefundListParams")
def list_application_fee_refunds(sb: Sandbox, p: dict, account: str | None, fid: str) -> Obj:
    fee = sb.store.get(fid, "application_fee", account)
    return paginate(fee["refunds"]["data"], p, f"/v1/application_fees/{fid}/refunds")


# -- checkout ------------------------------------------------------------------------------------
@route("/checkout/sessions", "POST", "checkout.SessionCreateParams")
def create_checkout_session(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return checkout.create_session(sb, p, account)


@route("/checkout/sessions", "GET", "checkout.SessionListParams")
def list_checkout_sessions(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return _listing(
        sb,
        "checkout.session",
        account,
        p,
        "/v1/checkout/sessions",
        customer=get_str(p, "customer"),
        payment_intent=get_str(p, "payment_intent"),
        subscription=get_str(p, "subscription"),
        status=get_str(p, "status"),
    )


@route("/checkout/sessions/<sid>", "GET", "checkout.SessionRetrieveParams")
def retrieve_checkout_session(sb: Sandbox, p: dict, account: str | None, sid: str) -> Obj:
    return sb.store.get(sid, "checkout.session", account)


@route("/checkout/sessions/<sid>/expire", "POST", "checkout.SessionExpireParams")
def expire_checkout_session(sb: Sandbox, p: dict, account: str | None, sid: str) -> Obj:
    return checkout.expire_session(sb, sb.store.get(sid, "checkout.session", account))


@route("/checkout/sessions/<sid>/line_items", "GET", "checkout.SessionLineItemListParams")
def list_checkout_line_items(sb: Sandbox, p: dict, account: str | None, sid: str) -> Obj:
    session = sb.store.get(sid, "checkout.session", account)
    return paginate(
        checkout.line_items_list(session)["data"], p, f"/v1/checkout/sessions/{sid}/line_items"
    )


# -- billing -------------------------------------------------------------------------------------
@route("/products", "POST", "ProductCreateParams")
def create_product(sb: Sandbox, p: dict, account: str | None) -> Obj:
    _platform_only(account)
    return billing.create_product(sb, p)


@route("/products", "GET", "ProductListParams")
def list_products(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return _listing(sb, "product", account, p, "/v1/products")


@route("/products/<pid>", "GET", "ProductRetrieveParams")
def retrieve_product(sb: Sandbox, p: dict, account: str | None, pid: str) -> Obj:
    return sb.store.get(pid, "product", account)


@route("/prices", "POST", "PriceCreateParams")
def create_price(sb: Sandbox, p: dict, account: str | None) -> Obj:
    _platform_only(account)
    return billing.create_price(sb, p)


@route("/prices", "GET", "PriceListParams")
def list_prices(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return billing.list_prices(sb, p, account)


@route("/prices/<pid>", "GET", "PriceRetrieveParams")
def retrieve_price(sb: Sandbox, p: dict, account: str | None, pid: str) -> Obj:
    return sb.store.get(pid, "price", account)


@route("/subscriptions", "GET", "SubscriptionListParams")
def list_subscriptions(sb: Sandbox, p: dict, account: str | None) -> Obj:
    status = get_str(p, "status")
    items = _listing(
        sb,
        "subscription",
        account,
        {**p, "limit": "100"},
        "/v1/subscriptions",
        customer=get_str(p, "customer"),
    )["data"]
    if status != "all":
        items = [
            s for s in items if (s["status"] == status if status else s["status"] != "canceled")
        ]
    return paginate(items, p, "/v1/subscriptions")


@route("/subscriptions/<sid>", "GET", "SubscriptionRetrieveParams")
def retrieve_subscription(sb: Sandbox, p: dict, account: str | None, sid: str) -> Obj:
    return sb.store.get(sid, "subscription", account)


@route("/subscriptions/<sid>", "POST", "SubscriptionUpdateParams")
def update_subscription(sb: Sandbox, p: dict, account: str | None, sid: str) -> Obj:
    return billing.update_subscription(sb, sb.store.get(sid, "subscription", account), p)


@route("/subscriptions/<sid>", "DELETE", "SubscriptionCancelParams")
def cancel_subscription(sb: Sandbox, p: dict, account: str | None, sid: str) -> Obj:
    return billing.cancel_subscription(sb, sb.store.get(sid, "subscription", account))


@route("/invoices", "GET", "InvoiceListParams")
def list_invoices(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return _listing(
        sb,
        "invoice",
        account,
        p,
        "/v1/invoices",
        customer=get_str(p, "customer"),
        status=get_str(p, "status"),
        parent__subscription_details__subscription=get_str(p, "subscription"),
    )


@route("/invoices/<iid>", "GET", "InvoiceRetrieveParams")
def retrieve_invoice(sb: Sandbox, p: dict, account: str | None, iid: str) -> Obj:
    return sb.store.get(iid, "invoice", account)


@route("/invoices/<iid>/pay", "POST", "InvoicePayParams")
def pay_invoice(sb: Sandbox, p: dict, account: str | None, iid: str) -> Obj:
    return billing.pay_invoice(
        sb, sb.store.get(iid, "invoice", account), get_str(p, "payment_method")
    )


@route("/billing_portal/sessions", "POST", "billing_portal.SessionCreateParams")
def create_portal_session(sb: Sandbox, p: dict, account: str | None) -> Obj:
    _platform_only(account)
    return billing.create_portal_session(sb, p)


# -- connect -------------------------------------------------------------------------------------
@route("/accounts", "POST", "AccountCreateParams")
def create_account(sb: Sandbox, p: dict, account: str | None) -> Obj:
    _platform_only(account)
    return connect.create_account(sb, p)


@route("/accounts", "GET", "AccountListParams")
def list_accounts(sb: Sandbox, p: dict, account: str | None) -> Obj:
    _platform_only(account)
    return _listing(sb, "account", None, p, "/v1/accounts")


@route("/accounts/<aid>", "GET", "AccountRetrieveParams")
def retrieve_account(sb: Sandbox, p: dict, account: str | None, aid: str) -> Obj:
    if account is not None and aid != account:
        raise invalid_request("An account can only retrieve itself.", "account")
    return sb.store.get(aid, "account", None)


@route("/account", "GET", "AccountRetrieveCurrentParams")
def retrieve_current_account(sb: Sandbox, p: dict, account: str | None) -> Obj:
    if account is None:
        raise invalid_request("The sandbox's platform account is not an API object.", None)
    return sb.store.get(account, "account", None)


@route("/accounts/<aid>", "POST", "AccountUpdateParams")
def update_account(sb: Sandbox, p: dict, account: str | None, aid: str) -> Obj:
    _platform_only(account)
    return connect.update_account(sb, sb.store.get(aid, "account", None), p)


@route("/accounts/<aid>", "DELETE", "AccountDeleteParams")
def delete_account(sb: Sandbox, p: dict, account: str | None, aid: str) -> Obj:
    _platform_only(account)
    return connect.delete_account(sb, sb.store.get(aid, "account", None))


@route("/accounts/<aid>/external_accounts", "POST", "AccountExternalAccountCreateParams")
def create_external_account(sb: Sandbox, p: dict, account: str | None, aid: str) -> Obj:
    _platform_only(account)
    return connect.create_external_account(sb, sb.store.get(aid, "account", None), p)


@route("/accounts/<aid>/external_accounts", "GET", "AccountExternalAccountListParams")
def list_external_accounts(sb: Sandbox, p: dict, account: str | None, aid: str) -> Obj:
    if account is not None and aid != account:
        raise invalid_request("An account can only read its own external accounts.", "account")
    externals = sb.store.get(aid, "account", None)["external_accounts"]["data"]
    wanted = get_str(p, "object")
    items = [e for e in externals if wanted is None or e["object"] == wanted]
    return paginate(items, p, f"/v1/accounts/{aid}/external_accounts")


@route("/accounts/<aid>/login_links", "POST", "AccountLoginLinkCreateParams")
def create_login_link(sb: Sandbox, p: dict, account: str | None, aid: str) -> Obj:
    _platform_only(account)
    return connect.create_login_link(sb, sb.store.get(aid, "account", None))


@route("/account_links", "POST", "AccountLinkCreateParams")
def create_account_link(sb: Sandbox, p: dict, account: str | None) -> Obj:
    _platform_only(account)
    return connect.create_account_link(sb, p)


@route("/balance", "GET", "BalanceRetrieveParams")
def retrieve_balance(sb: Sandbox, p: dict, account: str | None) -> Obj:
    currency = sb.store.find(account)["default_currency"] if account else "usd"  # type: ignore[index]
    return ledger.balance(sb, account, currency)


@route("/balance_transactions", "GET", "BalanceTransactionListParams")
def list_balance_transactions(sb: Sandbox, p: dict, account: str | None) -> Obj:
    payout = get_str(p, "payout")
    if payout:
        sb.store.get(payout, "payout", account, "payout")
    return _listing(
        sb,
        "balance_transaction",
        account,
        p,
        "/v1/balance_transactions",
        type=get_str(p, "type"),
        source=get_str(p, "source"),
        currency=get_str(p, "currency"),
        _payout=payout,
    )


@route("/balance_transactions/<tid>", "GET", "BalanceTransactionRetrieveParams")
def retrieve_balance_transaction(sb: Sandbox, p: dict, account: str | None, tid: str) -> Obj:
    return sb.store.get(tid, "balance_transaction", account)


@route("/payouts", "POST", "PayoutCreateParams")
def create_payout(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return connect.create_payout(sb, p, account)


@route("/payouts", "GET", "PayoutListParams")
def list_payouts(sb: Sandbox, p: dict, account: str | None) -> Obj:
    return _listing(sb, "payout", account, p, "/v1/payouts", status=get_str(p, "status"))


@route("/payouts/<pid>", "GET", "PayoutRetrieveParams")
def retrieve_payout(sb: Sandbox, p: dict, account: str | None, pid: str) -> Obj:
    return sb.store.get(pid, "payout", account)


@route("/payouts/<pid>/cancel", "POST", "PayoutCancelParams")
def cancel_payout(sb: Sandbox, p: dict, account: str | None, pid: str) -> Obj:
    return connect.cancel_payout(sb, sb.store.get(pid, "payout", account), account)


# -- events --------------------------------------------------------------------------------------
@route("/events", "GET", "EventListParams")
def list_events(sb: Sandbox, p: dict, account: str | None) -> Obj:
    pattern = get_str(p, "type")
    types = p.get("types") or []

    def wanted(event: Obj) -> bool:
        if pattern and not (
            event["type"] == pattern
            or (pattern.endswith("*") and event["type"].startswith(pattern.rstrip("*")))
        ):
            return False
        return (not types or event["type"] in types) and _created_ok(event, p)

    return paginate(sb.store.select("event", account, wanted), p, "/v1/events")


@route("/events/<eid>", "GET", "EventRetrieveParams")
def retrieve_event(sb: Sandbox, p: dict, account: str | None, eid: str) -> Obj:
    return sb.store.get(eid, "event", account)
