"""Liveness for load balancers: the process answers."""

from __future__ import annotations

from flask import Blueprint

from portal.security import PUBLIC, allow

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@allow(PUBLIC)
def healthz() -> tuple[dict[str, str], int]:
    return {"status": "ok"}, 200
