"""Domain errors reach clients as the table's status code with exactly one ErrorInfo."""

from __future__ import annotations

from typing import Any

import grpc
import psycopg
import pytest
import redis.exceptions

from estore.common import context, errors
from estore.common.auth import TokenVerifier
from estore.common.server import ServiceDefinition
from generated.estore.users.v1 import user_service_pb2 as users_pb
from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc
from tests.helpers import error_details, running_server


class RaisingServicer(users_grpc.UserServiceServicer):
    """GetCurrentUser raises whatever the test sets; GetUser reports the caller."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    async def GetCurrentUser(self, request: Any, ctx: Any) -> users_pb.GetCurrentUserResponse:
        assert self.error is not None
        raise self.error

    async def GetUser(self, request: Any, ctx: Any) -> users_pb.GetUserResponse:
        caller = context.current_caller()
        return users_pb.GetUserResponse(
            user=users_pb.User(id=caller.require_user(), is_admin=caller.is_admin)
        )


def _definition(servicer: RaisingServicer) -> ServiceDefinition:
    return ServiceDefinition(
        name="users",
        full_name="estore.users.v1.UserService",
        register=lambda server: users_grpc.add_UserServiceServicer_to_server(servicer, server),
    )


@pytest.fixture
async def raising(token_verifier: TokenVerifier):
    servicer = RaisingServicer()
    async with running_server(_definition(servicer), token_verifier) as (_, channel):
        yield servicer, users_grpc.UserServiceStub(channel)


CASES = [
    (errors.InvalidArgument.field("email", "not an email"), grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound("no such user", reason="USER_NOT_FOUND"), grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists("taken", reason="EMAIL_ALREADY_EXISTS"), grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition("expired"), grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Aborted("in flight", reason="REQUEST_IN_PROGRESS"), grpc.StatusCode.ABORTED),
    (errors.Unauthenticated("who?"), grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied("no"), grpc.StatusCode.PERMISSION_DENIED),
    (
        errors.ResourceExhausted("slow down", retry_after_seconds=7),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ),
    (errors.Unavailable("database down"), grpc.StatusCode.UNAVAILABLE),
]


@pytest.mark.parametrize(("error", "code"), CASES, ids=[c.name for _, c in CASES])
async def test_domain_error_has_its_code_and_one_error_info(raising, error, code) -> None:
    servicer, stub = raising
    servicer.error = error
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCurrentUser(users_pb.GetCurrentUserRequest())
    details = error_details(caught.value)
    assert details.code == code
    assert details.reason == error.reason  # exactly one ErrorInfo
    assert details.infos[0].domain == "estore.users"
    assert details.message == error.message


async def test_invalid_argument_carries_field_violations(raising) -> None:
    servicer, stub = raising
    servicer.error = errors.InvalidArgument.field("password", "must be 8 to 72 bytes")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCurrentUser(users_pb.GetCurrentUserRequest())
    details = error_details(caught.value)
    assert details.reason == "INVALID_FIELD"
    assert details.violated_fields == {"password"}


async def test_resource_exhausted_carries_retry_info(raising) -> None:
    servicer, stub = raising
    servicer.error = errors.ResourceExhausted("slow down", retry_after_seconds=42)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCurrentUser(users_pb.GetCurrentUserRequest())
    assert [r.retry_delay.seconds for r in error_details(caught.value).retry_infos] == [42]


async def test_a_bug_is_internal_never_unknown(raising) -> None:
    servicer, stub = raising
    servicer.error = KeyError("oops")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCurrentUser(
            users_pb.GetCurrentUserRequest(), metadata=(("x-request-id", "req-123"),)
        )
    details = error_details(caught.value)
    assert details.code == grpc.StatusCode.INTERNAL
    assert details.reason == "INTERNAL_ERROR"
    assert "req-123" in details.message
    assert dict(caught.value.trailing_metadata())["x-request-id"] == "req-123"


async def test_unbuilt_rpc_is_unimplemented_with_error_info(raising) -> None:
    _, stub = raising
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListUsers(users_pb.ListUsersRequest())
    details = error_details(caught.value)
    assert details.code == grpc.StatusCode.UNIMPLEMENTED
    assert details.reason == "NOT_IMPLEMENTED"


async def test_request_id_is_echoed_or_made(raising, token_issuer) -> None:
    _, stub = raising
    token = token_issuer.issue_access_token(7, is_admin=False, is_verified=True, ttl_seconds=60)
    call = stub.GetUser(
        users_pb.GetUserRequest(user_id=7),
        metadata=(("authorization", f"Bearer {token.token}"), ("x-request-id", "abc")),
    )
    assert (await call).user.id == 7
    assert dict(await call.trailing_metadata())["x-request-id"] == "abc"
    call = stub.GetUser(
        users_pb.GetUserRequest(user_id=7),
        metadata=(("authorization", f"Bearer {token.token}"),),
    )
    await call
    assert len(dict(await call.trailing_metadata())["x-request-id"]) == 32


async def test_undecodable_request_is_invalid_argument_not_unknown(token_verifier) -> None:
    servicer = RaisingServicer()
    async with running_server(_definition(servicer), token_verifier) as (_, channel):
        call = channel.unary_unary("/estore.users.v1.UserService/GetCurrentUser")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(b"\xff\xff\xff")
    details = error_details(caught.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.reason == "MALFORMED_REQUEST"
    assert details.violated_fields == {"estore.users.v1.GetCurrentUserRequest"}


@pytest.mark.parametrize(
    "error",
    [
        redis.exceptions.ConnectionError("connection refused"),
        redis.exceptions.TimeoutError("timed out"),
        psycopg.OperationalError("server closed the connection"),
    ],
    ids=["redis-down", "redis-timeout", "postgres-down"],
)
async def test_a_store_outage_that_escapes_is_unavailable(raising, error) -> None:
    servicer, stub = raising
    servicer.error = error
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCurrentUser(users_pb.GetCurrentUserRequest())
    details = error_details(caught.value)
    assert (details.code, details.reason) == (grpc.StatusCode.UNAVAILABLE, "STORE_UNAVAILABLE")


async def test_huge_error_texts_still_arrive_as_a_status(raising) -> None:
    servicer, stub = raising
    # Non-ASCII text: UTF-8 takes up to 4 bytes a character, the worst case for the limit.
    violations = [errors.FieldViolation("update_mask.paths" + "😀" * 5000, "é" * 5000)] * 100
    servicer.error = errors.InvalidArgument("😀" * 20000, violations=violations)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetCurrentUser(users_pb.GetCurrentUserRequest())
    details = error_details(caught.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert len(details.message.encode()) <= 256
    assert 0 < len(details.bad_requests[0].field_violations) <= 10
