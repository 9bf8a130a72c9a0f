"""Stripe's webhooks: verified at the door (`views`), applied exactly once (`runner`), one
handler per event type (`registry`, `handlers` and each area's own handler modules)."""
