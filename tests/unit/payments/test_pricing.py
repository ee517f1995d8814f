"""Order arithmetic: total = price + fee, fee = price x bps / 10000 half-up, all integers."""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from estore.payments.rules import price_order


@given(
    unit=st.integers(0, 10**9),
    quantity=st.integers(1, 10_000),
    bps=st.integers(0, 10_000),
)
def test_price_fee_and_total_are_exact(unit: int, quantity: int, bps: int) -> None:
    price, fee, total = price_order(unit, quantity, bps)
    assert all(type(v) is int for v in (price, fee, total))
    assert price == unit * quantity
    assert total == price + fee
    exact = Fraction(price * bps, 10_000)
    assert fee == math.floor(exact + Fraction(1, 2))  # half-up, computed exactly


def test_design_examples() -> None:
    assert price_order(1999, 1, 500) == (1999, 100, 2099)  # 99.95 -> 100
    assert price_order(1000, 3, 500) == (3000, 150, 3150)
    assert price_order(10, 1, 500) == (10, 1, 11)  # 0.5 -> 1
    assert price_order(9, 1, 500) == (9, 0, 9)  # 0.45 -> 0
