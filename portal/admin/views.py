"""The admin area: transactions, refunds, what needs attention, events, reconciliation, jobs,
users.

Views parse the request, call one service, and render; every action is a CSRF-protected POST
that writes an audit entry and answers with a redirect (303, or HX-Redirect for HTMX).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from portal import caching, jobs
from portal.admin import (
    attention,
    audit,
    detail,
    disputes,
    event_log,
    reconciliation_runs,
    refunds,
    transaction_rows,
    users,
)
from portal.admin import jobs as admin_jobs
from portal.admin import transactions as txns
from portal.admin.cli import reconcile_command
from portal.admin.forms import (
    DisputeEvidenceForm,
    EventFilterForm,
    PlatformFeeForm,
    ReconcileForm,
    RefundConfirmForm,
    RefundForm,
    TransactionFilterForm,
    UserSearchForm,
)
from portal.database import read_before_transaction
from portal.errors import on_error_go_to
from portal.extensions import db
from portal.forms import ActionForm, submitted
from portal.health import system_checks
from portal.models import (
    EventStatus,
    Refund,
    Role,
    TransactionStatus,
    TransactionType,
    utcnow,
)
from portal.parsing import BadRequestInput, form_error_message
from portal.payouts import services as payout_services
from portal.rendering import htmx_redirect, is_htmx, render, render_form
from portal.security import allow
from portal.stepup import requires_confirmation
from portal.stripe_gateway import STRIPE_API_VERSION, GatewayError
from portal.tasks import current_tasks
from portal.templating import frame_url, viewer_time_zone
from portal.webhooks.runner import UnknownEvent

bp = Blueprint("admin", __name__, url_prefix="/admin", cli_group=None)
bp.cli.add_command(reconcile_command)


@bp.context_processor
def _admin_context() -> dict[str, Any]:
    return {"stripe_api_version": STRIPE_API_VERSION, "dashboard_url": detail.dashboard_url}


_CURSORS = ("after", "before")  # a list's page links: not part of what it is filtered by


def _cursors() -> dict[str, str | None]:
    return {name: request.args.get(name) or None for name in _CURSORS}


def _filter_status() -> int:
    # htmx does not swap a 4xx answer, so an HTMX filter with a mistake gets its message as 200.
    return 200 if is_htmx() else 400


# --- transactions -----------------------------------------------------------------------------


def _transaction_filter(form: TransactionFilterForm) -> txns.TransactionFilter:
    sort = form.sort.data or "date"
    return txns.TransactionFilter(
        type=TransactionType(form.type.data) if form.type.data else None,
        status=TransactionStatus(form.status.data) if form.status.data else None,
        coach=form.coach.data or "",
        mentee=form.mentee.data or "",
        currency=(form.currency.data or "").upper(),
        date_from=form.date_from.data,
        date_to=form.date_to.data,
        amount_min=form.amount_min.data,
        amount_max=form.amount_max.data,
        q=form.q.data or "",
        sort="amount" if sort.startswith("amount") else "date",
        descending=not sort.endswith("_asc"),
    )


def _filter_args() -> dict[str, str]:
    """The filter as it stands in the URL, without the page cursor, for links and export."""
    return {k: v for k, v in request.args.items() if v and k not in _CURSORS}


def _render_list(
    page: str, fragment: str, form: FlaskForm, *, refused: bool, **context: Any
) -> Response:
    """A filtered list with its filter `form`, page links and row buttons; a `refused` filter
    shows the form's messages instead of rows."""
    return render(
        page,
        fragment,
        _filter_status() if refused else 200,
        form=form,
        filter_args=_filter_args(),
        action_form=ActionForm(),
        **context,
    )


@dataclass(frozen=True)
class _CheckedFilter:
    """The transactions filter a query string asks for, checked, and its form rendered."""

    wanted: txns.TransactionFilter | None  # None when a field needs fixing
    errors: tuple[tuple[str, str], ...]  # each such field's label and messages
    message: str  # the same on one line, for an answer without the form
    form: Markup  # the filter form, filled in, with its messages


