"""A Payments child process to kill (tests/e2e/killable.py): its environment and its rig."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from estore.common.auth import TokenIssuer, TokenVerifier
from estore.embedded.ports import free_port
from tests.e2e.killable import Rig, killable_payments


@pytest.fixture
def payments_env(
    tmp_path: Path,
    redis_url: str,
    signing_key: Ed25519PrivateKey,
    token_issuer: TokenIssuer,
    feed_env: dict[str, str],
) -> dict[str, str]:
    public = tmp_path / "jwt_public.pem"
    public.write_bytes(
        signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return {
        **os.environ,
        "ESTORE_DATA_DIR": str(tmp_path),
        "ESTORE_REDIS_URL": redis_url,
        "ESTORE_HOST": "127.0.0.1",
        "ESTORE_PAYMENTS_PORT": str(free_port()),
        "ESTORE_PAYMENTS_METRICS_PORT": "0",  # never the fixed default another run may hold
        "ESTORE_JWT_PUBLIC_KEY_FILE": str(public),
        "ESTORE_SERVICE_TOKEN": token_issuer.mint_service_token("payments", ttl_seconds=600).token,
        "ESTORE_PAYMENTS_LEASE_SECONDS": "1",
        "ESTORE_PAYMENTS_SWEEP_INTERVAL_SECONDS": "0.2",
        **feed_env,
    }


@pytest.fixture
async def rig(
    payments_env: dict[str, str],
    tmp_path: Path,
    redis_url: str,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
) -> AsyncIterator[Rig]:
    """Inventory in this process, Payments in a child process the test may SIGKILL."""
    log = tmp_path / "payments.log"
    async with killable_payments(
        payments_env, log, redis_url, token_issuer, token_verifier
    ) as opened:
        yield opened
