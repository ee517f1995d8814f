"""Wiring shared by every entry point: the token verifier and a configured GrpcServer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from estore.common.auth import (
    TokenIssuer,
    TokenVerifier,
    ensure_dev_keys,
    load_private_key,
    load_public_key,
)
from estore.common.config import ConfigError, Settings
from estore.common.revocation_feed import RevocationFeedClient, RevocationFollower
from estore.common.revocations import RevocationList
from estore.common.server import GrpcServer, ServiceDefinition

log = logging.getLogger("estore.runtime")
SERVICE_TOKEN_TTL_SECONDS = 30 * 86400


def token_verifier(settings: Settings) -> TokenVerifier:
    """The verifier for `settings`' public key; dev keys are made when neither key file exists."""
    public, private = settings.jwt_public_key_file, settings.jwt_private_key_file
    if not public.exists() and not private.exists():
        log.warning("no JWT keys found; making development keys", extra={"path": str(public)})
        ensure_dev_keys(private, public)
    if not public.exists():
        raise ConfigError(f"ESTORE_JWT_PUBLIC_KEY_FILE: {public} does not exist")
    return TokenVerifier(
        load_public_key(public), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )


def grpc_server(
    definition: ServiceDefinition,
    settings: Settings,
    verifier: TokenVerifier,
    port: int,
    metrics_port: int | None = None,
    *,
    share_port: bool = False,
) -> GrpcServer:
    """A GrpcServer for `definition` configured from `settings`."""
    return GrpcServer(
        definition,
        verifier,
        host=settings.host,
        port=port,
        metrics_port=metrics_port,
        credentials=settings.tls.server_credentials(),
        probe_interval=settings.health_probe_interval_seconds,
        grace=settings.shutdown_grace_seconds,
        share_port=share_port,
    )


def service_token(settings: Settings, name: str) -> str:
    """ESTORE_SERVICE_TOKEN, or (on a dev machine holding the private key) a freshly minted one."""
    if settings.service_token:
        return settings.service_token
    if not settings.jwt_private_key_file.exists():
        raise ConfigError(
            "ESTORE_SERVICE_TOKEN is not set: mint one with `estore token mint-service`"
        )
    log.warning("ESTORE_SERVICE_TOKEN is not set; minting one with the local private key")
    issuer = TokenIssuer(
        load_private_key(settings.jwt_private_key_file),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    return issuer.mint_service_token(name, ttl_seconds=SERVICE_TOKEN_TTL_SECONDS).token


def new_revocation_list(settings: Settings) -> RevocationList:
    """An empty RevocationList with the configured staleness limit."""
    return RevocationList(max_staleness_seconds=settings.revocation_max_staleness_seconds)


async def follow_revocations(
    settings: Settings, name: str
) -> tuple[RevocationList, Callable[[], Awaitable[None]]]:
    """Revocations learnt from UserService at ESTORE_USERS_TARGET, and how to stop following."""
    revocations = new_revocation_list(settings)
    staleness = settings.revocation_max_staleness_seconds
    client = RevocationFeedClient.connect(
        settings.users_target,
        service_token(settings, name),
        deadline=staleness / 2,
        credentials=settings.tls.channel_credentials(),
    )
    follower = RevocationFollower(
        revocations,
        client.fetch,
        interval=settings.revocation_poll_interval_seconds,
        timeout=staleness,
    )
    await follower.start()

    async def stop() -> None:
        await follower.stop()
        await client.close()

    return revocations, stop
