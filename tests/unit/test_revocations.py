"""Revocations in memory: exact by generation and session, forgotten once moot, fail closed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from estore.common.auth import TokenIssuer, TokenVerifier
from estore.common.errors import PermissionDenied, Unauthenticated, Unavailable
from estore.common.revocation_feed import PAGE_SIZE, RevocationFollower
from estore.common.revocations import Revocation, RevocationList

KEY = Ed25519PrivateKey.generate()
ISSUER = TokenIssuer(KEY, issuer="estore", audience="estore")


class Clocks:
    """A wall clock and a monotonic clock that tests move by hand."""

    def __init__(self) -> None:
        self.wall = 1_000_000.0
        self.mono = 50.0

    def revocations(self, staleness: float = 4.0) -> RevocationList:
        return RevocationList(
            max_staleness_seconds=staleness, clock=lambda: self.wall, monotonic=lambda: self.mono
        )


def _verifier(revocations: RevocationList) -> TokenVerifier:
    plain = TokenVerifier(KEY.public_key(), issuer="estore", audience="estore")
    return plain.with_revocations(revocations)


def _token(user_id: int = 7, *, admin: bool = False, generation: int = 0, session: str = "") -> str:
    issued = ISSUER.issue_access_token(
        user_id,
        is_admin=admin,
        is_verified=True,
        ttl_seconds=300,
        generation=generation,
        session_id=session,
    )
    return issued.token


def test_a_generation_watermark_revokes_older_tokens_only() -> None:
    clocks = Clocks()
    revocations = clocks.revocations()
    revocations.apply([Revocation(1, 7, clocks.wall + 400, below_generation=3)])
    revocations.confirm(clocks.mono)
    verifier = _verifier(revocations)
    for older in (0, 2):
        with pytest.raises(Unauthenticated) as caught:
            verifier.verify(_token(generation=older))
        assert caught.value.reason == "AUTH_TOKEN_REVOKED"
    # Issued right after the revocation, whatever the clock says: not revoked.
    assert verifier.verify(_token(generation=3)).user_id == 7
    assert verifier.verify(_token(8, generation=0)).user_id == 8  # another user


def test_a_session_revocation_spares_the_users_other_sessions() -> None:
    clocks = Clocks()
    revocations = clocks.revocations()
    revocations.apply([Revocation(1, 7, clocks.wall + 400, session_id="phone")])
    revocations.confirm(clocks.mono)
    verifier = _verifier(revocations)
    with pytest.raises(Unauthenticated):
        verifier.verify(_token(session="phone"))
    assert verifier.verify(_token(session="laptop")).user_id == 7


def test_revocations_are_forgotten_once_every_token_they_cover_has_expired() -> None:
    clocks = Clocks()
    revocations = clocks.revocations()
    revocations.apply(
        [
            Revocation(1, 7, clocks.wall + 10, below_generation=1),
            Revocation(2, 8, clocks.wall + 10, session_id="s"),
        ]
    )
    revocations.confirm(clocks.mono)
    assert revocations.revokes(7, 0, "")
    clocks.wall += 11
    revocations.confirm(clocks.mono)
    assert not revocations.revokes(7, 0, "")
    assert not revocations.revokes(8, 5, "s")
    assert revocations.cursor == 2  # the feed position stays


def test_admin_powers_are_suspended_when_revocations_are_stale() -> None:
    clocks = Clocks()
    revocations = clocks.revocations(staleness=4.0)
    verifier = _verifier(revocations)
    never_read = verifier.verify(_token(admin=True))
    with pytest.raises(Unavailable) as caught:
        never_read.require_admin()
    assert caught.value.reason == "REVOCATIONS_UNAVAILABLE"

    revocations.confirm(clocks.mono)
    verifier.verify(_token(admin=True)).require_admin()
    clocks.mono += 4.5
    stale = verifier.verify(_token(admin=True))
    assert not stale.is_admin  # whoever reads the flag directly fails closed too
    for check in (stale.require_admin, stale.require_service, stale.acts_as_admin):
        with pytest.raises(Unavailable):
            check()
    # Plain users and services are not affected.
    assert verifier.verify(_token(9)).require_user() == 9
    service = ISSUER.mint_service_token("payments", ttl_seconds=60).token
    verifier.verify(service).require_service()
    with pytest.raises(PermissionDenied):
        verifier.verify(_token(9)).require_admin()


def test_a_token_with_a_malformed_generation_or_session_is_invalid() -> None:
    verifier = _verifier(Clocks().revocations())
    for extra in ({"gen": "3"}, {"gen": True}, {"sid": 5}):
        claims = {"sub": "7", "iss": "estore", "aud": "estore", "exp": 4_000_000_000, **extra}
        with pytest.raises(Unauthenticated) as caught:
            verifier.verify(jwt.encode(claims, KEY, algorithm="EdDSA"))
        assert caught.value.reason == "AUTH_TOKEN_INVALID"


class FakeFeed:
    """A feed of `count` user revocations, failing while `down`."""

    def __init__(self, count: int) -> None:
        self.entries = [
            Revocation(i, i, 4_000_000_000, below_generation=1) for i in range(1, count + 1)
        ]
        self.down = False
        self.reads = 0

    async def fetch(self, after_id: int, limit: int) -> Sequence[Revocation]:
        self.reads += 1
        if self.down:
            raise ConnectionError("UserService is down")
        return [e for e in self.entries if e.id > after_id][:limit]


async def test_the_follower_reads_every_page_then_vouches_for_admins() -> None:
    feed = FakeFeed(PAGE_SIZE + 3)
    revocations = RevocationList(max_staleness_seconds=4.0)
    follower = RevocationFollower(revocations, feed.fetch, interval=0.01, timeout=1.0)
    await follower.catch_up()
    assert revocations.cursor == PAGE_SIZE + 3
    assert feed.reads == 2
    assert revocations.current()
    assert revocations.revokes(PAGE_SIZE + 3, 0, "")


async def test_a_failing_feed_never_raises_and_leaves_admins_unconfirmed() -> None:
    feed = FakeFeed(1)
    feed.down = True
    revocations = RevocationList(max_staleness_seconds=4.0)
    follower = RevocationFollower(revocations, feed.fetch, interval=0.01, timeout=1.0)
    await follower.start()  # the first read fails: start does not
    try:
        assert not revocations.current()
        feed.down = False
        for _ in range(500):
            if revocations.current():
                break
            await asyncio.sleep(0.01)
        assert revocations.current()
        assert revocations.revokes(1, 0, "")
    finally:
        await follower.stop()
