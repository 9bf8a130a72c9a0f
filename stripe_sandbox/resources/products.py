"""Products: what a price sells; `product.created` when made by API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..params import get_bool, get_str, merge_metadata
from ..store import Obj

if TYPE_CHECKING:
    from ..sandbox import Sandbox


def create_product(sb: Sandbox, p: dict[str, Any], announce: bool = True) -> Obj:
    """A product; `announce=False` for Checkout's inline `product_data`, which has no event."""
    now = sb.store.now()
    product: Obj = {
        "id": sb.store.new_id("prod", 14),
        "object": "product",
        "active": get_bool(p, "active", True),
        "created": now,
        "default_price": None,
        "description": get_str(p, "description"),
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": merge_metadata({}, p.get("metadata")),
        "name": get_str(p, "name", required=True),
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": now,
        "url": None,
    }
    sb.store.add(product)
    if announce:
        sb.emit("product.created", product)
    return product
