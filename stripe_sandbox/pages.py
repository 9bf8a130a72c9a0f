"""Hosted pages: Checkout, 3-D Secure, billing portal, Connect onboarding, Express dashboard,
invoices and receipts.

Promises: each page is small, plain HTML with a label on every input; every successful POST
redirects with 303 (to the next step, the caller's return URL, or Checkout's success URL with
`{CHECKOUT_SESSION_ID}` filled in); a declined card re-renders the form with Stripe's message
and status 200, as Stripe's own hosted page does.
"""

from __future__ import annotations

import contextlib
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request

from . import billing, checkout, connect, ledger, payments
from .errors import StripeError
from .ledger import ZERO_DECIMAL
from .sandbox import Sandbox
from .store import Obj

bp = Blueprint("pages", __name__, template_folder="templates")

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$"}


def sandbox() -> Sandbox:
    return current_app.extensions["stripe_sandbox"]


@bp.app_template_filter("money")
def format_money(amount: int | None, currency: str | None) -> str:
    """12.50 USD -> '$12.50'; zero-decimal currencies have no decimals."""
    if amount is None or not currency:
        return ""
    code = currency.lower()
    text = f"{amount:,}" if code in ZERO_DECIMAL else f"{amount / 100:,.2f}"
    symbol = SYMBOLS.get(code)
    return f"{symbol}{text}" if symbol else f"{text} {code.upper()}"


@bp.app_template_filter("date")
def format_date(ts: int | None) -> str:
    import datetime as dt

    if not ts:
        return ""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%d %b %Y")


def _see_other(url: str) -> Response:
    return redirect(url, 303)  # type: ignore[return-value]


def _object(kind: str, object_id: str) -> Obj:
    obj = sandbox().store.find(object_id)
    if obj is None or obj.get("object") != kind:
        abort(404)
    return obj


# -- checkout ------------------------------------------------------------------------------------
@bp.route("/checkout/pay/<sid>", methods=["GET", "POST"])
def checkout_page(sid: str) -> Any:
    sb = sandbox()
    with sb.store.lock:
        sb.tick()
        session = _object("checkout.session", sid)
        if session["status"] != "open":
            return render_template("closed.html", session=session), 410
        error = None
        if request.method == "POST":
            try:
                return _see_other(checkout.complete_session(sb, session, request.form.to_dict()))
            except StripeError as exc:
                error = exc.message
        action = {"payment": "Pay", "setup": "Save card", "subscription": "Subscribe"}
        return (
            render_template(
                "checkout.html",
                session=session,
                items=session["_line_items"],
                action=action[session["mode"]],
                error=error,
                form=request.form,
                ask_email=not session["customer"] and not session["customer_email"],
            ),
            200,  # a re-rendered form with the message, as on Stripe: not an HTTP error
        )


@bp.route("/checkout/pay/<sid>/cancel")
def checkout_cancel(sid: str) -> Any:
    session = _object("checkout.session", sid)
    return _see_other(session["cancel_url"] or session["success_url"])


@bp.route("/authenticate/<pid>", methods=["GET", "POST"])
def authenticate_page(pid: str) -> Any:
    sb = sandbox()
    with sb.store.lock:
        pi = _object("payment_intent", pid)
        account = sb.store.owner[pid]
        if request.method == "POST" and pi["status"] == "requires_action":
            payments.finish_authentication(sb, pi, account, request.form.get("answer") == "approve")
            return _see_other(pi.get("_return_url") or f"/authenticate/{pid}")
        return render_template("authenticate.html", pi=pi)


