"""Protobuf Timestamps are what protobuf's own FromDatetime makes, built apart or in place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf import timestamp_pb2

from estore.common.proto import set_timestamp, timestamp
from generated.estore.users.v1 import user_service_pb2 as users_pb

_INDIA = timezone(timedelta(hours=5, minutes=30))


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 27, 20, 41, 31, 123456, tzinfo=UTC),
        datetime(2026, 11, 27, 20, 41, 31, 123456, tzinfo=_INDIA),
        datetime(2026, 11, 27, 20, 41, 31, 999999),  # naive: read as UTC
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),  # before the epoch: nanos stay >= 0
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_timestamp_is_protobufs_own_conversion(moment: datetime) -> None:
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(moment)
    assert timestamp(moment) == expected
    user = users_pb.User()
    set_timestamp(user.created_at, moment)
    assert user.HasField("created_at")  # the epoch too: set, not left out as a default
    assert user.created_at == expected
