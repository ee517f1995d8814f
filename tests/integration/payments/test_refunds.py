"""The refund saga against real Redis and the simulated processor (Inventory faked by its rules):
money returned once, units returned once and only by a refund that succeeded, and refunds left
half done finished by a retry or by recovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from estore.common.errors import FailedPrecondition
from estore.payments.cards import CardInput
from estore.payments.errors import InventoryUnavailable, ProcessorUnavailable, RefundRefused
from estore.payments.models import Order, OrderStatus, RefundState
from estore.payments.processor import RefundOutcome
from tests.integration.payments.conftest import ADMIN, BUYER, Payments

ERROR, REFUSED = RefundOutcome.PROCESSOR_ERROR, RefundOutcome.REFUSED


async def paid_order(p: Payments, quantity: int = 2) -> Order:
    card = CardInput("4242424242424242", 12, 2030, "123", "Ana Lima")
    method = (await p.service.add_card(BUYER, card, "")).id
    order = await p.service.create_order(BUYER, "tea", quantity, method, "")
    assert order.status is OrderStatus.PAID
    return order


def later(minutes: int = 5) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


async def test_each_refund_asks_the_processor_once_and_restocks_once(payments: Payments) -> None:
    order = await paid_order(payments)
    part = await payments.service.refund_order(ADMIN, order.id, 1000, "dent", True, "r1")
    rest = await payments.service.refund_order(ADMIN, order.id, None, "gone", True, "r2")
    assert payments.processor.refund_calls == 2
    assert await payments.processor.refunds_of(order.charge_id) == [1000, order.total_minor - 1000]
    assert [(r.state, r.restocked) for r in rest.refunds] == [
        (RefundState.COMPLETED, True), (RefundState.COMPLETED, False),
    ]  # fmt: skip
    assert part.status is OrderStatus.PARTIALLY_REFUNDED
    assert (rest.status, rest.refund_amount_minor, rest.restocked) == (
        OrderStatus.REFUNDED, order.total_minor, True,
    )  # fmt: skip
    assert payments.inventory.available["tea"] == 10  # the 2 units came back once
    assert len({r.id for r in rest.refunds}) == 2


async def test_a_processor_outage_leaves_the_refund_pending_for_its_retry(
    payments: Payments,
) -> None:
    order = await paid_order(payments)
    payments.processor.refund_answers = [ERROR] * 3  # every attempt of the first call
    with pytest.raises(ProcessorUnavailable) as caught:
        await payments.service.refund_order(ADMIN, order.id, None, "late", True, "r1")
    assert caught.value.metadata["order_id"] == order.id
    pending = await payments.service.get_order(ADMIN, order.id)
    # Decided: counted, so nothing more can be refunded; not yet settled, nothing restocked.
    assert [r.state for r in pending.refunds] == [RefundState.PENDING]
    assert (pending.status, pending.refund_amount_minor) == (OrderStatus.PAID, order.total_minor)
    assert payments.inventory.available["tea"] == 8
    with pytest.raises(FailedPrecondition) as refused:
        await payments.service.refund_order(ADMIN, order.id, None, "again", False, "")
    assert refused.value.reason == "REFUND_EXCEEDS_REMAINING"

    done = await payments.service.refund_order(ADMIN, order.id, None, "late", True, "r1")
    assert [r.state for r in done.refunds] == [RefundState.COMPLETED]
    assert (done.status, done.restocked) == (OrderStatus.REFUNDED, True)
    assert await payments.processor.refunds_of(order.charge_id) == [order.total_minor]
    assert payments.inventory.available["tea"] == 10


async def test_recovery_finishes_a_refund_without_request_id(payments: Payments) -> None:
    order = await paid_order(payments)
    payments.processor.refund_answers = [ERROR] * 3
    with pytest.raises(ProcessorUnavailable):
        await payments.service.refund_order(ADMIN, order.id, 500, "", True, "")
    assert await payments.recovery().run_once() == 0  # its lease has not lapsed yet
    assert await payments.recovery(lambda: later()).run_once() == 1
    settled = await payments.service.get_order(ADMIN, order.id)
    assert [r.state for r in settled.refunds] == [RefundState.COMPLETED]
    assert (settled.status, settled.refund_amount_minor) == (OrderStatus.PARTIALLY_REFUNDED, 500)
    assert await payments.processor.refunds_of(order.charge_id) == [500]
    assert payments.inventory.available["tea"] == 10
    assert await payments.recovery(lambda: later(60)).run_once() == 0  # nothing left to do


async def test_money_back_but_inventory_down_is_restocked_by_recovery(payments: Payments) -> None:
    order = await paid_order(payments)
    payments.inventory.down = True
    with pytest.raises(InventoryUnavailable):
        await payments.service.refund_order(ADMIN, order.id, None, "", True, "")
    assert await payments.processor.refunds_of(order.charge_id) == [order.total_minor]
    payments.inventory.down = False
    await payments.recovery(lambda: later()).run_once()
    settled = await payments.service.get_order(ADMIN, order.id)
    assert (settled.status, settled.restocked) == (OrderStatus.REFUNDED, True)
    assert payments.inventory.available["tea"] == 10
    assert payments.processor.refund_calls == 1  # the money was known to be back: not asked again


async def test_a_refused_refund_is_rolled_back_and_restocks_nothing(payments: Payments) -> None:
    order = await paid_order(payments)
    payments.processor.refund_answers = [REFUSED]
    with pytest.raises(RefundRefused) as caught:
        await payments.service.refund_order(ADMIN, order.id, None, "", True, "r1")
    refused = await payments.service.get_order(ADMIN, order.id)
    assert [r.id for r in refused.refunds] == [caught.value.metadata["refund_id"]]
    assert [r.state for r in refused.refunds] == [RefundState.FAILED]
    assert (refused.status, refused.refund_amount_minor) == (OrderStatus.PAID, 0)
    assert payments.inventory.available["tea"] == 8
    with pytest.raises(FailedPrecondition) as again:  # a retry of that request is told the same
        await payments.service.refund_order(ADMIN, order.id, None, "", True, "r1")
    assert again.value.reason == "REFUND_REFUSED"

    # The amount may be refunded again, and the restock is still there for a refund that works.
    done = await payments.service.refund_order(ADMIN, order.id, None, "", True, "r2")
    assert [r.state for r in done.refunds] == [RefundState.FAILED, RefundState.COMPLETED]
    assert (done.status, done.restocked) == (OrderStatus.REFUNDED, True)
    assert payments.inventory.available["tea"] == 10
    assert await payments.processor.refunds_of(order.charge_id) == [order.total_minor]


async def test_the_simulator_refunds_once_per_key_and_never_above_the_charge(
    payments: Payments,
) -> None:
    order = await paid_order(payments)
    sim, charge = payments.processor, order.charge_id
    first = await sim.refund(charge, 1000, "k1")
    assert (await sim.refund(charge, 1000, "k1")) == first  # a repeat is the first answer
    assert first.outcome is RefundOutcome.SUCCEEDED
    too_much = await sim.refund(charge, order.total_minor, "k2")
    assert (too_much.outcome, too_much.refusal) == (REFUSED, "EXCEEDS_CHARGE")
    unknown = await sim.refund("ch_nope", 1, "k3")
    assert (unknown.outcome, unknown.refusal) == (REFUSED, "CHARGE_NOT_FOUND")
    assert await sim.refunds_of(charge) == [1000]
