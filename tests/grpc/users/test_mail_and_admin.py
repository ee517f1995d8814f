"""Mail through a real SMTP server, the bootstrap admin, and page tokens shared by instances."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiosmtpd.controller import Controller

from estore.common.config import ConfigError
from estore.embedded.ports import free_port
from estore.users.app import create_service
from generated.estore.users.v1 import user_service_pb2 as users_pb
from tests.grpc.users.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Users,
    fails,
    serving,
    users_settings,
)


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


@pytest.fixture
def smtp_inbox() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def test_register_mails_the_token_over_smtp(
    smtp_inbox, users_database_url, tmp_path, token_issuer, token_verifier
) -> None:
    inbox, port = smtp_inbox
    settings = users_settings(
        users_database_url,
        tmp_path,
        ESTORE_SMTP_URL=f"smtp://127.0.0.1:{port}?from=shop@example.com",
    )
    async with serving(settings, token_issuer, token_verifier) as users:
        await users.register("ana@example.com")
        [message] = inbox.messages
        assert message["To"] == "ana@example.com"
        assert message["From"] == "shop@example.com"
        [token] = [
            line.strip() for line in message.get_content().splitlines() if line[:4] == " " * 4
        ]
        reply = await users.stub.VerifyEmail(users_pb.VerifyEmailRequest(token=token))
        assert reply.user.is_verified
        assert not settings.mail_outbox.exists()


async def test_an_smtp_server_that_is_down_does_not_fail_register(
    users_database_url, tmp_path, token_issuer, token_verifier
) -> None:
    settings = users_settings(
        users_database_url, tmp_path, ESTORE_SMTP_URL=f"smtp://127.0.0.1:{free_port()}"
    )
    async with serving(settings, token_issuer, token_verifier) as users:
        user = await users.register("ana@example.com")  # the mail can be asked for again
        assert user.id > 0
        await users.stub.ResendVerification(
            users_pb.ResendVerificationRequest(email="ana@example.com")
        )


async def test_the_bootstrap_admin_is_made_once_and_never_overwritten(
    users: Users, token_issuer, token_verifier, tmp_path: Path
) -> None:
    rows = users.sql("SELECT is_admin, is_verified, is_active FROM users WHERE email = %s",
                     ADMIN_EMAIL)  # fmt: skip
    assert rows == [(True, True, True)]
    assert users.settings.users_database_url
    again = users_settings(
        users.settings.users_database_url,
        tmp_path,
        ESTORE_BOOTSTRAP_ADMIN_PASSWORD="a different one",
    )
    async with serving(again, token_issuer, token_verifier) as restarted:
        await restarted.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        await fails(
            restarted.sign_in(ADMIN_EMAIL, "a different one"), grpc.StatusCode.UNAUTHENTICATED
        )
    assert users.sql("SELECT count(*) FROM users") == [(1,)]


async def test_bootstrap_never_promotes_an_account_someone_registered(
    users_database_url, tmp_path, token_issuer, token_verifier
) -> None:
    plain = users_settings(users_database_url, tmp_path, ESTORE_BOOTSTRAP_ADMIN_EMAIL="")
    async with serving(plain, token_issuer, token_verifier) as users:
        await users.register(ADMIN_EMAIL, "squatter password")
    async with serving(
        users_settings(users_database_url, tmp_path), token_issuer, token_verifier
    ) as users:
        assert users.sql("SELECT is_admin FROM users") == [(False,)]
        await fails(users.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD), grpc.StatusCode.UNAUTHENTICATED)


async def test_a_page_token_from_one_instance_works_on_another(
    users: Users, tmp_path, token_issuer, token_verifier
) -> None:
    for i in range(3):
        await users.register(f"user{i}@example.com")
    first = await users.stub.ListUsers(
        users_pb.ListUsersRequest(page_size=2), metadata=await users.admin()
    )
    assert users.settings.users_database_url
    other = users_settings(users.settings.users_database_url, tmp_path / "other")
    async with serving(other, token_issuer, token_verifier) as second_instance:
        reply = await second_instance.stub.ListUsers(
            users_pb.ListUsersRequest(page_size=2, page_token=first.next_page_token),
            metadata=await second_instance.admin(),
        )
    assert [u.email for u in reply.users] == ["user1@example.com", "user2@example.com"]


async def test_a_configured_page_token_secret_is_used(
    users_database_url, tmp_path, token_issuer, token_verifier
) -> None:
    one, two = "first secret, at least 16 bytes", "second secret, at least 16 bytes"

    async def list_users(secret: str, page_token: str = "") -> users_pb.ListUsersResponse:
        settings = users_settings(users_database_url, tmp_path, ESTORE_PAGE_TOKEN_SECRET=secret)
        async with serving(settings, token_issuer, token_verifier) as users:
            request = users_pb.ListUsersRequest(page_size=1, page_token=page_token)
            reply: users_pb.ListUsersResponse = await users.stub.ListUsers(
                request, metadata=await users.admin()
            )
            return reply

    async with serving(
        users_settings(users_database_url, tmp_path), token_issuer, token_verifier
    ) as users:
        await users.register("ana@example.com")
    token = (await list_users(one)).next_page_token
    assert [u.email for u in (await list_users(one, token)).users] == ["ana@example.com"]
    await fails(list_users(two, token), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")


async def test_a_bad_bootstrap_password_stops_the_start_with_a_clear_error(
    users_database_url, tmp_path, token_issuer
) -> None:
    settings = users_settings(users_database_url, tmp_path, ESTORE_BOOTSTRAP_ADMIN_PASSWORD="short")
    with pytest.raises(ConfigError, match="ESTORE_BOOTSTRAP_ADMIN"):
        await create_service(settings, issuer=token_issuer)
