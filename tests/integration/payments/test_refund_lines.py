"""Refunds by lines against real Redis and the simulated processor (Inventory faked by its
rules): the amount comes from the lines and their share of the fee, restock returns exactly the
refunded lines' units, and no line is refunded or restocked past what was bought."""

from __future__ import annotations

import pytest

from estore.common import errors
from estore.payments.cards import CardInput
from estore.payments.errors import RefundExceedsRemaining, RefundRefused
from estore.payments.models import Order, OrderStatus, RefundState
from estore.payments.processor import RefundOutcome
from tests.integration.payments.conftest import (
    ADMIN,
    BASKET,
    BUYER,
    STOCK,
    Payments,
)


async def paid_basket(p: Payments) -> Order:
    card = CardInput("4242424242424242", 12, 2030, "123", "Ana Lima")
    method = (await p.service.add_card(BUYER, card, "")).id
    order = await p.service.create_order(BUYER, "", 0, method, "", BASKET)
    assert (order.status, order.total_minor) == (OrderStatus.PAID, 14171)
    return order


def units(order: Order) -> dict[str, tuple[int, int]]:
    """(refunded, restocked) units per line."""
    return {li.product_id: (li.refunded, li.restocked) for li in order.lines}


async def test_a_line_refund_returns_its_price_and_fee_share_and_exactly_its_units(
    shop: Payments,
) -> None:
    order = await paid_basket(shop)
    one_mug = await shop.service.refund_order(ADMIN, order.id, None, "chipped", True, "r1",
                                              [("mug", 1)])  # fmt: skip
    # 12.50, plus the fee's share: 6.75 x 12.50 / 134.96 = 0.6252, half-up 0.63.
    assert [r.amount_minor for r in one_mug.refunds] == [1250 + 63]
    assert one_mug.refunds[0].lines == (("mug", 1),)
    assert one_mug.refunds[0].units == (("mug", 1),)
    assert (one_mug.status, one_mug.refund_amount_minor) == (OrderStatus.PARTIALLY_REFUNDED, 1313)
    assert units(one_mug) == {"kettle": (0, 0), "mug": (1, 1), "tea": (0, 0)}
    assert not one_mug.restocked
    assert shop.inventory.available == {"kettle": 4, "mug": 9, "tea": 7}  # one mug back

    with pytest.raises(RefundExceedsRemaining) as caught:  # one mug is left to refund
        await shop.service.refund_order(ADMIN, order.id, None, "", True, "", [("mug", 2)])
    assert [v.field for v in caught.value.violations] == ["items[0].quantity"]

    rest = await shop.service.refund_order(
        ADMIN, order.id, None, "returned", True, "r2", [("tea", 3), ("kettle", 1), ("mug", 1)]
    )
    # Every line refunded: the refunds add up to the total exactly, fee included.
    assert sum(r.amount_minor for r in rest.refunds) == order.total_minor
    assert (rest.status, rest.refund_amount_minor, rest.restocked) == (
        OrderStatus.REFUNDED, order.total_minor, True,
    )  # fmt: skip
    assert units(rest) == {"kettle": (1, 1), "mug": (2, 2), "tea": (3, 3)}
    assert shop.inventory.available == STOCK
    assert await shop.processor.refunds_of(order.charge_id) == [1313, order.total_minor - 1313]


async def test_restock_by_amount_after_lines_returns_only_the_units_not_yet_back(
    shop: Payments,
) -> None:
    order = await paid_basket(shop)
    await shop.service.refund_order(ADMIN, order.id, None, "", True, "", [("tea", 2)])
    assert shop.inventory.available["tea"] == 9
    rest = await shop.service.refund_order(ADMIN, order.id, None, "all of it", True, "")
    assert rest.refunds[1].units == (("kettle", 1), ("mug", 2), ("tea", 1))
    assert shop.inventory.available == STOCK  # never a unit more than was bought
    assert (rest.status, rest.restocked) == (OrderStatus.REFUNDED, True)
    again = await shop.service.get_order(ADMIN, order.id)
    assert units(again) == {"kettle": (0, 1), "mug": (0, 2), "tea": (2, 3)}


async def test_a_refused_line_refund_leaves_its_units_refundable(shop: Payments) -> None:
    order = await paid_basket(shop)
    shop.processor.refund_answers = [RefundOutcome.REFUSED]
    with pytest.raises(RefundRefused):
        await shop.service.refund_order(ADMIN, order.id, None, "", True, "", [("kettle", 1)])
    refused = await shop.service.get_order(ADMIN, order.id)
    assert [r.state for r in refused.refunds] == [RefundState.FAILED]
    assert units(refused)["kettle"] == (0, 0)
    assert refused.refund_amount_minor == 0
    done = await shop.service.refund_order(ADMIN, order.id, None, "", True, "", [("kettle", 1)])
    assert units(done)["kettle"] == (1, 1)
    assert shop.inventory.available["kettle"] == 5


async def test_bad_line_refunds_are_refused(shop: Payments) -> None:
    order = await paid_basket(shop)
    with pytest.raises(errors.InvalidArgument) as stranger:
        await shop.service.refund_order(ADMIN, order.id, None, "", False, "", [("teapot", 1)])
    assert [v.field for v in stranger.value.violations] == ["items[0].product_id"]
    with pytest.raises(errors.InvalidArgument) as both:
        await shop.service.refund_order(ADMIN, order.id, 100, "", False, "", [("tea", 1)])
    assert [v.field for v in both.value.violations] == ["amount"]
    with pytest.raises(errors.InvalidArgument) as twice:
        await shop.service.refund_order(
            ADMIN, order.id, None, "", False, "", [("tea", 1), ("tea", 1)]
        )
    assert [v.field for v in twice.value.violations] == ["items[1].product_id"]
    await shop.service.refund_order(ADMIN, order.id, None, "", False, "r9", [("tea", 1)])
    with pytest.raises(errors.InvalidArgument) as reused:  # a request id names one refund
        await shop.service.refund_order(ADMIN, order.id, None, "", False, "r9", [("mug", 1)])
    assert reused.value.reason == "REQUEST_ID_REUSED"
    # An amount refund first: the lines may then come to more than is left.
    await shop.service.refund_order(ADMIN, order.id, 12000, "", False, "")
    with pytest.raises(RefundExceedsRemaining):
        await shop.service.refund_order(ADMIN, order.id, None, "", False, "", [("kettle", 1)])
    assert (await shop.service.get_order(ADMIN, order.id)).refund_amount_minor == 12000 + 2099
