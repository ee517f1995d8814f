"""A real UserService on port 0 over a fresh, migrated database, and helpers to drive it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest

from estore.common.auth import TokenIssuer, TokenVerifier
from estore.common.config import Settings
from estore.common.server import GrpcServer
from estore.users.app import create_app
from estore.users.service import UserService
from generated.estore.users.v1 import user_service_pb2 as users_pb
from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc
from tests.helpers import ErrorDetails, bearer, error_details, running_server

ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "root-password-1"
PASSWORD = "correct horse"


def users_settings(database_url: str, data_dir: Path, **env: str) -> Settings:
    """Settings for a test server: cheap bcrypt, an outbox in `data_dir`, a bootstrap admin."""
    return Settings.from_env(
        {
            "ESTORE_USERS_DATABASE_URL": database_url,
            "ESTORE_DATA_DIR": str(data_dir),
            "ESTORE_BCRYPT_ROUNDS": "4",
            "ESTORE_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
            "ESTORE_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            **env,
        }
    )


@dataclass
class Users:
    """A running UserService and what a test needs to talk to it and look behind it."""

    stub: users_grpc.UserServiceStub
    channel: grpc.aio.Channel
    server: GrpcServer
    settings: Settings
    service: UserService

    async def settle(self) -> None:
        """Wait for the mail work that earlier calls left running in the background."""
        await self.service.drain()

    def mails(self, kind: str | None = None, to: str | None = None) -> list[dict[str, Any]]:
        """The outbox's mails, optionally of one kind and to one address."""
        outbox = self.settings.mail_outbox
        lines = outbox.read_text().splitlines() if outbox.exists() else []
        mails = [json.loads(line) for line in lines]
        return [
            mail
            for mail in mails
            if (kind is None or mail["kind"] == kind) and (to is None or mail["to"] == to)
        ]

    def last_token(self, kind: str, to: str) -> str:
        """The token of the latest mail of `kind` to `to`."""
        return str(self.mails(kind, to)[-1]["token"])

    async def register(self, email: str, password: str = PASSWORD) -> users_pb.User:
        request = users_pb.RegisterRequest(email=email, password=password)
        reply: users_pb.RegisterResponse = await self.stub.Register(request)
        return reply.user

    async def sign_in(self, email: str, password: str = PASSWORD) -> tuple[tuple[str, str], ...]:
        """Call metadata with a fresh access token for this account."""
        reply = await self.stub.Login(users_pb.LoginRequest(email=email, password=password))
        return bearer(reply.access_token)

    async def admin(self) -> tuple[tuple[str, str], ...]:
        return await self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run SQL directly against the service's database (to arrange or inspect state)."""
        assert self.settings.users_database_url
        with psycopg.connect(self.settings.users_database_url, autocommit=True) as connection:
            cursor = connection.execute(query.encode(), params or None)
            return cursor.fetchall() if cursor.description else []


@asynccontextmanager
async def serving(
    settings: Settings, issuer: TokenIssuer, verifier: TokenVerifier, **options: Any
) -> AsyncIterator[Users]:
    """UserService built by create_app, served on port 0."""
    app = await create_app(settings, issuer=issuer, **options)
    async with running_server(app.definition, verifier) as (server, channel):
        yield Users(users_grpc.UserServiceStub(channel), channel, server, settings, app.service)


@pytest.fixture
def settings(users_database_url: str, tmp_path: Path) -> Settings:
    return users_settings(users_database_url, tmp_path)


@pytest.fixture
async def users(settings: Settings, token_issuer, token_verifier) -> AsyncIterator[Users]:
    async with serving(settings, token_issuer, token_verifier) as running:
        yield running


async def fails(
    call: Awaitable[Any], code: grpc.StatusCode, reason: str | None = None
) -> ErrorDetails:
    """Await a call that must fail with `code` (and `reason`); its details."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    details = error_details(caught.value)
    assert details.code == code, details.message
    if reason is not None:
        assert details.reason == reason
    assert details.infos[0].domain == "estore.users"
    return details
