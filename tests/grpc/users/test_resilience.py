"""The service under stress: PostgreSQL going away and back, bcrypt bursts, hostile input."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import psycopg
from grpc_health.v1 import health_pb2, health_pb2_grpc

from estore.embedded.ports import free_port
from estore.embedded.postgres import EmbeddedPostgres
from generated.estore.users.v1 import user_service_pb2 as users_pb
from tests.grpc.users.conftest import Users, fails, serving, users_settings
from tests.helpers import eventually

SERVICE = "estore.users.v1.UserService"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _health(users: Users) -> int:
    stub = health_pb2_grpc.HealthStub(users.channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=SERVICE))
    return int(reply.status)


async def test_postgres_down_then_back_without_a_restart(
    scratch_dir: Path, tmp_path: Path, token_issuer, token_verifier
) -> None:
    postgres = EmbeddedPostgres(scratch_dir / f"outage-{uuid.uuid4().hex[:8]}", free_port(),
                                durable=False)  # fmt: skip
    postgres.start()
    try:
        with psycopg.connect(postgres.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE estore_users")
        settings = users_settings(postgres.url("estore_users"), tmp_path)
        async with serving(settings, token_issuer, token_verifier, pool_timeout=1.0) as users:
            await users.register("ana@example.com")
            as_ana = await users.sign_in("ana@example.com")
            me = users_pb.GetCurrentUserRequest()
            assert await _health(users) == SERVING

            await asyncio.to_thread(postgres.stop)
            await fails(
                users.stub.GetCurrentUser(me, metadata=as_ana),
                grpc.StatusCode.UNAVAILABLE,
                "STORE_UNAVAILABLE",
            )
            await fails(users.register("bob@example.com"), grpc.StatusCode.UNAVAILABLE)
            await fails(users.sign_in("ana@example.com"), grpc.StatusCode.UNAVAILABLE)
            await eventually(lambda: _is(_health(users), NOT_SERVING))
            # While health says the store is down, calls answer at once, not after the pool's
            # wait for a connection (1 s here).
            for call in (
                lambda: users.stub.GetCurrentUser(me, metadata=as_ana),
                lambda: users.register("carl@example.com"),
                lambda: users.sign_in("ana@example.com"),
            ) * 3:
                started = time.perf_counter()
                await fails(call(), grpc.StatusCode.UNAVAILABLE, "STORE_UNAVAILABLE")
                assert time.perf_counter() - started < 0.1

            await asyncio.to_thread(postgres.start)
            await eventually(lambda: _is(_health(users), SERVING))
            reply = await users.stub.GetCurrentUser(me, metadata=as_ana)
            assert reply.user.email == "ana@example.com"
            await users.register("bob@example.com")
    finally:
        postgres.stop()


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def test_a_burst_of_logins_does_not_stall_the_event_loop(
    users_database_url: str, tmp_path: Path, token_issuer, token_verifier
) -> None:
    settings = users_settings(users_database_url, tmp_path, ESTORE_BCRYPT_ROUNDS="12")
    async with serving(settings, token_issuer, token_verifier) as users:
        await users.register("ana@example.com")
        await users.register("bob@example.com")
        as_ana = await users.sign_in("ana@example.com")
        worst_lag = 0.0

        async def ticker() -> None:
            nonlocal worst_lag
            while True:
                started = time.perf_counter()
                await asyncio.sleep(0.01)
                worst_lag = max(worst_lag, time.perf_counter() - started - 0.01)

        ticking = asyncio.create_task(ticker())
        # Two accounts: more than five checks in flight for one email would meet its throttle.
        emails = ["ana@example.com", "bob@example.com"] * 4
        logins = asyncio.gather(*(users.sign_in(email) for email in emails))
        answered = 0
        while not logins.done():
            await users.stub.GetCurrentUser(users_pb.GetCurrentUserRequest(), metadata=as_ana)
            answered += 1
        await logins
        ticking.cancel()
    # Each bcrypt check at cost 12 takes ~250 ms: on the loop, one alone would exceed this bound.
    assert worst_lag < 0.2, worst_lag
    assert answered >= 5


HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b@example.com",
    "' OR 1=1 --",
    "%",
    "_",
    "\\",
    "😀" * 100,
    "‮moc.elpmaxe@ana",
    "x" * 100_000,
    "ana@example.com\r\nBcc: everyone@example.com",
]


async def test_no_input_gets_unknown_or_internal(users: Users) -> None:
    as_admin = await users.admin()
    calls: list[Callable[[str], Awaitable[object]]] = [
        lambda s: users.stub.Register(users_pb.RegisterRequest(email=s, password=s)),
        lambda s: users.stub.Register(users_pb.RegisterRequest(email=f"{s}@x.io", password=s)),
        lambda s: users.stub.Login(users_pb.LoginRequest(email=s, password=s)),
        lambda s: users.stub.VerifyEmail(users_pb.VerifyEmailRequest(token=s)),
        lambda s: users.stub.ResendVerification(users_pb.ResendVerificationRequest(email=s)),
        lambda s: users.stub.RequestPasswordReset(users_pb.RequestPasswordResetRequest(email=s)),
        lambda s: users.stub.ResetPassword(users_pb.ResetPasswordRequest(token=s, new_password=s)),
        lambda s: users.stub.ListUsers(
            users_pb.ListUsersRequest(page_token=s, filter=users_pb.UserFilter(email_prefix=s)),
            metadata=as_admin,
        ),
    ]
    as_bearer: Callable[[str], Awaitable[object]] = lambda s: users.stub.GetCurrentUser(  # noqa: E731
        users_pb.GetCurrentUserRequest(), metadata=(("authorization", f"Bearer {s}"),)
    )
    for text in HOSTILE:
        # grpc itself refuses metadata values that are not printable ASCII.
        printable = text.isascii() and text.isprintable()
        for call in [*calls, as_bearer] if printable else calls:
            code, details = await _outcome(call(text))
            assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), (
                text[:40],
                details,
            )


async def _outcome(call: Awaitable[object]) -> tuple[grpc.StatusCode, str]:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), str(error.details())
    return grpc.StatusCode.OK, ""


async def test_undecodable_bytes_are_not_unknown(users: Users) -> None:
    register = users.channel.unary_unary("/estore.users.v1.UserService/Register")
    # An email holding invalid UTF-8: INVALID_ARGUMENT, with the BadRequest naming the request.
    details = await fails(register(b"\x0a\x02\xff\xfe"), grpc.StatusCode.INVALID_ARGUMENT)
    assert details.reason == "MALFORMED_REQUEST"
    assert details.violated_fields == {"estore.users.v1.RegisterRequest"}
