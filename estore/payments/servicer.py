"""PaymentService transport: protobuf in, service call, protobuf out."""

from __future__ import annotations

from typing import Any

from estore.common.context import current_caller
from estore.common.errors import InvalidArgument
from estore.common.proto import money, timestamp
from estore.payments.cards import CardInput
from estore.payments.models import Order, OrderStatus, PaymentMethod, PaymentStatus, RefundState
from estore.payments.service import PaymentService
from generated.estore.payments.v1 import payment_service_pb2 as pb
from generated.estore.payments.v1 import payment_service_pb2_grpc as payments_grpc

Ctx = Any  # grpc.aio.ServicerContext; untyped in grpcio
# Clients see a refund as PENDING until it is settled, whichever of its steps remain.
_REFUND_STATES = {
    RefundState.PENDING: pb.REFUND_STATE_PENDING,
    RefundState.RETURNED: pb.REFUND_STATE_PENDING,
    RefundState.COMPLETED: pb.REFUND_STATE_COMPLETED,
    RefundState.FAILED: pb.REFUND_STATE_FAILED,
}
# Looked up once, not by name on every reply.
_ORDER_STATUSES = {status: getattr(pb, f"ORDER_STATUS_{status.value}") for status in OrderStatus}
_PAYMENT_STATUSES = {
    status: getattr(pb, f"PAYMENT_STATUS_{status.value}") for status in PaymentStatus
}


def _method_to_proto(method: PaymentMethod) -> pb.PaymentMethod:
    card = method.card
    return pb.PaymentMethod(
        id=method.id,
        user_id=method.user_id,
        type=pb.PAYMENT_METHOD_TYPE_CARD,
        details=pb.CardDetails(
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            holder_name=card.holder_name,
        ),
        created_at=timestamp(method.created_at),
    )


def _line_items(lines: tuple[tuple[str, int], ...]) -> list[pb.LineItem]:
    return [pb.LineItem(product_id=product_id, quantity=units) for product_id, units in lines]


def _order_items(order: Order) -> list[pb.OrderItem]:
    return [
        pb.OrderItem(
            product_id=line.product_id,
            quantity=line.quantity,
            unit_price=money(line.unit_price_minor, order.currency),
            price=money(line.price_minor, order.currency),
            reservation_id=line.reservation_id,
            refunded_quantity=line.refunded,
            restocked_quantity=line.restocked,
        )
        for line in order.lines
    ]


def _order_to_proto(order: Order) -> pb.Order:
    currency = order.currency
    return pb.Order(
        id=order.id,
        product_id=order.product_id,
        user_id=order.user_id,
        quantity=order.quantity,
        unit_price=money(order.unit_price_minor, currency),
        price=money(order.price_minor, currency),
        fee=money(order.fee_minor, currency),
        total=money(order.total_minor, currency),
        refund_amount=money(order.refund_amount_minor, currency),
        status=_ORDER_STATUSES[order.status],
        payment_status=_PAYMENT_STATUSES[order.payment_status],
        payment_method_id=order.payment_method_id,
        payment_error=order.payment_error,
        notes=[
            pb.OrderNote(
                text=n.text, created_at=timestamp(n.created_at), author_user_id=n.author_user_id
            )
            for n in order.notes
        ],
        reservation_id=order.reservation_id,
        created_at=timestamp(order.created_at),
        updated_at=timestamp(order.updated_at),
        expires_at=timestamp(order.expires_at),
        cancel_reason=order.cancel_reason,
        refunds=[
            pb.Refund(
                amount=money(r.amount_minor, currency),
                reason=r.reason,
                restocked=r.restocked,
                created_at=timestamp(r.created_at),
                author_user_id=r.author_user_id,
                id=r.id,
                state=_REFUND_STATES[r.state],
                items=_line_items(r.lines),
                restocked_items=_line_items(r.units),
            )
            for r in order.refunds
        ],
        restocked=order.restocked,
        items=_order_items(order),
    )


def _card_from_proto(request: pb.AddPaymentMethodRequest) -> CardInput:
    if request.type != pb.PAYMENT_METHOD_TYPE_CARD:
        raise InvalidArgument.field("type", "must be PAYMENT_METHOD_TYPE_CARD")
    if not request.HasField("card"):
        raise InvalidArgument.field("card", "is required for a card")
    card = request.card
    return CardInput(card.number, card.exp_month, card.exp_year, card.cvc, card.holder_name)