# -- billing portal ------------------------------------------------------------------------------
@bp.route("/billing/portal/<sid>", methods=["GET", "POST"])
def portal_page(sid: str) -> Any:
    sb = sandbox()
    with sb.store.lock:
        sb.tick()
        session = _object("billing_portal.session", sid)
        customer = sb.store.get(session["customer"], "customer", None)
        error = None
        if request.method == "POST":
            try:
                _portal_action(sb, customer, request.form.to_dict())
                return _see_other(f"/billing/portal/{sid}")
            except StripeError as exc:
                error = exc.message
        subscriptions = sb.store.select(
            "subscription", None, lambda s: s["customer"] == customer["id"]
        )
        methods = sb.store.select("payment_method", None, lambda m: m["customer"] == customer["id"])
        invoices = sb.store.select("invoice", None, lambda i: i["customer"] == customer["id"])
        return (
            render_template(
                "portal.html",
                session=session,
                customer=customer,
                subscriptions=[s for s in subscriptions if s["status"] != "canceled"],
                methods=methods,
                invoices=invoices,
                error=error,
            ),
            200,  # a re-rendered form with the message, as on Stripe: not an HTTP error
        )


def _portal_action(sb: Sandbox, customer: Obj, form: dict[str, str]) -> None:
    action = form.get("action")
    if action in ("cancel", "resume"):
        sub = sb.store.get(form.get("subscription", ""), "subscription", None)
        if sub["customer"] != customer["id"]:
            abort(404)
        billing.update_subscription(
            sb, sub, {"cancel_at_period_end": "true" if action == "cancel" else "false"}
        )
    elif action == "default":
        payments.update_customer(
            sb,
            customer,
            {"invoice_settings": {"default_payment_method": form.get("payment_method")}},
            None,
        )
        _retry_open_invoices(sb, customer)
    elif action == "add_card":
        exp_month, exp_year = checkout._expiry(form.get("expiry", ""))
        pm = payments.card_payment_method(
            sb,
            None,
            number=form.get("number", ""),
            exp_month=exp_month,
            exp_year=exp_year,
            cvc=form.get("cvc"),
            name=form.get("name") or None,
        )
        payments.attach_payment_method(sb, pm, customer["id"], None)
        payments.update_customer(
            sb, customer, {"invoice_settings": {"default_payment_method": pm["id"]}}, None
        )
        _retry_open_invoices(sb, customer)
    else:
        abort(400)


def _retry_open_invoices(sb: Sandbox, customer: Obj) -> None:
    """A new default card pays what is overdue, as Stripe's portal does."""
    default = customer["invoice_settings"]["default_payment_method"]
    for sub in sb.store.select("subscription", None, lambda s: s["customer"] == customer["id"]):
        if sub["status"] in ("active", "past_due"):
            sub["default_payment_method"] = default
    for invoice in sb.store.select(
        "invoice", None, lambda i: i["customer"] == customer["id"] and i["status"] == "open"
    ):
        with contextlib.suppress(StripeError):  # recorded on the invoice and in events
            billing.pay_invoice(sb, invoice, default)


@bp.route("/billing/portal/<sid>/return")
def portal_return(sid: str) -> Any:
    session = _object("billing_portal.session", sid)
    return _see_other(session["return_url"] or f"/billing/portal/{sid}")


# -- connect onboarding --------------------------------------------------------------------------
@bp.route("/connect/onboarding/<link_id>")
def onboarding_start(link_id: str) -> Any:
    sb = sandbox()
    with sb.store.lock:
        link = sb.store.links.get(link_id)
        if link is None or link["kind"] != "account_link":
            abort(404)
        if link["used"] or link["expires_at"] < sb.store.now():
            return _see_other(link["refresh_url"])
        link["used"] = True
        token = sb.store.new_id("obr")
        sb.store.links[token] = {
            "kind": "onboarding",
            "account": link["account"],
            "return_url": link["return_url"],
            "refresh_url": link["refresh_url"],
        }
        account = sb.store.get(link["account"], "account", None)
        personal_done = not any(
            r in account["requirements"]["currently_due"] for r in connect.PERSONAL_REQUIREMENTS
        )
        step = "bank" if personal_done else "personal"
        return _see_other(f"/connect/onboarding/run/{token}/{step}")