def _checked_filter() -> _CheckedFilter:
    """This query string's filter, checked and its form rendered once per process: both
    depend on the query string alone (the page cursors aside), never on the data."""
    args = tuple((k, v) for k, v in request.args.items(multi=True) if k not in _CURSORS)
    return caching.kept(
        "admin.transaction_filter",
        caching.Version.of_arguments(*args),
        lambda: _check_filter(args),
    )


def _check_filter(args: tuple[tuple[str, str], ...]) -> _CheckedFilter:
    form = TransactionFilterForm(MultiDict(args))
    valid = form.validate()
    html = render_template("admin/_transactions_filters.html", form=form)
    return _CheckedFilter(
        wanted=_transaction_filter(form) if valid else None,
        errors=tuple(
            (form[name].label.text, " ".join(messages)) for name, messages in form.errors.items()
        ),
        message=form_error_message(form),
        form=Markup(html),  # noqa: S704 - autoescaped template
    )


@bp.get("/transactions")
@allow(Role.ADMIN)
def transactions() -> Response:
    checked = _checked_filter()
    context: dict[str, Any] = {
        "filters": checked.form,
        "filter_errors": checked.errors,
        "filter_args": _filter_args(),
        "listing": None,
    }
    if checked.wanted is None:
        return render(
            "admin/transactions.html",
            "admin/_transactions_results.html",
            _filter_status(),
            **context,
        )
    with read_before_transaction():  # a page that reads nothing else sends no BEGIN/ROLLBACK
        listing = txns.list_page(checked.wanted, **_cursors())
    context["listing"] = listing
    context["rows"] = transaction_rows.rows_html(
        listing.page.rows, list_url=frame_url("admin.transactions"), zone=viewer_time_zone()
    )
    return render("admin/transactions.html", "admin/_transactions_results.html", **context)


@bp.get("/transactions/totals")
@allow(Role.ADMIN)
def transaction_totals() -> Response:
    """The count and totals of the filtered set, asked for once by the list, not per page."""
    checked = _checked_filter()
    if checked.wanted is None:
        raise BadRequestInput(checked.message)
    return render(
        "admin/transaction_totals.html",
        "admin/_transactions_totals.html",
        totals=txns.totals(checked.wanted),
        filter_args=_filter_args(),
    )