def _status_from_proto(value: int) -> OrderStatus | None:
    if value == pb.ORDER_STATUS_UNSPECIFIED:
        return None
    if value not in pb.OrderStatus.values():
        raise InvalidArgument.field("filter.status", "is not an order status")
    return OrderStatus(pb.OrderStatus.Name(value).removeprefix("ORDER_STATUS_"))


class PaymentServicer(payments_grpc.PaymentServiceServicer):
    """Maps PaymentService RPCs onto PaymentService."""

    def __init__(self, service: PaymentService, currency: str) -> None:
        self._service = service
        self._currency = currency

    async def AddPaymentMethod(
        self, request: pb.AddPaymentMethodRequest, context: Ctx
    ) -> pb.AddPaymentMethodResponse:
        method = await self._service.add_card(
            current_caller(), _card_from_proto(request), request.request_id
        )
        return pb.AddPaymentMethodResponse(payment_method=_method_to_proto(method))

    async def ListPaymentMethods(
        self, request: pb.ListPaymentMethodsRequest, context: Ctx
    ) -> pb.ListPaymentMethodsResponse:
        methods, token = await self._service.list_methods(
            current_caller(), request.page_size, request.page_token
        )
        return pb.ListPaymentMethodsResponse(
            payment_methods=[_method_to_proto(m) for m in methods], next_page_token=token
        )

    async def DeletePaymentMethod(
        self, request: pb.DeletePaymentMethodRequest, context: Ctx
    ) -> pb.DeletePaymentMethodResponse:
        await self._service.delete_method(current_caller(), request.payment_method_id)
        return pb.DeletePaymentMethodResponse()

    async def CreateOrder(
        self, request: pb.CreateOrderRequest, context: Ctx
    ) -> pb.CreateOrderResponse:
        order = await self._service.create_order(
            current_caller(),
            request.product_id,
            request.quantity,
            request.payment_method_id,
            request.request_id,
            [(item.product_id, item.quantity) for item in request.items],
        )
        return pb.CreateOrderResponse(order=_order_to_proto(order))

    async def PayOrder(self, request: pb.PayOrderRequest, context: Ctx) -> pb.PayOrderResponse:
        order = await self._service.pay_order(
            current_caller(), request.order_id, request.payment_method_id, request.request_id
        )
        return pb.PayOrderResponse(order=_order_to_proto(order))

    async def GetOrder(self, request: pb.GetOrderRequest, context: Ctx) -> pb.GetOrderResponse:
        order = await self._service.get_order(current_caller(), request.order_id)
        return pb.GetOrderResponse(order=_order_to_proto(order))

    async def ListOrders(
        self, request: pb.ListOrdersRequest, context: Ctx
    ) -> pb.ListOrdersResponse:
        orders, token = await self._service.list_orders(
            current_caller(),
            _status_from_proto(request.filter.status),
            request.filter.user_id,
            request.page_size,
            request.page_token,
        )
        return pb.ListOrdersResponse(
            orders=[_order_to_proto(o) for o in orders], next_page_token=token
        )

    async def CancelOrder(
        self, request: pb.CancelOrderRequest, context: Ctx
    ) -> pb.CancelOrderResponse:
        order = await self._service.cancel_order(current_caller(), request.order_id, request.reason)
        return pb.CancelOrderResponse(order=_order_to_proto(order))

    async def RefundOrder(
        self, request: pb.RefundOrderRequest, context: Ctx
    ) -> pb.RefundOrderResponse:
        amount = None
        if request.HasField("amount"):
            if request.amount.currency_code.upper() != self._currency:
                raise InvalidArgument.field(
                    "amount.currency_code", f"must be {self._currency}", reason="CURRENCY_MISMATCH"
                )
            amount = request.amount.minor_units
        order = await self._service.refund_order(
            current_caller(),
            request.order_id,
            amount,
            request.reason,
            request.restock,
            request.request_id,
            [(item.product_id, item.quantity) for item in request.items],
        )
        return pb.RefundOrderResponse(order=_order_to_proto(order))

    async def AddOrderNote(
        self, request: pb.AddOrderNoteRequest, context: Ctx
    ) -> pb.AddOrderNoteResponse:
        order = await self._service.add_note(current_caller(), request.order_id, request.note)
        return pb.AddOrderNoteResponse(order=_order_to_proto(order))
