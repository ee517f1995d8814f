"""Verified tokens are cached until `exp`: checked once, refused once expired, still revocable."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from estore.common.auth import CLOCK_SKEW_SECONDS, TokenIssuer, TokenVerifier
from estore.common.errors import Unauthenticated
from estore.common.revocations import Revocation, RevocationList
from estore.common.token_cache import TokenCache, VerifiedClaims

KEY = Ed25519PrivateKey.generate()
TTL = 300


class Clock:
    """Wall time that the test moves by hand, starting now (tokens are signed with real time)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _issue(user_id: int = 7, *, session: str = "") -> str:
    issuer = TokenIssuer(KEY, issuer="estore", audience="estore")
    return issuer.issue_access_token(
        user_id, is_admin=False, is_verified=True, ttl_seconds=TTL, session_id=session
    ).token


def _counting_decode(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    decoded: list[str] = []
    real_decode = jwt.decode

    def decode(token: str, *args: object, **kwargs: object) -> object:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", decode)
    return decoded


def test_a_token_is_verified_once_then_served_from_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded = _counting_decode(monkeypatch)
    verifier = TokenVerifier(KEY.public_key(), issuer="estore", audience="estore")
    token = _issue()
    for _ in range(5):
        assert verifier.verify(token).user_id == 7
    assert len(decoded) == 1


def test_the_cache_refuses_an_expired_token() -> None:
    clock = Clock()
    verifier = TokenVerifier(KEY.public_key(), issuer="estore", audience="estore", clock=clock)
    token = _issue()
    assert verifier.verify(token).user_id == 7  # cached now
    clock.now += TTL + CLOCK_SKEW_SECONDS + 1
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert caught.value.reason == "AUTH_TOKEN_EXPIRED"


def test_a_cached_token_is_still_revoked() -> None:
    revocations = RevocationList(max_staleness_seconds=4)
    revocations.confirm(time.monotonic())
    plain = TokenVerifier(KEY.public_key(), issuer="estore", audience="estore")
    verifier = plain.with_revocations(revocations)
    token = _issue(session="phone")
    assert verifier.verify(token).user_id == 7  # cached now
    revocations.apply([Revocation(1, 7, time.time() + 400, session_id="phone")])
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert caught.value.reason == "AUTH_TOKEN_REVOKED"


def test_the_cache_is_bounded_and_drops_the_oldest_first() -> None:
    clock = Clock()
    cache = TokenCache(max_tokens=2, clock=clock)
    claims = VerifiedClaims(False, 7, 0, "", False, True, clock.now + 60)
    for token in ("a", "b", "c"):
        cache.put(token, claims)
    assert len(cache) == 2
    assert cache.get("a") is None
    assert cache.get("c") == claims
    clock.now += 61
    assert cache.get("c") is None
    assert len(cache) == 1
