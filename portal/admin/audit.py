"""The audit log: every admin action, with who, what, when, and the values before and after."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from portal import pagination as keyset
from portal.extensions import db
from portal.models import AuditLog

logger = logging.getLogger("portal.admin")


def record(
    actor_id: int | None,
    action: str,
    target_type: str,
    target_id: object,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Add one audit entry (flushed; the caller commits it with the change it explains)."""
    entry = AuditLog(
        actor_id=actor_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=before,
        after=after,
    )
    db.session.add(entry)
    db.session.flush()
    logger.info("Admin %s: %s %s:%s", actor_id, action, target_type, target_id)
    return entry


def audit_page(
    *, action: str = "", after: str | None = None, before: str | None = None, size: int = 50
) -> keyset.Page:
    query = sa.select(AuditLog).options(sa.orm.joinedload(AuditLog.actor))
    if action:
        query = query.where(AuditLog.action == action)
    return keyset.fetch_page(
        query,
        key=AuditLog.created_at,
        row_id=AuditLog.id,
        kind="datetime",
        after=after,
        before=before,
        size=size,
    )


def actions() -> list[str]:
    return list(db.session.scalars(sa.select(AuditLog.action).distinct().order_by(AuditLog.action)))
