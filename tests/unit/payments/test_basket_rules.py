"""Basket rules: lines checked, reservation ids that survive reordering, one fee on the sum, and
refunds by lines whose fee shares add up to the fee exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from estore.common.errors import InvalidArgument
from estore.payments.basket import BasketLine, check_lines, reservation_ids
from estore.payments.errors import RefundExceedsRemaining
from estore.payments.models import Order, OrderLine, OrderStatus, PaymentStatus
from estore.payments.rules import line_refund_amount, price_lines

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def order_of(lines: list[tuple[int, int]], fee_bps: int) -> Order:
    """A paid order of lines (unit price, units), products p0, p1, ..."""
    order_lines = tuple(
        OrderLine(f"p{i}", units, unit, f"o-{i}") for i, (unit, units) in enumerate(lines)
    )
    price, fee, total = price_lines(lines, fee_bps)
    return Order(
        "o", 1, "", 0, "USD", 0, price, fee, total, 0, OrderStatus.PAID,
        PaymentStatus.COMPLETED, "", NOW, NOW, NOW, lines=order_lines,
    )  # fmt: skip


def refunded(order: Order, product_id: str, units: int) -> Order:
    """`order` after a refund of `units` of `product_id` by lines."""
    lines = tuple(
        OrderLine(li.product_id, li.quantity, li.unit_price_minor, li.reservation_id,
                  li.refunded + (units if li.product_id == product_id else 0))
        for li in order.lines
    )  # fmt: skip
    return Order(**{**order.__dict__, "lines": lines})


def test_the_fee_is_taken_once_on_the_sum_of_the_lines() -> None:
    # Each line alone would round its fee up (0.5 -> 1); together 1.5 rounds to 2, not 3.
    assert price_lines([(10, 1), (10, 1), (10, 1)], 500) == (30, 2, 32)


def test_lines_are_checked_and_every_bad_one_named() -> None:
    assert check_lines([("a", 1), ("b", 10_000)]) == (BasketLine("a", 1), BasketLine("b", 10_000))
    with pytest.raises(InvalidArgument) as caught:
        check_lines([("a", 0), ("b:x", 1), ("a", 2), ("c", 10_001)])
    assert [v.field for v in caught.value.violations] == [
        "items[0].quantity", "items[1].product_id", "items[2].product_id", "items[3].quantity",
    ]  # fmt: skip
    for count in (0, 51):
        with pytest.raises(InvalidArgument):
            check_lines([(f"p{i}", 1) for i in range(count)])


def test_reservation_ids_follow_the_line_not_its_place_in_the_request() -> None:
    lines = [BasketLine("mug", 2), BasketLine("kettle", 1), BasketLine("tea", 3)]
    ids = dict(zip((li.product_id for li in lines), reservation_ids("o1", lines), strict=True))
    reordered = lines[::-1]
    again = dict(
        zip((li.product_id for li in reordered), reservation_ids("o1", reordered), strict=True)
    )
    assert ids == again == {"kettle": "o1-0", "mug": "o1-1", "tea": "o1-2"}
    assert reservation_ids("o1", [BasketLine("tea", 1)]) == ["o1"]  # as before baskets


@given(
    lines=st.lists(
        st.tuples(st.integers(0, 10**7), st.integers(1, 30)), min_size=1, max_size=6
    ).filter(lambda lines: any(unit for unit, _ in lines)),
    bps=st.integers(0, 10_000),
    cuts=st.data(),
)
def test_refunds_by_lines_add_up_to_the_total_and_never_past_it(
    lines: list[tuple[int, int]], bps: int, cuts: st.DataObject
) -> None:
    order = order_of(lines, bps)
    refunded_so_far = 0
    # Refund every unit that costs something, in random chunks and a random order of lines.
    pending = [(li.product_id, li.quantity) for li in order.lines if li.unit_price_minor]
    pending = cuts.draw(st.permutations(pending))
    for product_id, units in pending:
        while units:
            chunk = cuts.draw(st.integers(1, units))
            amount = line_refund_amount(order, ((product_id, chunk),))
            assert type(amount) is int
            assert amount >= 0
            refunded_so_far += amount
            assert refunded_so_far <= order.total_minor
            order = refunded(order, product_id, chunk)
            units -= chunk
    assert refunded_so_far == order.total_minor  # free lines cost nothing, fee included


def test_a_line_is_refunded_at_most_once_and_only_if_it_is_in_the_order() -> None:
    order = refunded(order_of([(1000, 2)], 500), "p0", 1)
    with pytest.raises(RefundExceedsRemaining) as caught:
        line_refund_amount(order, (("p0", 2),))
    assert [v.field for v in caught.value.violations] == ["items[0].quantity"]
    with pytest.raises(InvalidArgument) as stranger:
        line_refund_amount(order, (("p9", 1),))
    assert [v.field for v in stranger.value.violations] == ["items[0].product_id"]
    assert line_refund_amount(order, (("p0", 1),)) == 1000 + 50
