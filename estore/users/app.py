"""Wires UserService: migrations, the PostgreSQL pool, passwords, mail, tokens and the servicer."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from estore.common.auth import TokenIssuer, load_private_key
from estore.common.config import ConfigError, Settings
from estore.common.errors import InvalidArgument
from estore.common.metrics import Sample
from estore.common.paging import PageTokens
from estore.common.revocation_feed import RevocationFollower
from estore.common.revocations import RevocationList
from estore.common.runtime import new_revocation_list
from estore.common.server import ServiceDefinition
from estore.users.admins import ensure_admin
from estore.users.mailer import mailer_for
from estore.users.migrate import migrate
from estore.users.models import AdminOutcome, User
from estore.users.passwords import PasswordHasher
from estore.users.repository import UserRepository
from estore.users.repository_base import DatabaseProbe, IdleCheck
from estore.users.service import UserService
from estore.users.servicer import UserServicer
from estore.users.user_cache import UserCache
from generated.estore.users.v1 import user_service_pb2 as users_pb
from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc

log = logging.getLogger("estore.users")

FULL_NAME = users_pb.DESCRIPTOR.services_by_name["UserService"].full_name
POOL_MAX_SIZE = 10
# psycopg_pool backs off exponentially between reconnection attempts, up to this long in total,
# then waits for the next request to try again. Kept short: while PostgreSQL is down the
# breaker keeps requests away, and once PostgreSQL answers again the health probe's query
# through the pool must find it connecting at once, not in the middle of a long backoff.
RECONNECT_TIMEOUT_SECONDS = 1.0
# A new connection that PostgreSQL does not accept in this long (a host that drops packets) is
# given up, rather than hold one of the pool's connection attempts indefinitely.
CONNECT_TIMEOUT_SECONDS = 5
# Every request fits in a few KiB (an email, a password of at most 72 bytes, a page token):
# 64 KiB leaves room to grow and refuses anything bigger before it is read.
MAX_MESSAGE_BYTES = 64 * 1024


def database_url(settings: Settings) -> str:
    """ESTORE_USERS_DATABASE_URL; ConfigError when it is unset."""
    if not settings.users_database_url:
        raise ConfigError(
            "ESTORE_USERS_DATABASE_URL is not set (or use `estore up`, which runs its own)"
        )
    return settings.users_database_url


def _open_pool(url: str, max_size: int = POOL_MAX_SIZE) -> AsyncConnectionPool[Any]:
    return AsyncConnectionPool(
        url,
        open=False,
        min_size=1,
        max_size=max_size,
        check=IdleCheck().check,
        reconnect_timeout=RECONNECT_TIMEOUT_SECONDS,
        # Autocommit: a single-statement read needs no BEGIN / COMMIT round trips; writes
        # still run in explicit transactions (Repository._transaction).
        kwargs={"connect_timeout": CONNECT_TIMEOUT_SECONDS, "autocommit": True},
    )


def _issuer(settings: Settings) -> TokenIssuer:
    return TokenIssuer(
        load_private_key(settings.jwt_private_key_file),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )


async def _page_tokens(settings: Settings, store: UserRepository) -> PageTokens:
    if settings.page_token_secret:
        if len(settings.page_token_secret.encode()) < 16:
            raise ConfigError("ESTORE_PAGE_TOKEN_SECRET must be at least 16 bytes")
        return PageTokens(settings.page_token_secret.encode())
    return PageTokens(await store.shared_secret(secrets.token_bytes(32)))


async def _bootstrap_admin(
    settings: Settings, store: UserRepository, hasher: PasswordHasher
) -> None:
    email, password = settings.bootstrap_admin_email, settings.bootstrap_admin_password
    if not email or not password:
        return
    # Never promote an existing account: whoever registered this email first owns its password.
    try:
        user, outcome = await ensure_admin(store, hasher, email, password, promote=False)
    except InvalidArgument as error:
        raise ConfigError(f"ESTORE_BOOTSTRAP_ADMIN_*: {error.message}") from None
    if outcome is AdminOutcome.CREATED:
        log.info("bootstrap admin created", extra={"email": user.email, "user_id": user.id})
    elif not user.is_admin:
        log.warning("bootstrap admin email belongs to a non-admin account; left as it is")


@dataclass(frozen=True)
class UsersApp:
    """The built UserService and what the shared bootstrap needs to serve it."""

    service: UserService
    definition: ServiceDefinition


async def create_service(
    settings: Settings,
    *,
    issuer: TokenIssuer | None = None,
    pool_timeout: float | None = None,
) -> ServiceDefinition:
    """Migrate the database, open the pool and build the service (tests may inject `issuer`)."""
    return (await create_app(settings, issuer=issuer, pool_timeout=pool_timeout)).definition


async def create_app(
    settings: Settings,
    *,
    issuer: TokenIssuer | None = None,
    pool_timeout: float | None = None,
) -> UsersApp:
    """`create_service`, keeping the service too (tests wait on its background mail work)."""
    url = database_url(settings)
    issuer = issuer or _issuer(settings)
    await migrate(url)
    pool = _open_pool(url)
    await pool.open()
    probe = DatabaseProbe(url, pool)
    users = UserCache(url, max_entries=settings.users_cache_accounts)
    try:
        if settings.users_cache_accounts:
            await users.start()
        timeout = settings.pool_timeout_seconds if pool_timeout is None else pool_timeout
        store = UserRepository(
            pool,
            timeout=timeout,
            access_token_ttl_seconds=settings.access_token_ttl_seconds,
            users=users if settings.users_cache_accounts else None,
        )
        hasher = PasswordHasher(settings.bcrypt_rounds)
        await hasher.prepare()
        service = UserService(
            store,
            hasher,
            mailer_for(settings),
            issuer,
            await _page_tokens(settings, store),
            access_token_ttl_seconds=settings.access_token_ttl_seconds,
            refresh_token_ttl_seconds=settings.refresh_token_ttl_seconds,
        )
        await _bootstrap_admin(settings, store, hasher)
        # This service checks tokens too; it reads the feed from its own database.
        revocations = new_revocation_list(settings)
        follower = RevocationFollower(
            revocations,
            store.list_revocations,
            interval=settings.revocation_poll_interval_seconds,
            timeout=settings.revocation_max_staleness_seconds,
        )
        await follower.start()
    except BaseException:
        await users.stop()
        await pool.close()
        raise
    servicer = UserServicer(service)
    definition = ServiceDefinition(
        name="users",
        full_name=FULL_NAME,
        register=lambda server: users_grpc.add_UserServiceServicer_to_server(servicer, server),
        probe=probe,
        # Mail work still running needs the pool: let it finish before the pool closes.
        on_stop=(follower.stop, users.stop, service.drain, pool.close, probe.close),
        sampler=lambda: _pool_samples(pool, revocations),
        max_concurrent_rpcs=settings.max_concurrent_rpcs,
        max_message_bytes=settings.max_message_bytes or MAX_MESSAGE_BYTES,
        revocations=revocations,
    )
    return UsersApp(service, definition)


async def _pool_samples(
    pool: AsyncConnectionPool[Any], revocations: RevocationList
) -> list[Sample]:
    """PostgreSQL pool use (connections open, idle, requests waiting), and revocations known."""
    stats = pool.get_stats()
    help_text = "PostgreSQL pool connections, by state"
    return [
        Sample(
            "estore_db_pool_connections", help_text, stats.get("pool_size", 0), {"state": "open"}
        ),
        Sample(
            "estore_db_pool_connections",
            help_text,
            stats.get("pool_available", 0),
            {"state": "idle"},
        ),
        Sample(
            "estore_db_pool_requests_waiting",
            "Requests waiting for a PostgreSQL connection",
            stats.get("requests_waiting", 0),
        ),
        *revocations.samples(),
    ]


async def run_migrations(settings: Settings) -> list[str]:
    """`estore migrate`: apply pending migrations; returns the versions applied."""
    return await migrate(database_url(settings))


async def create_admin(settings: Settings, email: str, password: str) -> tuple[User, AdminOutcome]:
    """`estore users create-admin`: create or promote a verified admin with this password."""
    url = database_url(settings)
    await migrate(url)
    async with _open_pool(url, max_size=1) as pool:
        store = UserRepository(pool, access_token_ttl_seconds=settings.access_token_ttl_seconds)
        hasher = PasswordHasher(settings.bcrypt_rounds)
        return await ensure_admin(store, hasher, email, password, promote=True)
