"""Money arithmetic is exact and rounds half-up."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from estore.common.money import apply_discount, fee_for


def test_examples() -> None:
    assert apply_discount(1999, 15) == 1699  # 1699.15
    assert apply_discount(10, 5) == 10  # 9.5 rounds up
    assert apply_discount(1234, 0) == 1234
    assert apply_discount(1234, 100) == 0
    assert fee_for(1000, 500) == 50
    assert fee_for(10, 500) == 1  # 0.5 rounds up
    assert fee_for(9, 500) == 0  # 0.45 rounds down


@given(st.integers(0, 10**15), st.integers(0, 100))
def test_discount_matches_decimal_half_up(price: int, percent: int) -> None:
    exact = Decimal(price) * (100 - percent) / 100
    assert apply_discount(price, percent) == int(exact.quantize(Decimal(1), ROUND_HALF_UP))


@given(st.integers(0, 10**15), st.integers(0, 10_000))
def test_fee_matches_decimal_half_up(price: int, bps: int) -> None:
    exact = Decimal(price) * bps / 10_000
    assert fee_for(price, bps) == int(exact.quantize(Decimal(1), ROUND_HALF_UP))
