"""Login: tokens, indistinguishable failures, inactive accounts and shared throttling."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import bcrypt
import grpc
import pytest

from estore.common.auth import TokenVerifier
from generated.estore.users.v1 import user_service_pb2 as users_pb
from tests.grpc.users.conftest import PASSWORD, Users, fails, serving, users_settings

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


def _login(users: Users, email: str, password: str = PASSWORD):
    return users.stub.Login(users_pb.LoginRequest(email=email, password=password))


async def test_login_returns_a_verifiable_token_its_expiry_and_the_user(
    users: Users, token_verifier: TokenVerifier
) -> None:
    user = await users.register("ana@example.com")
    reply = await _login(users, "  ANA@example.com")
    assert reply.user == user
    caller = token_verifier.verify(reply.access_token)
    assert (caller.user_id, caller.is_admin, caller.is_verified) == (user.id, False, False)
    expected = datetime.now(UTC) + timedelta(seconds=users.settings.access_token_ttl_seconds)
    assert abs(reply.expires_at.ToDatetime(UTC) - expected) < timedelta(seconds=5)


async def test_a_verified_admin_gets_those_claims(
    users: Users, token_verifier: TokenVerifier
) -> None:
    metadata = await users.admin()
    caller = token_verifier.verify(metadata[0][1].removeprefix("Bearer "))
    assert caller.is_admin
    assert caller.is_verified


async def test_unknown_email_and_wrong_password_look_the_same(users: Users) -> None:
    await users.register("ana@example.com")
    wrong = await fails(_login(users, "ana@example.com", "wrong password"), UNAUTHENTICATED)
    unknown = await fails(_login(users, "nobody@example.com"), UNAUTHENTICATED)
    malformed = await fails(_login(users, "not-an-email"), UNAUTHENTICATED)
    assert wrong.reason == unknown.reason == malformed.reason == "INVALID_CREDENTIALS"
    assert wrong.message == unknown.message == malformed.message


@pytest.mark.parametrize("password", ["x" * 73, "😀" * 20], ids=["73-bytes", "80-byte-emoji"])
async def test_a_password_too_long_for_bcrypt_is_just_wrong(users: Users, password: str) -> None:
    await users.register("ana@example.com", "x" * 72)
    await fails(_login(users, "ana@example.com", password), UNAUTHENTICATED, "INVALID_CREDENTIALS")


async def test_empty_fields_are_invalid(users: Users) -> None:
    details = await fails(_login(users, "", PASSWORD), grpc.StatusCode.INVALID_ARGUMENT)
    assert details.violated_fields == {"email"}
    details = await fails(_login(users, "ana@example.com", ""), grpc.StatusCode.INVALID_ARGUMENT)
    assert details.violated_fields == {"password"}


async def test_a_deactivated_user_is_refused_after_the_password_check(users: Users) -> None:
    await users.register("ana@example.com")
    users.sql("UPDATE users SET is_active = false WHERE email = 'ana@example.com'")
    await fails(
        _login(users, "ana@example.com"), grpc.StatusCode.PERMISSION_DENIED, "USER_INACTIVE"
    )
    await fails(_login(users, "ana@example.com", "wrong password"), UNAUTHENTICATED)


async def test_more_than_five_failures_in_15_minutes_are_throttled(users: Users) -> None:
    await users.register("ana@example.com")
    for _ in range(5):
        await fails(_login(users, "ana@example.com", "wrong password"), UNAUTHENTICATED)
    for password in ("wrong password", PASSWORD):  # even the right password must wait
        details = await fails(
            _login(users, "ANA@example.com", password),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "TOO_MANY_LOGIN_ATTEMPTS",
        )
        [retry] = details.retry_infos
        assert 890 <= retry.retry_delay.seconds <= 900
    # Another email is not affected; failures older than 15 minutes no longer count.
    await users.register("bob@example.com")
    await _login(users, "bob@example.com")
    users.sql("UPDATE login_failures SET at = at - interval '15 minutes 1 second'")
    await _login(users, "ana@example.com")


async def test_the_throttle_is_shared_by_instances(
    users: Users, tmp_path, token_issuer, token_verifier
) -> None:
    await users.register("ana@example.com")
    for _ in range(3):
        await fails(_login(users, "ana@example.com", "wrong"), UNAUTHENTICATED)
    assert users.settings.users_database_url
    other_settings = users_settings(users.settings.users_database_url, tmp_path / "other")
    async with serving(other_settings, token_issuer, token_verifier) as other:
        for _ in range(2):
            await fails(_login(other, "ana@example.com", "wrong"), UNAUTHENTICATED)
        await fails(_login(other, "ana@example.com"), grpc.StatusCode.RESOURCE_EXHAUSTED)
    await fails(_login(users, "ana@example.com"), grpc.StatusCode.RESOURCE_EXHAUSTED)


async def test_unknown_email_takes_as_long_as_a_wrong_password(
    users_database_url, tmp_path, token_issuer, token_verifier
) -> None:
    settings = users_settings(users_database_url, tmp_path, ESTORE_BCRYPT_ROUNDS="10")
    async with serving(settings, token_issuer, token_verifier) as users:
        await users.register("ana@example.com")

        async def duration(email: str) -> float:
            started = time.perf_counter()
            await fails(_login(users, email, "wrong password"), UNAUTHENTICATED)
            return time.perf_counter() - started

        wrong, unknown = [], []
        for i in range(5):  # interleaved, so load on the machine hits both alike
            wrong.append(await duration("ana@example.com"))
            unknown.append(await duration(f"nobody{i}@example.com"))
    # bcrypt at cost 10 takes tens of milliseconds; skipping it would make unknown ~10x faster,
    # far outside these bounds, which are wide so a busy machine cannot make the test flaky.
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.35 < ratio < 2.8, (wrong, unknown)


async def test_parallel_wrong_passwords_cannot_outrun_the_throttle(users: Users) -> None:
    await users.register("ana@example.com")
    results = await asyncio.gather(
        *(_login(users, "ana@example.com", f"wrong {i}") for i in range(20)),
        return_exceptions=True,
    )
    codes = Counter(r.code() for r in results if isinstance(r, grpc.aio.AioRpcError))
    assert sum(codes.values()) == 20
    assert codes[UNAUTHENTICATED] <= 5
    assert codes[grpc.StatusCode.RESOURCE_EXHAUSTED] == 20 - codes[UNAUTHENTICATED]


async def test_a_successful_sign_in_is_not_a_failure(users: Users) -> None:
    await users.register("ana@example.com")
    for _ in range(4):
        await fails(_login(users, "ana@example.com", "wrong password"), UNAUTHENTICATED)
    await _login(users, "ana@example.com")
    await fails(_login(users, "ana@example.com", "wrong password"), UNAUTHENTICATED)
    await fails(_login(users, "ana@example.com"), grpc.StatusCode.RESOURCE_EXHAUSTED)


async def test_sign_in_rehashes_a_password_hashed_at_another_cost(users: Users) -> None:
    await users.register("ana@example.com")
    old_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(5)).decode()
    users.sql("UPDATE users SET hashed_password = %s WHERE email = 'ana@example.com'", old_hash)
    await fails(_login(users, "ana@example.com", "wrong password"), UNAUTHENTICATED)
    assert _stored_hash(users) == old_hash  # only the right password may be hashed anew
    await _login(users, "ana@example.com")
    assert _stored_hash(users).startswith("$2b$04$")  # ESTORE_BCRYPT_ROUNDS of the test server
    await _login(users, "ana@example.com")


def _stored_hash(users: Users) -> str:
    [(hashed,)] = users.sql("SELECT hashed_password FROM users WHERE email = 'ana@example.com'")
    return str(hashed)
