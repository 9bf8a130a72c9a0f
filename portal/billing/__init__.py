"""Billing for mentees: saved cards, paying with one, the membership and its invoices."""
