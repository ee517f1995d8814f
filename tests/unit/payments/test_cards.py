"""Card checks: Luhn, brand, expiry, CVC; errors name fields, never the number."""

from __future__ import annotations

from datetime import date

import pytest

from estore.common.errors import InvalidArgument
from estore.payments.cards import CardInput, brand_of, luhn_valid, validate_card

TODAY = date(2026, 11, 25)
GOOD = "4242 4242 4242 4242"


def card(number: str = GOOD, month: int = 12, year: int = 2030, cvc: str = "123") -> CardInput:
    return CardInput(number, month, year, cvc, "Ana Lima")


def test_luhn() -> None:
    assert luhn_valid("4242424242424242")
    assert luhn_valid("4000000000000002")
    assert not luhn_valid("4242424242424241")


def test_brands() -> None:
    assert brand_of("4242424242424242")[0] == "visa"
    assert brand_of("5555555555554444")[0] == "mastercard"
    assert brand_of("378282246310005") == ("amex", 4)


def test_a_good_card_keeps_only_its_summary() -> None:
    summary = validate_card(card(), TODAY)
    assert (summary.brand, summary.last4, summary.exp_month, summary.exp_year) == (
        "visa", "4242", 12, 2030,
    )  # fmt: skip
    assert "4242424242424242" not in repr(summary)
    assert "4242424242424242" not in repr(card())


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (card(number="4242 4242 4242 4241"), "card.number"),
        (card(number="4242-abcd"), "card.number"),
        (card(number=""), "card.number"),
        (card(month=13), "card.exp_month"),
        (card(month=10, year=2026), "card.exp_month"),  # expired last month
        (card(year=2020), "card.exp_year"),
        (card(cvc="12"), "card.cvc"),
        (card(cvc="12a"), "card.cvc"),
    ],
)
def test_bad_cards_name_the_field_and_never_the_number(bad: CardInput, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_card(bad, TODAY)
    assert caught.value.reason == "INVALID_CARD"
    assert field in {v.field for v in caught.value.violations}
    digits = bad.number.replace(" ", "")
    text = caught.value.message + repr(caught.value.violations)
    assert not digits or digits not in text
    assert bad.cvc not in text or len(bad.cvc) < 3


def test_this_month_is_still_valid() -> None:
    validate_card(card(month=11, year=2026), TODAY)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (card(number="42424242424242²2"), "card.number"),  # a superscript digit
        (card(number="٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢"), "card.number"),  # Arabic-Indic digits
        (card(cvc="1²3"), "card.cvc"),
        (card(cvc="1234"), "card.cvc"),  # 4 digits are for American Express only
        (CardInput("378282246310005", 12, 2030, "123", ""), "card.cvc"),
        (CardInput(GOOD, 12, 2030, "123", "x" * 101), "card.holder_name"),
    ],
)
def test_only_ascii_digits_and_the_brand_s_cvc_length(bad: CardInput, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_card(bad, TODAY)
    assert field in {v.field for v in caught.value.violations}


def test_amex_takes_a_four_digit_cvc() -> None:
    assert validate_card(CardInput("378282246310005", 12, 2030, "1234", ""), TODAY).brand == "amex"
