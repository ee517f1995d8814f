"""Sessions: refresh tokens rotate, reuse ends the session, Logout ends it, nothing stored clear."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from estore.common.auth import TokenIssuer, TokenVerifier
from generated.estore.users.v1 import user_service_pb2 as users_pb
from tests.grpc.users.conftest import PASSWORD, Users, fails, serving, users_settings
from tests.helpers import bearer, refused_within

UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
REVOKED = "AUTH_TOKEN_REVOKED"


@pytest.fixture
async def users(
    users_database_url: str, tmp_path: Path, token_issuer: TokenIssuer, token_verifier
) -> AsyncIterator[Users]:
    settings = users_settings(
        users_database_url, tmp_path, ESTORE_REVOCATION_POLL_INTERVAL_SECONDS="0.2"
    )
    async with serving(settings, token_issuer, token_verifier) as running:
        yield running


async def _login(users: Users, email: str = "ana@example.com") -> users_pb.LoginResponse:
    reply: users_pb.LoginResponse = await users.stub.Login(
        users_pb.LoginRequest(email=email, password=PASSWORD)
    )
    return reply


def _refresh(users: Users, token: str) -> Awaitable[users_pb.RefreshTokenResponse]:
    return users.stub.RefreshToken(users_pb.RefreshTokenRequest(refresh_token=token))  # type: ignore[no-any-return]


def _whoami(users: Users, access_token: str) -> Callable[[], Awaitable[Any]]:
    """GetCurrentUser with this access token, to be called as often as needed."""
    request = users_pb.GetCurrentUserRequest()
    return lambda: users.stub.GetCurrentUser(request, metadata=bearer(access_token))


async def test_login_returns_a_refresh_token_that_rotates(
    users: Users, token_verifier: TokenVerifier
) -> None:
    await users.register("ana@example.com")
    login = await _login(users)
    assert login.refresh_token
    assert login.refresh_token != login.access_token
    assert login.refresh_token_expires_at.seconds > time.time() + 29 * 86400
    first = await _refresh(users, login.refresh_token)
    assert first.refresh_token not in {"", login.refresh_token}
    assert token_verifier.verify(first.access_token).user_id == login.user.id
    second = await _refresh(users, first.refresh_token)
    assert second.user.id == login.user.id


async def test_a_refresh_token_reused_after_rotation_revokes_its_whole_session(
    users: Users,
) -> None:
    await users.register("ana@example.com")
    login = await _login(users)
    newer = await _refresh(users, login.refresh_token)
    await fails(_refresh(users, login.refresh_token), UNAUTHENTICATED, "REFRESH_TOKEN_REVOKED")
    # The thief (or the owner) holding the newer token is out too, and so are its access tokens.
    await fails(_refresh(users, newer.refresh_token), UNAUTHENTICATED, "REFRESH_TOKEN_REVOKED")
    for access in (login.access_token, newer.access_token):
        await refused_within(_whoami(users, access), UNAUTHENTICATED, REVOKED)


async def test_logout_ends_only_its_own_session(users: Users) -> None:
    await users.register("ana@example.com")
    phone, laptop = await _login(users), await _login(users)
    await users.stub.Logout(users_pb.LogoutRequest(refresh_token=phone.refresh_token))
    await users.stub.Logout(users_pb.LogoutRequest(refresh_token=phone.refresh_token))  # again: OK
    await fails(_refresh(users, phone.refresh_token), UNAUTHENTICATED, "REFRESH_TOKEN_REVOKED")
    await refused_within(_whoami(users, phone.access_token), UNAUTHENTICATED, REVOKED)
    still = await users.stub.GetCurrentUser(
        users_pb.GetCurrentUserRequest(), metadata=bearer(laptop.access_token)
    )
    assert still.user.email == "ana@example.com"
    assert (await _refresh(users, laptop.refresh_token)).access_token


async def test_unknown_empty_and_expired_refresh_tokens_are_refused(users: Users) -> None:
    await users.register("ana@example.com")
    login = await _login(users)
    await fails(_refresh(users, "no-such-token"), UNAUTHENTICATED, "REFRESH_TOKEN_INVALID")
    await fails(
        users.stub.Logout(users_pb.LogoutRequest(refresh_token="no-such-token")),
        UNAUTHENTICATED,
        "REFRESH_TOKEN_INVALID",
    )
    empty = await fails(_refresh(users, ""), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FIELD")
    assert empty.violated_fields == {"refresh_token"}
    users.sql("UPDATE sessions SET expires_at = now() - interval '1 second'")
    await fails(_refresh(users, login.refresh_token), UNAUTHENTICATED, "REFRESH_TOKEN_EXPIRED")


async def test_refresh_tokens_are_stored_only_as_digests(users: Users) -> None:
    await users.register("ana@example.com")
    login = await _login(users)
    rotated = await _refresh(users, login.refresh_token)
    tables = users.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    dump = "\n".join(
        str(row) for (table,) in tables for row in users.sql(f'SELECT t::text FROM "{table}" t')
    )
    stored = {bytes(digest) for (digest,) in users.sql("SELECT token_hash FROM refresh_tokens")}
    for token in (login.refresh_token, rotated.refresh_token):
        assert token not in dump
        assert token.encode().hex() not in dump
        assert hashlib.sha256(token.encode()).digest() in stored


async def test_refreshing_picks_up_the_account_as_it_is_now(
    users: Users, token_verifier: TokenVerifier
) -> None:
    ana = await users.register("ana@example.com")
    login = await _login(users)
    assert not token_verifier.verify(login.access_token).is_verified
    await users.stub.VerifyEmail(
        users_pb.VerifyEmailRequest(token=users.last_token("verify_email", ana.email))
    )
    fresh = await _refresh(users, login.refresh_token)
    assert token_verifier.verify(fresh.access_token).is_verified
    assert fresh.user.is_verified


async def test_a_password_change_revokes_every_token_of_the_account(users: Users) -> None:
    await users.register("ana@example.com")
    other, login = await _login(users), await _login(users)
    await users.stub.ChangePassword(
        users_pb.ChangePasswordRequest(current_password=PASSWORD, new_password="new password!"),
        metadata=bearer(login.access_token),
    )
    for session in (other, login):
        await fails(
            _refresh(users, session.refresh_token), UNAUTHENTICATED, "REFRESH_TOKEN_REVOKED"
        )
        await refused_within(_whoami(users, session.access_token), UNAUTHENTICATED, REVOKED)
    # A token issued after the change is not caught by it.
    again = await users.stub.Login(
        users_pb.LoginRequest(email="ana@example.com", password="new password!")
    )
    await users.stub.GetCurrentUser(
        users_pb.GetCurrentUserRequest(), metadata=bearer(again.access_token)
    )


async def test_a_password_reset_revokes_every_token_of_the_account(users: Users) -> None:
    ana = await users.register("ana@example.com")
    login = await _login(users)
    await users.stub.RequestPasswordReset(users_pb.RequestPasswordResetRequest(email=ana.email))
    await users.settle()
    await users.stub.ResetPassword(
        users_pb.ResetPasswordRequest(
            token=users.last_token("reset_password", ana.email), new_password="new password!"
        )
    )
    await fails(_refresh(users, login.refresh_token), UNAUTHENTICATED, "REFRESH_TOKEN_REVOKED")
    await refused_within(_whoami(users, login.access_token), UNAUTHENTICATED, REVOKED)


async def test_the_revocation_feed_is_for_services(users: Users, token_issuer: TokenIssuer) -> None:
    await users.register("ana@example.com")
    login = await _login(users)
    await users.stub.Logout(users_pb.LogoutRequest(refresh_token=login.refresh_token))
    request = users_pb.ListRevocationsRequest()
    await fails(
        users.stub.ListRevocations(request, metadata=bearer(login.access_token)),
        grpc.StatusCode.PERMISSION_DENIED,
        "SERVICE_ROLE_REQUIRED",
    )
    service = bearer(token_issuer.mint_service_token("inventory", ttl_seconds=60).token)
    feed = await users.stub.ListRevocations(request, metadata=service)
    [entry] = feed.revocations
    assert (entry.user_id, entry.below_generation) == (login.user.id, 0)
    assert entry.session_id
    assert entry.expires_at.seconds > time.time()
    later = users_pb.ListRevocationsRequest(after_id=entry.id)
    assert not (await users.stub.ListRevocations(later, metadata=service)).revocations
    await fails(
        users.stub.ListRevocations(users_pb.ListRevocationsRequest(after_id=-1), metadata=service),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FIELD",
    )
