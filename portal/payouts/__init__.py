"""Coaches getting paid: Connect onboarding, the earnings dashboard, payout settings, payouts."""
