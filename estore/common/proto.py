"""Protobuf conversions every servicer needs: times and money."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import timestamp_pb2

from generated.estore.common.v1 import money_pb2


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp for an aware datetime."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def money(minor_units: int, currency: str) -> money_pb2.Money:
    """Money in integer minor units of `currency`."""
    return money_pb2.Money(currency_code=currency, minor_units=minor_units)