def _onboarding(token: str) -> tuple[dict[str, Any], Obj]:
    sb = sandbox()
    run = sb.store.links.get(token)
    if run is None or run["kind"] != "onboarding":
        abort(404)
    return run, sb.store.get(run["account"], "account", None)


@bp.route("/connect/onboarding/run/<token>/personal", methods=["GET", "POST"])
def onboarding_personal(token: str) -> Any:
    sb = sandbox()
    with sb.store.lock:
        run, account = _onboarding(token)
        problems: list[str] = []
        if request.method == "POST":
            problems = connect.submit_personal_details(sb, account, request.form.to_dict())
            if not problems:
                if request.form.get("later"):
                    return _see_other(run["return_url"])
                return _see_other(f"/connect/onboarding/run/{token}/bank")
        return render_template(
            "onboarding_personal.html",
            account=account,
            problems=problems,
            form=request.form,
            token=token,
        ), (400 if problems else 200)


@bp.route("/connect/onboarding/run/<token>/bank", methods=["GET", "POST"])
def onboarding_bank(token: str) -> Any:
    sb = sandbox()
    with sb.store.lock:
        run, account = _onboarding(token)
        problems: list[str] = []
        if request.method == "POST":
            if request.form.get("later"):
                return _see_other(run["return_url"])
            problems = connect.submit_bank_account(
                sb,
                account,
                request.form.get("routing_number", ""),
                request.form.get("account_number", ""),
                request.form.get("debit_card", ""),
            )
            if not problems:
                sb.store.links.pop(token, None)
                return _see_other(run["return_url"])
        return render_template(
            "onboarding_bank.html",
            account=account,
            problems=problems,
            form=request.form,
            token=token,
            routing=connect.TEST_ROUTING_NUMBER,
            good=connect.GOOD_ACCOUNT_NUMBER,
            failing=connect.FAILING_ACCOUNT_NUMBER,
            debit=next(iter(connect.DEBIT_CARDS)),
        ), (400 if problems else 200)


@bp.route("/connect/express/<token>")
def express_dashboard(token: str) -> Any:
    sb = sandbox()
    with sb.store.lock:
        sb.tick()
        link = sb.store.links.get(token)
        if link is None or link["kind"] != "login_link":
            abort(404)
        account = sb.store.get(link["account"], "account", None)
        return render_template(
            "express.html",
            account=account,
            balance=ledger.balance(sb, account["id"], account["default_currency"]),
            payouts=sb.store.select("payout", account["id"]),
            payments=sb.store.select("charge", account["id"]),
        )


# -- invoices ------------------------------------------------------------------------------------
@bp.route("/invoices/<iid>")
def invoice_page(iid: str) -> Any:
    invoice = _object("invoice", iid)
    return render_template("invoice.html", invoice=invoice)


@bp.route("/receipts/<cid>")
def receipt_page(cid: str) -> Any:
    charge = _object("charge", cid)
    if charge["receipt_url"] is None:
        abort(404)
    return render_template("receipt.html", charge=charge)


@bp.route("/invoices/<iid>/pdf")
def invoice_pdf(iid: str) -> Response:
    invoice = _object("invoice", iid)
    lines = [
        f"Invoice {invoice['number']}",
        f"Status: {invoice['status']}",
        f"Amount due: {format_money(invoice['amount_due'], invoice['currency'])}",
        f"Amount paid: {format_money(invoice['amount_paid'], invoice['currency'])}",
        *(
            f"{line['description']}: {format_money(line['amount'], line['currency'])}"
            for line in invoice["lines"]["data"]
        ),
    ]
    return Response(
        tiny_pdf(lines),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{invoice["number"]}.pdf"'},
    )


def tiny_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with these lines of text (Helvetica, ASCII only)."""

    def escape(text: str) -> str:
        ascii_text = text.encode("ascii", "replace").decode()
        return ascii_text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    stream = (
        "BT /F1 12 Tf 72 760 Td 16 TL " + " ".join(f"({escape(line)}) '" for line in lines) + " ET"
    )
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out
