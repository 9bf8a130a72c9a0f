"""The member discount to the cent: out of the platform fee, never below zero, coach unchanged."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask import Flask

from portal.bookings import pricing
from portal.models import Role, SubscriptionStatus
from portal.money import FeeSplit, split_fee
from tests.builders import make_connected_account, make_membership, make_user
from tests.conftest import PASSWORD, login

D = Decimal


@pytest.mark.parametrize(
    ("price", "fee_pct", "discount_pct", "currency", "expected"),
    [
        ("100.00", "20", "10", "USD", ("90.00", "10.00", "80.00")),
        ("33.33", "20", "10", "USD", ("30.00", "3.34", "26.66")),  # 3.333 -> 3.33 off 6.67
        ("0.50", "20", "10", "USD", ("0.45", "0.05", "0.40")),  # 0.05 off: half up
        ("100.00", "5", "10", "USD", ("95.00", "0.00", "95.00")),  # capped at the fee
        ("100.00", "0", "10", "USD", ("100.00", "0.00", "100.00")),  # no fee, no discount
        ("1050", "20", "10", "JPY", ("945", "105", "840")),
        ("19.99", "15", "12.5", "USD", ("17.49", "0.50", "16.99")),  # 2.49875 -> 2.50
    ],
)
def test_the_discount_comes_out_of_the_fee_to_the_cent(
    price: str, fee_pct: str, discount_pct: str, currency: str, expected: tuple[str, str, str]
) -> None:
    listed = split_fee(D(price), D(fee_pct), currency)
    split = pricing.apply_discount(listed, D(discount_pct), currency)
    assert split == FeeSplit(*(D(x) for x in expected))
    assert split.coach_share == listed.coach_share
    assert split.platform_fee >= 0
    assert split.price == split.platform_fee + split.coach_share


@pytest.mark.parametrize(
    ("status", "price"),
    [
        (SubscriptionStatus.ACTIVE, "90.00"),
        (SubscriptionStatus.TRIALING, "90.00"),
        (SubscriptionStatus.PAST_DUE, "100.00"),
        (SubscriptionStatus.CANCELED, "100.00"),
    ],
)
def test_only_active_or_trialing_members_get_the_discount_in_the_quote(
    app: Flask, status: SubscriptionStatus, price: str
) -> None:
    coach = make_user(Role.COACH, session_price=D("100.00"))
    mentee = make_user(Role.MENTEE)
    make_membership(mentee, status)
    split = pricing.quote_for(coach.coach_profile, mentee).split
    assert split.price == D(price)
    assert split.coach_share == D("80.00")


def test_the_discount_percentage_comes_from_config(app: Flask) -> None:
    app.config["MEMBERSHIP_DISCOUNT_PERCENTAGE"] = "25"
    coach = make_user(Role.COACH, session_price=D("100.00"), platform_fee_percentage=D("30"))
    mentee = make_user(Role.MENTEE)
    make_membership(mentee, SubscriptionStatus.ACTIVE)
    quote = pricing.quote(split_fee(D("100.00"), D("30"), "USD"), mentee, "USD")
    assert (quote.price, quote.discount, quote.split.platform_fee) == (
        D("75.00"),
        D("25.00"),
        D("5.00"),
    )
    assert pricing.quote_for(coach.coach_profile, mentee).price == D("75.00")


def test_a_member_sees_the_member_price_in_the_directory_and_on_the_coach_page(
    app: Flask,
) -> None:
    coach = make_user(Role.COACH, session_price=D("100.00"))
    make_connected_account(coach)
    mentee = make_user(Role.MENTEE, password=PASSWORD)
    make_membership(mentee, SubscriptionStatus.ACTIVE)
    member = app.test_client()
    login(member, mentee)
    for path in ("/", f"/coaches/{coach.id}"):
        page = member.get(path).text
        assert '<s aria-label="List price">$100.00</s> <strong>$90.00</strong>' in page, path
    visitor_page = app.test_client().get("/").text
    assert "$100.00" in visitor_page and "$90.00" not in visitor_page
