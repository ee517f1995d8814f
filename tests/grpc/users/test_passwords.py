"""ChangePassword, RequestPasswordReset and ResetPassword."""

from __future__ import annotations

import asyncio

import grpc

from generated.estore.users.v1 import user_service_pb2 as users_pb
from tests.grpc.users.conftest import PASSWORD, Users, fails

INVALID = grpc.StatusCode.INVALID_ARGUMENT
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED


def _change(current: str, new: str) -> users_pb.ChangePasswordRequest:
    return users_pb.ChangePasswordRequest(current_password=current, new_password=new)


async def _request_reset(users: Users, email: str) -> None:
    reply = await users.stub.RequestPasswordReset(users_pb.RequestPasswordResetRequest(email=email))
    assert reply == users_pb.RequestPasswordResetResponse()
    await users.settle()  # the lookup and the mail happen after the reply


def _reset(token: str, new: str) -> users_pb.ResetPasswordRequest:
    return users_pb.ResetPasswordRequest(token=token, new_password=new)


async def test_change_password_checks_the_current_one(users: Users) -> None:
    await users.register("ana@example.com")
    as_ana = await users.sign_in("ana@example.com")
    await fails(
        users.stub.ChangePassword(_change("wrong password", "brand new pass"), metadata=as_ana),
        grpc.StatusCode.PERMISSION_DENIED,
        "INVALID_CURRENT_PASSWORD",
    )
    await users.stub.ChangePassword(_change(PASSWORD, "brand new pass"), metadata=as_ana)
    await fails(users.sign_in("ana@example.com"), UNAUTHENTICATED, "INVALID_CREDENTIALS")
    await users.sign_in("ana@example.com", "brand new pass")
    # Tokens issued before the change stay valid until they expire (as the proto says).
    await users.stub.GetCurrentUser(users_pb.GetCurrentUserRequest(), metadata=as_ana)


async def test_wrong_current_passwords_count_toward_the_sign_in_throttle(users: Users) -> None:
    await users.register("ana@example.com")
    as_ana = await users.sign_in("ana@example.com")
    for _ in range(3):
        await fails(
            users.stub.ChangePassword(_change("wrong password", "brand new pass"), metadata=as_ana),
            grpc.StatusCode.PERMISSION_DENIED,
            "INVALID_CURRENT_PASSWORD",
        )
    for _ in range(2):
        await fails(users.sign_in("ANA@example.com", "wrong password"), UNAUTHENTICATED)
    details = await fails(
        users.stub.ChangePassword(_change(PASSWORD, "brand new pass"), metadata=as_ana),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "TOO_MANY_LOGIN_ATTEMPTS",
    )
    assert len(details.retry_infos) == 1
    await fails(users.sign_in("ana@example.com"), grpc.StatusCode.RESOURCE_EXHAUSTED)


async def test_a_deactivated_account_cannot_change_its_password(users: Users) -> None:
    await users.register("ana@example.com")
    as_ana = await users.sign_in("ana@example.com")
    users.sql("UPDATE users SET is_active = false WHERE email = 'ana@example.com'")
    await fails(
        users.stub.ChangePassword(_change(PASSWORD, "brand new pass"), metadata=as_ana),
        grpc.StatusCode.PERMISSION_DENIED,
        "USER_INACTIVE",
    )
    users.sql("UPDATE users SET is_active = true WHERE email = 'ana@example.com'")
    await users.sign_in("ana@example.com")  # the password did not change


async def test_change_password_validates_and_needs_a_signed_in_user(users: Users) -> None:
    await users.register("ana@example.com")
    as_ana = await users.sign_in("ana@example.com")
    for new in ("short", "x" * 73, "😀" * 20):
        details = await fails(
            users.stub.ChangePassword(_change(PASSWORD, new), metadata=as_ana),
            INVALID,
            "INVALID_FIELD",
        )
        assert details.violated_fields == {"new_password"}
    details = await fails(
        users.stub.ChangePassword(_change("", "brand new pass"), metadata=as_ana), INVALID
    )
    assert details.violated_fields == {"current_password"}
    await fails(
        users.stub.ChangePassword(_change(PASSWORD, "brand new pass")),
        UNAUTHENTICATED,
        "AUTH_TOKEN_MISSING",
    )