@bp.get("/transactions/export.csv")
@allow(Role.ADMIN)
def export_transactions() -> Response:
    checked = _checked_filter()
    if checked.wanted is None:
        raise BadRequestInput(checked.message)
    wanted = checked.wanted
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    # The rows are read while the server sends them, after this view has returned, so each
    # batch gets an app context (a database session) of its own; nothing from the request.
    rows = txns.export_rows(wanted, time_zone=current_user.time_zone, scope=app.app_context)
    response = Response(rows, mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="transactions.csv"'
    response.headers["X-Accel-Buffering"] = "no"  # let a proxy pass the rows on as they come
    return response


@bp.get("/transactions/<int:transaction_id>")
@allow(Role.ADMIN)
def transaction(transaction_id: int) -> Response:
    found = detail.transaction_detail(transaction_id)
    if found is None:
        abort(404)
    return render("admin/transaction.html", info=found, refund_form=RefundForm())


@bp.route("/transactions/<int:transaction_id>/refund", methods=["GET", "POST"])
@allow(Role.ADMIN)
@requires_confirmation
def refund(transaction_id: int) -> Response:
    """GET: the refund form. POST: check it and show what it will do (nothing changes yet)."""
    found = detail.transaction_detail(transaction_id)
    if found is None:
        abort(404)
    form = RefundForm()
    if form.validate_on_submit():
        try:
            plan = refunds.preview(transaction_id, form.amount.data)
        except refunds.AdminRefundError as exc:
            form.amount.errors = [*form.amount.errors, exc.message]
        else:
            confirm = RefundConfirmForm(
                formdata=None,  # filled from the plan, not from the form just posted
                amount=str(plan.amount),
                reason=form.reason.data,
                token=secrets.token_hex(16),
            )
            return render("admin/refund_confirm.html", info=found, plan=plan, form=confirm)
    return render_form(form, "admin/refund.html", info=found)


@bp.post("/transactions/<int:transaction_id>/refund/confirm")
@allow(Role.ADMIN)
@requires_confirmation
def confirm_refund(transaction_id: int) -> Response:
    form = RefundConfirmForm()
    back = url_for("admin.transaction", transaction_id=transaction_id)
    if not form.validate_on_submit():
        raise BadRequestInput(form_error_message(form))
    amount = form.amount.money
    on_error_go_to(back)
    try:
        made = refunds.request(
            transaction_id,
            admin=current_user,
            amount=amount,
            reason=form.reason.data,
            request_token=form.token.data,
        )
        db.session.commit()  # the refund row exists before Stripe is asked
    except LookupError:
        abort(404)
    except IntegrityError:  # the same confirmation, clicked twice at once: use the first
        db.session.rollback()
        made = refunds.refund_for_token(form.token.data)
        if made is None:
            raise
    return _submit_refund(made.id, back)


def _submit_refund(refund_id: int, back: str) -> Response:
    try:
        made = refunds.submit(refund_id, admin=current_user)
        db.session.commit()
    except GatewayError as exc:
        if exc.keeps_changes:  # refused for good: the refund is recorded as failed
            db.session.commit()
            flash(exc.message, "error")
            return htmx_redirect(back)
        db.session.rollback()
        flash(f"The refund is saved but Stripe did not take it yet: {exc.message}", "error")
        return htmx_redirect(back)
    flash(refunds.describe(made), "success")
    return htmx_redirect(back)


@bp.post("/refunds/<int:refund_id>/submit")
@allow(Role.ADMIN)
@requires_confirmation
def submit_refund(refund_id: int) -> Response:
    """Send a refund Stripe never answered again (same idempotency key, so still one refund)."""
    submitted(ActionForm())
    refund_row = db.session.get(Refund, refund_id)
    if refund_row is None:
        abort(404)
    return _submit_refund(
        refund_id, url_for("admin.transaction", transaction_id=refund_row.transaction_id)
    )


# --- needs attention ---------------------------------------------------------------------------


@bp.get("/attention")
@allow(Role.ADMIN)
def needs_attention() -> Response:
    return render(
        "admin/attention.html", attention=attention.needs_attention(), action_form=ActionForm()
    )


# --- disputes ---------------------------------------------------------------------------------


@bp.get("/disputes")
@allow(Role.ADMIN)
def disputes_list() -> Response:
    return render("admin/disputes.html", rows=disputes.disputes_on_record(), now=utcnow())


@bp.route("/disputes/<int:transaction_id>", methods=["GET", "POST"])
@allow(Role.ADMIN)
def dispute(transaction_id: int) -> Response:
    """GET: the dispute and its evidence form, prefilled. POST: send the evidence to Stripe."""
    try:
        row = disputes.dispute_of(transaction_id)
    except LookupError:
        abort(404)
    form = DisputeEvidenceForm(
        data=disputes.evidence_draft(row) if request.method == "GET" else None
    )
    if form.validate_on_submit():
        on_error_go_to(url_for("admin.dispute", transaction_id=transaction_id))
        disputes.submit_evidence(transaction_id, form.evidence(), admin_id=current_user.id)
        db.session.commit()
        flash(
            "The evidence was submitted to Stripe. The bank's decision will show here.", "success"
        )
        return htmx_redirect(url_for("admin.dispute", transaction_id=transaction_id))
    return render_form(
        form,
        "admin/dispute.html",
        row=row,
        now=utcnow(),
        recovery=disputes.recovery_of(row),
        recover_form=ActionForm(),
    )


@bp.post("/disputes/<int:transaction_id>/recover")
@allow(Role.ADMIN)
def recover_dispute(transaction_id: int) -> Response:
    """Take the coach's share of a lost dispute back, the amount having been shown on the page."""
    back = url_for("admin.dispute", transaction_id=transaction_id)
    submitted(ActionForm())
    on_error_go_to(back)
    try:
        recovered = disputes.recover(transaction_id, admin_id=current_user.id)
    except LookupError:
        abort(404)
    db.session.commit()
    flash(f"Recovered {recovered} from the coach; their balance shows it.", "success")
    return htmx_redirect(back)


@bp.get("/system")
@allow(Role.ADMIN)
def system() -> Response:
    """What the portal depends on, as `/readyz` sees it, with Stripe's state beside it."""
    return render("admin/system.html", checks=system_checks())


# --- webhook events ---------------------------------------------------------------------------


@bp.get("/events")
@allow(Role.ADMIN)
def events() -> Response:
    form = EventFilterForm(request.args)
    page = None
    if form.validate():
        status = EventStatus(form.status.data) if form.status.data else None
        page = event_log.event_page(status=status, type_=form.type.data or "", **_cursors())
    return _render_list(
        "admin/events.html",
        "admin/_events_results.html",
        form,
        refused=page is None,
        log=page,
        types=event_log.event_types(),
    )


@bp.get("/events/<stripe_event_id>")
@allow(Role.ADMIN)
def event(stripe_event_id: str) -> Response:
    row = event_log.event_by_stripe_id(stripe_event_id)
    if row is None:
        abort(404)
    return render(
        "admin/event.html",
        event=row,
        payload=event_log.pretty_payload(row),
        action_form=ActionForm(),
    )


@bp.post("/events/<stripe_event_id>/reprocess")
@allow(Role.ADMIN)
@requires_confirmation
def reprocess(stripe_event_id: str) -> Response:
    submitted(ActionForm())
    try:
        outcome = event_log.reprocess(stripe_event_id, admin=current_user)
    except UnknownEvent:
        abort(404)
    if outcome.failed:
        flash(f"The event failed again: {outcome.message}", "error")
    elif outcome.status == "duplicate":
        flash(f"The event was {outcome.message}; nothing changed.", "info")
    else:
        flash(f"The event was {outcome.status}.", "success")
    return htmx_redirect(url_for("admin.event", stripe_event_id=stripe_event_id))


# --- reconciliation ---------------------------------------------------------------------------


@bp.route("/reconciliation", methods=["GET", "POST"])
@allow(Role.ADMIN)
def reconcile() -> Response:
    form = ReconcileForm()
    if form.validate_on_submit():
        run = reconciliation_runs.request_run(
            form.since.data, form.until.data, requested_by_id=current_user.id
        )
        audit.record(
            current_user.id,
            "reconciliation.start",
            "reconciliation_run",
            run.id,
            after={"since": run.since.isoformat(), "until": run.until.isoformat()},
        )
        db.session.commit()
        current_tasks().queue_reconciliation(run.id)
        return htmx_redirect(url_for("admin.reconciliation_run", run_id=run.id))
    runs = reconciliation_runs.runs_page(**_cursors())
    return render_form(form, "admin/reconciliation.html", runs=runs)


@bp.get("/reconciliation/runs/<int:run_id>")
@allow(Role.ADMIN)
def reconciliation_run(run_id: int) -> Response:
    run = reconciliation_runs.run_of(run_id)
    if run is None:
        abort(404)
    return render(
        "admin/reconciliation_run.html",
        "admin/_reconciliation_run.html",
        run=run,
        steps=reconciliation_runs.STEPS,
    )


# --- jobs -------------------------------------------------------------------------------------


@bp.get("/jobs")
@allow(Role.ADMIN)
def jobs_board() -> Response:
    return render(
        "admin/jobs.html",
        board=admin_jobs.board(),
        failed=jobs.failed_runs(),
        zone=current_tasks().zone,
        action_form=ActionForm(),
    )


@bp.post("/jobs/<name>/run")
@allow(Role.ADMIN)
def run_job_now(name: str) -> Response:
    return _queue_run(
        lambda: admin_jobs.run_now(name, admin_id=current_user.id),
        lambda run_id: f"{current_tasks().jobs[name].title} is queued (run {run_id}).",
    )


@bp.post("/jobs/runs/<int:run_id>/retry")
@allow(Role.ADMIN)
def retry_job_run(run_id: int) -> Response:
    return _queue_run(
        lambda: admin_jobs.retry(run_id, admin_id=current_user.id).id,
        lambda run_id: f"Run {run_id} is queued again.",
    )


def _queue_run(claim: Callable[[], int], done: Callable[[int], str]) -> Response:
    """Claim a run (404 for a job or failed run there is not), commit it, queue it, and go back
    to the board saying `done(run_id)`: the worker runs it only once the claim is committed."""
    submitted(ActionForm())
    try:
        run_id = claim()
    except admin_jobs.UnknownJob:
        abort(404)
    db.session.commit()
    current_tasks().queue_run(run_id)
    flash(done(run_id), "success")
    return htmx_redirect(url_for("admin.jobs_board"))


# --- users and the audit log ------------------------------------------------------------------


@bp.get("/users")
@allow(Role.ADMIN)
def users_list() -> Response:
    form = UserSearchForm(request.args)
    page = None
    if form.validate():
        role = Role(form.role.data) if form.role.data else None
        page = users.user_page(q=form.q.data or "", role=role, **_cursors())
    return _render_list(
        "admin/users.html", "admin/_users_results.html", form, refused=page is None, people=page
    )


def _set_active(user_id: int, active: bool) -> Response:
    submitted(ActionForm())
    on_error_go_to(url_for("admin.users_list"))
    try:
        user = users.set_active(user_id, active, admin=current_user)
        db.session.commit()
    except LookupError:
        abort(404)
    state = "active again" if active else "deactivated; their sessions have ended"
    flash(f"{user.email} is {state}.", "success")
    return htmx_redirect(url_for("admin.users_list", q=user.email))


@bp.post("/users/<int:user_id>/deactivate")
@allow(Role.ADMIN)
@requires_confirmation
def deactivate(user_id: int) -> Response:
    return _set_active(user_id, False)


@bp.post("/users/<int:user_id>/reactivate")
@allow(Role.ADMIN)
@requires_confirmation
def reactivate(user_id: int) -> Response:
    return _set_active(user_id, True)


@bp.route("/coaches/<int:coach_id>/fee", methods=["GET", "POST"])
@allow(Role.ADMIN)
def coach_fee(coach_id: int) -> Response:
    profile = payout_services.coach_profile(coach_id)
    if profile is None:
        abort(404)
    form = PlatformFeeForm(platform_fee_percentage=profile.platform_fee_percentage)
    if form.validate_on_submit():
        payout_services.change_platform_fee(
            current_user.id, coach_id, form.platform_fee_percentage.data
        )
        db.session.commit()
        flash(
            f"{profile.user.name}'s platform fee is now {profile.platform_fee_percentage}% "
            "for new bookings.",
            "success",
        )
        return htmx_redirect(url_for("admin.coach_fee", coach_id=coach_id))
    return render_form(form, "admin/coach_fee.html", profile=profile)


@bp.get("/audit")
@allow(Role.ADMIN)
def audit_log() -> Response:
    action = request.args.get("action", "")
    page = audit.audit_page(action=action, **_cursors())
    return render(
        "admin/audit.html",
        entries=page,
        action=action,
        actions=audit.actions(),
        filter_args=_filter_args(),
    )
