"""Wiring shared by every entry point: the token verifier and a configured GrpcServer."""

from __future__ import annotations

import logging

from estore.common.auth import TokenVerifier, ensure_dev_keys, load_public_key
from estore.common.config import ConfigError, Settings
from estore.common.server import GrpcServer, ServiceDefinition

log = logging.getLogger("estore.runtime")


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
    )
