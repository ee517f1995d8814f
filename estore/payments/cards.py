"""Card checks: Luhn, brand, expiry and CVC; the number itself never leaves this module whole."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from estore.common.errors import FieldViolation, InvalidArgument

_CARD_NUMBER = re.compile(r"[0-9]{12,19}")  # ASCII only: str.isdigit() takes any script's digits
_DIGITS = re.compile(r"[0-9]{3,4}")
_BRANDS = (
    ("amex", ("34", "37"), 15, 4),
    ("visa", ("4",), None, 3),
    ("mastercard", tuple(str(n) for n in range(51, 56))
     + tuple(str(n) for n in range(2221, 2721)), 16, 3),
    ("discover", ("6011", "65"), 16, 3),
)  # fmt: skip


@dataclass(frozen=True)
class CardInput:
    """A card as a client sends it; held in memory only for the length of one request."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str
    holder_name: str

    def __repr__(self) -> str:  # never print the number or the CVC
        return f"CardInput(last4={self.number[-4:]!r}, exp={self.exp_month}/{self.exp_year})"


@dataclass(frozen=True)
class CardSummary:
    """What may be stored and shown: brand, last 4 digits, expiry and holder name."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int
    holder_name: str


def luhn_valid(digits: str) -> bool:
    """True when `digits` passes the Luhn checksum."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def brand_of(digits: str) -> tuple[str, int]:
    """The brand and the CVC length it uses ("unknown" and 3 when no prefix matches)."""
    for brand, prefixes, length, cvc_length in _BRANDS:
        if digits.startswith(prefixes) and (length is None or len(digits) == length):
            return brand, cvc_length
    return "unknown", 3


def normalise_number(number: str) -> str:
    """The digits of a card number, with spaces and dashes removed."""
    return number.replace(" ", "").replace("-", "")


def validate_card(card: CardInput, today: date) -> CardSummary:
    """Check a card; INVALID_ARGUMENT INVALID_CARD naming the fields, never their values."""
    violations: list[FieldViolation] = []
    digits = normalise_number(card.number)
    if not (_CARD_NUMBER.fullmatch(digits) and luhn_valid(digits)):
        violations.append(FieldViolation("card.number", "is not a valid card number"))
        digits = ""
    brand, cvc_length = brand_of(digits) if digits else ("unknown", 3)
    if not 1 <= card.exp_month <= 12:
        violations.append(FieldViolation("card.exp_month", "must be 1 to 12"))
    elif not today.year <= card.exp_year <= today.year + 50:
        violations.append(FieldViolation("card.exp_year", "is in the past or too far ahead"))
    elif (card.exp_year, card.exp_month) < (today.year, today.month):
        violations.append(FieldViolation("card.exp_month", "the card has expired"))
    if not _DIGITS.fullmatch(card.cvc) or (digits and len(card.cvc) != cvc_length):
        violations.append(FieldViolation("card.cvc", "must be 3 digits (4 for American Express)"))
    if len(card.holder_name) > 100:
        violations.append(FieldViolation("card.holder_name", "must be at most 100 characters"))
    if violations:
        fields = ", ".join(v.field for v in violations)
        raise InvalidArgument(
            f"invalid card: {fields}", violations=violations, reason="INVALID_CARD"
        )
    return CardSummary(brand, digits[-4:], card.exp_month, card.exp_year, card.holder_name.strip())
