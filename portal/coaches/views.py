"""The coaches directory, a coach's public page, and the coach's own profile editor."""

from __future__ import annotations

from flask import Blueprint, abort, flash, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.coaches import services
from portal.coaches.forms import CoachProfileForm
from portal.extensions import db
from portal.models import Role
from portal.rendering import htmx_redirect, render
from portal.security import PUBLIC, allow

bp = Blueprint("coaches", __name__)


@bp.get("/")
@allow(PUBLIC)
def directory() -> Response:
    return render("coaches/directory.html", coaches=services.published_coaches())


@bp.get("/coaches/<int:coach_id>")
@allow(PUBLIC)
def coach_page(coach_id: int) -> Response:
    profile = services.coach_profile_for(coach_id)
    if profile is None or not profile.user.is_active:
        abort(404)
    if not profile.is_published and not (
        current_user.is_authenticated and current_user.id == coach_id
    ):
        abort(404)
    return render("coaches/coach.html", profile=profile)


@bp.route("/coach/profile", methods=["GET", "POST"])
@allow(Role.COACH)
def my_profile() -> Response:
    profile = current_user.coach_profile
    form = CoachProfileForm(obj=profile)
    if form.validate_on_submit():
        services.update_profile(
            profile,
            headline=form.headline.data or "",
            bio=form.bio.data or "",
            session_price=form.session_price.data,
            currency=form.currency.data,
            session_minutes=form.session_minutes.data,
            is_published=form.is_published.data,
        )
        db.session.commit()
        flash("Your profile is saved.", "success")
        return htmx_redirect(url_for("coaches.my_profile"))
    status = 400 if form.errors else 200
    return render(
        "coaches/my_profile.html", "coaches/_profile_form.html", status, form=form, profile=profile
    )
