"""PaymentService transport: protobuf in, service call, protobuf out."""

from __future__ import annotations

from generated.estore.payments.v1 import payment_service_pb2_grpc as payments_grpc


class PaymentServicer(payments_grpc.PaymentServiceServicer):
    """Every RPC answers UNIMPLEMENTED until it is built."""