async def test_reset_password_with_the_mailed_token(users: Users) -> None:
    await users.register("ana@example.com")
    await _request_reset(users, "Ana@Example.com")
    token = users.last_token("reset_password", "ana@example.com")
    await users.stub.ResetPassword(_reset(token, "brand new pass"))
    await users.sign_in("ana@example.com", "brand new pass")
    await fails(users.sign_in("ana@example.com"), UNAUTHENTICATED, "INVALID_CREDENTIALS")
    await fails(
        users.stub.ResetPassword(_reset(token, "another new pass")),
        grpc.StatusCode.NOT_FOUND,
        "RESET_TOKEN_NOT_FOUND",
    )


async def test_reset_answers_the_same_for_unknown_emails_and_mails_nothing(users: Users) -> None:
    await _request_reset(users, "nobody@example.com")
    await _request_reset(users, "not-an-email")
    assert users.mails() == []
    details = await fails(
        users.stub.RequestPasswordReset(users_pb.RequestPasswordResetRequest(email="")),
        INVALID,
        "INVALID_FIELD",
    )
    assert details.violated_fields == {"email"}


async def test_reset_tokens_expire_and_are_not_verification_tokens(users: Users) -> None:
    await users.register("ana@example.com")
    verify_token = users.last_token("verify_email", "ana@example.com")
    await fails(
        users.stub.ResetPassword(_reset(verify_token, "brand new pass")),
        grpc.StatusCode.NOT_FOUND,
        "RESET_TOKEN_NOT_FOUND",
    )
    await _request_reset(users, "ana@example.com")
    token = users.last_token("reset_password", "ana@example.com")
    await fails(
        users.stub.VerifyEmail(users_pb.VerifyEmailRequest(token=token)),
        grpc.StatusCode.NOT_FOUND,
        "VERIFICATION_TOKEN_NOT_FOUND",
    )
    users.sql("UPDATE verification_tokens SET expires_at = now() - interval '1 minute'")
    await fails(
        users.stub.ResetPassword(_reset(token, "brand new pass")),
        grpc.StatusCode.FAILED_PRECONDITION,
        "RESET_TOKEN_EXPIRED",
    )
    await users.sign_in("ana@example.com")


async def test_reset_validates_the_new_password_and_keeps_the_token(users: Users) -> None:
    await users.register("ana@example.com")
    await _request_reset(users, "ana@example.com")
    token = users.last_token("reset_password", "ana@example.com")
    details = await fails(users.stub.ResetPassword(_reset(token, "😀" * 20)), INVALID)
    assert details.violated_fields == {"new_password"}
    details = await fails(users.stub.ResetPassword(_reset("", "brand new pass")), INVALID)
    assert details.violated_fields == {"token"}
    await users.stub.ResetPassword(_reset(token, "brand new pass"))


async def test_a_reset_voids_older_reset_tokens_and_lifts_the_throttle(users: Users) -> None:
    await users.register("ana@example.com")
    for _ in range(5):
        await fails(users.sign_in("ana@example.com", "wrong"), UNAUTHENTICATED)
    await fails(users.sign_in("ana@example.com"), grpc.StatusCode.RESOURCE_EXHAUSTED)
    await _request_reset(users, "ana@example.com")
    older = users.last_token("reset_password", "ana@example.com")
    users.sql("UPDATE verification_tokens SET created_at = created_at - interval '1 minute'")
    await _request_reset(users, "ana@example.com")
    newer = users.last_token("reset_password", "ana@example.com")
    await users.stub.ResetPassword(_reset(newer, "brand new pass"))
    await fails(
        users.stub.ResetPassword(_reset(older, "other new pass")), grpc.StatusCode.NOT_FOUND
    )
    await users.sign_in("ana@example.com", "brand new pass")


async def test_concurrent_resets_with_one_token_succeed_once(users: Users) -> None:
    await users.register("ana@example.com")
    await _request_reset(users, "ana@example.com")
    token = users.last_token("reset_password", "ana@example.com")
    results = await asyncio.gather(
        *(users.stub.ResetPassword(_reset(token, f"new password {i}")) for i in range(10)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, users_pb.ResetPasswordResponse) for r in results) == 1
