"""The admin area: every transaction, its events and refunds, reconciliation, users, audit."""
