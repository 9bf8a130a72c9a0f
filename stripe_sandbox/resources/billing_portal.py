"""Billing portal sessions: a link to the sandbox's page where a customer manages a subscription."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..params import get_str
from ..store import Obj

if TYPE_CHECKING:
    from ..sandbox import Sandbox


def create_portal_session(sb: Sandbox, p: dict[str, Any]) -> Obj:
    customer = sb.store.get(
        get_str(p, "customer", required=True) or "", "customer", None, "customer"
    )
    session_id = sb.store.new_id("bps")
    session: Obj = {
        "id": session_id,
        "object": "billing_portal.session",
        "configuration": "bpc_sandboxdefault",
        "created": sb.store.now(),
        "customer": customer["id"],
        "flow": None,
        "livemode": False,
        "locale": None,
        "on_behalf_of": None,
        "return_url": get_str(p, "return_url"),
        "url": sb.page_url(f"/billing/portal/{session_id}"),
    }
    return sb.store.add(session)
