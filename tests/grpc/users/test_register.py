"""Register, VerifyEmail and ResendVerification over gRPC against a real PostgreSQL."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from generated.estore.users.v1 import user_service_pb2 as users_pb
from tests.grpc.users.conftest import Users, fails

INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def test_register_creates_an_unverified_account_and_mails_a_token(users: Users) -> None:
    user = await users.register("  Ana@Example.COM ")
    assert user.id > 0
    assert user.email == "ana@example.com"
    assert (user.is_active, user.is_verified, user.is_admin) == (True, False, False)
    assert user.HasField("created_at")
    assert not user.HasField("updated_at")
    [mail] = users.mails("verify_email", "ana@example.com")
    assert set(mail) == {"kind", "to", "subject", "text", "token"}
    assert mail["token"] in mail["text"]
    assert len(mail["token"]) >= 43  # 32 random bytes, URL-safe base64


async def test_the_same_email_in_any_case_is_already_taken(users: Users) -> None:
    await users.register("ana@example.com")
    await fails(
        users.register("ANA@example.COM", "another password"),
        grpc.StatusCode.ALREADY_EXISTS,
        "EMAIL_ALREADY_EXISTS",
    )


@pytest.mark.parametrize(
    "email", ["", "   ", "ana", "ana@", "@example.com", "ana@example", "a b@example.com",
              "ana@@example.com", "ana..b@example.com", "ana@-example.com",
              "x" * 65 + "@example.com", "a@" + "b" * 250 + ".com"],
)  # fmt: skip
async def test_a_malformed_email_is_invalid(users: Users, email: str) -> None:
    details = await fails(users.register(email), INVALID, "INVALID_FIELD")
    assert details.violated_fields == {"email"}


@pytest.mark.parametrize(
    "password",
    ["short7!", "x" * 73, "😀" * 20, "é" * 37],
    ids=["7-bytes", "73-bytes", "80-byte-emoji", "37-chars-74-bytes"],
)
async def test_a_password_outside_8_to_72_utf8_bytes_is_invalid(
    users: Users, password: str
) -> None:
    details = await fails(users.register("ana@example.com", password), INVALID, "INVALID_FIELD")
    assert details.violated_fields == {"password"}
    assert users.sql("SELECT count(*) FROM users WHERE email = 'ana@example.com'") == [(0,)]


async def test_72_bytes_of_emoji_is_a_good_password(users: Users) -> None:
    await users.register("ana@example.com", "😀" * 18)
    await users.sign_in("ana@example.com", "😀" * 18)


async def test_twenty_concurrent_registrations_make_exactly_one_account(users: Users) -> None:
    emails = ["Ana@Example.com", "ana@example.com"] * 10
    results = await asyncio.gather(
        *(users.register(email, f"password {i}") for i, email in enumerate(emails)),
        return_exceptions=True,
    )
    created = [r for r in results if isinstance(r, users_pb.User)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(created) == 1
    assert len(refused) == 19
    assert {r.code() for r in refused} == {grpc.StatusCode.ALREADY_EXISTS}
    assert users.sql("SELECT count(*) FROM users WHERE lower(email) = 'ana@example.com'") == [(1,)]


async def test_verify_email_works_once(users: Users) -> None:
    user = await users.register("ana@example.com")
    token = users.last_token("verify_email", "ana@example.com")
    reply = await users.stub.VerifyEmail(users_pb.VerifyEmailRequest(token=token))
    assert reply.user.id == user.id
    assert reply.user.is_verified
    assert reply.user.HasField("updated_at")
    await fails(
        users.stub.VerifyEmail(users_pb.VerifyEmailRequest(token=token)),
        grpc.StatusCode.NOT_FOUND,
        "VERIFICATION_TOKEN_NOT_FOUND",
    )


async def test_an_unknown_token_is_not_found_and_an_empty_one_invalid(users: Users) -> None:
    await fails(
        users.stub.VerifyEmail(users_pb.VerifyEmailRequest(token="made-up")),
        grpc.StatusCode.NOT_FOUND,
        "VERIFICATION_TOKEN_NOT_FOUND",
    )
    details = await fails(
        users.stub.VerifyEmail(users_pb.VerifyEmailRequest(token="")), INVALID, "INVALID_FIELD"
    )
    assert details.violated_fields == {"token"}


async def test_an_expired_token_is_a_failed_precondition(users: Users) -> None:
    await users.register("ana@example.com")
    token = users.last_token("verify_email", "ana@example.com")
    users.sql("UPDATE verification_tokens SET expires_at = now() - interval '1 second'")
    await fails(
        users.stub.VerifyEmail(users_pb.VerifyEmailRequest(token=token)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "VERIFICATION_TOKEN_EXPIRED",
    )
    assert users.sql("SELECT is_verified FROM users WHERE email = 'ana@example.com'") == [(False,)]


async def test_twenty_concurrent_verifications_of_one_token_succeed_once(users: Users) -> None:
    await users.register("ana@example.com")
    request = users_pb.VerifyEmailRequest(token=users.last_token("verify_email", "ana@example.com"))
    results = await asyncio.gather(
        *(users.stub.VerifyEmail(request) for _ in range(20)), return_exceptions=True
    )
    assert sum(isinstance(r, users_pb.VerifyEmailResponse) for r in results) == 1
    assert {r.code() for r in results if isinstance(r, grpc.aio.AioRpcError)} == {
        grpc.StatusCode.NOT_FOUND
    }


async def test_the_raw_token_is_nowhere_in_the_database(users: Users) -> None:
    await users.register("ana@example.com")
    await users.stub.RequestPasswordReset(
        users_pb.RequestPasswordResetRequest(email="ana@example.com")
    )
    await users.settle()
    tokens = [mail["token"] for mail in users.mails()]
    assert len(tokens) == 2
    tables = users.sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    dump = "\n".join(
        str(row) for (table,) in tables for row in users.sql(f'SELECT t::text FROM "{table}" t')
    )
    assert "verification_tokens" in {table for (table,) in tables}
    assert len(dump) > 0
    for token in tokens:
        assert token not in dump
        assert token.encode().hex() not in dump


async def test_resend_mails_a_new_token_to_an_unverified_account(users: Users) -> None:
    await users.register("ana@example.com")
    first = users.last_token("verify_email", "ana@example.com")
    users.sql("UPDATE verification_tokens SET created_at = created_at - interval '1 minute'")
    await users.stub.ResendVerification(
        users_pb.ResendVerificationRequest(email=" ANA@example.com")
    )
    await users.settle()
    second = users.last_token("verify_email", "ana@example.com")
    assert second != first
    reply = await users.stub.VerifyEmail(users_pb.VerifyEmailRequest(token=second))
    assert reply.user.is_verified


async def test_resend_answers_the_same_for_unknown_and_verified_emails(users: Users) -> None:
    await users.register("ana@example.com")
    await users.stub.VerifyEmail(
        users_pb.VerifyEmailRequest(token=users.last_token("verify_email", "ana@example.com"))
    )
    # Out of the mail cooldown, so that only the account being verified can explain no mail.
    users.sql("UPDATE verification_tokens SET created_at = created_at - interval '1 minute'")
    for email in ("ana@example.com", "nobody@example.com", "not-even-an-email"):
        reply = await users.stub.ResendVerification(users_pb.ResendVerificationRequest(email=email))
        assert reply == users_pb.ResendVerificationResponse()
    await users.settle()
    assert len(users.mails("verify_email")) == 1
    details = await fails(
        users.stub.ResendVerification(users_pb.ResendVerificationRequest(email="")),
        INVALID,
        "INVALID_FIELD",
    )
    assert details.violated_fields == {"email"}


async def test_one_mail_of_a_kind_per_address_a_minute(users: Users) -> None:
    await users.register("ana@example.com")  # its mail starts the verification cooldown
    resend = users_pb.ResendVerificationRequest(email="ana@example.com")
    reset = users_pb.RequestPasswordResetRequest(email="ana@example.com")
    await asyncio.gather(
        *(users.stub.ResendVerification(resend) for _ in range(10)),
        *(users.stub.RequestPasswordReset(reset) for _ in range(10)),
    )
    await users.settle()
    assert len(users.mails("verify_email", "ana@example.com")) == 1
    assert len(users.mails("reset_password", "ana@example.com")) == 1
    users.sql("UPDATE verification_tokens SET created_at = created_at - interval '1 minute'")
    await users.stub.ResendVerification(resend)
    await users.stub.RequestPasswordReset(reset)
    await users.settle()
    assert len(users.mails("verify_email", "ana@example.com")) == 2
    assert len(users.mails("reset_password", "ana@example.com")) == 2
