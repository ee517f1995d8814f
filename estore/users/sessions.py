"""Sign-in sessions: short-lived access tokens, refresh tokens that rotate, the revocation feed."""

from __future__ import annotations

import hashlib
import secrets

from estore.common.auth import Caller, TokenIssuer
from estore.common.errors import InvalidArgument
from estore.common.revocations import Revocation
from estore.users.errors import (
    RefreshTokenExpired,
    RefreshTokenInvalid,
    RefreshTokenRevoked,
    UserInactive,
)
from estore.users.models import Grant, NewRefreshToken, RotationOutcome, SignIn
from estore.users.ports import UserStore
from estore.users.validation import require_token

FEED_PAGE_DEFAULT = 500
FEED_PAGE_MAX = 1000
_REFUSED = {
    RotationOutcome.UNKNOWN: RefreshTokenInvalid,
    RotationOutcome.EXPIRED: RefreshTokenExpired,
    RotationOutcome.REVOKED: RefreshTokenRevoked,
    RotationOutcome.REUSED: RefreshTokenRevoked,
    RotationOutcome.INACTIVE: UserInactive,
}


def token_digest(token: str) -> bytes:
    """The SHA-256 digest under which an emailed or refresh token is stored."""
    return hashlib.sha256(token.encode()).digest()


class Sessions:
    """Opens, refreshes and ends sessions, and serves what they revoked to other services."""

    def __init__(
        self,
        store: UserStore,
        issuer: TokenIssuer,
        *,
        access_token_ttl_seconds: int,
        refresh_token_ttl_seconds: int,
    ) -> None:
        self._store = store
        self._issuer = issuer
        self._access_ttl = access_token_ttl_seconds
        self._refresh_ttl = refresh_token_ttl_seconds

    async def open(self, user_id: int) -> SignIn:
        """A new session for an account whose password was just checked."""
        token, stored = self._new_refresh_token()
        grant = await self._store.start_session(user_id, secrets.token_urlsafe(16), stored)
        if grant is None:
            raise UserInactive()  # deactivated since its password was checked
        return self._sign_in(grant, token)

    async def refresh(self, refresh_token: str) -> SignIn:
        """Trade a refresh token for new tokens; a token used twice ends its session."""
        digest = token_digest(require_token(refresh_token, "refresh_token"))
        token, stored = self._new_refresh_token()
        rotation = await self._store.rotate_refresh_token(digest, stored)
        if rotation.grant is None:
            raise _REFUSED[rotation.outcome]()
        return self._sign_in(rotation.grant, token)

    async def logout(self, refresh_token: str) -> None:
        """End the session of a refresh token (any it ever had); again is fine."""
        digest = token_digest(require_token(refresh_token, "refresh_token"))
        if not await self._store.end_session(digest):
            raise RefreshTokenInvalid()

    async def list_revocations(
        self, caller: Caller, after_id: int, page_size: int
    ) -> list[Revocation]:
        """The feed after `after_id`, for the services that follow it."""
        caller.require_service()
        if after_id < 0:
            raise InvalidArgument.field("after_id", "must not be negative")
        if page_size < 0:
            raise InvalidArgument.field("page_size", "must not be negative")
        size = min(page_size or FEED_PAGE_DEFAULT, FEED_PAGE_MAX)
        return await self._store.list_revocations(after_id, size)

    def _new_refresh_token(self) -> tuple[str, NewRefreshToken]:
        token = secrets.token_urlsafe(32)  # 32 random bytes
        return token, NewRefreshToken(token_digest(token), self._refresh_ttl)

    def _sign_in(self, grant: Grant, refresh_token: str) -> SignIn:
        user = grant.user
        issued = self._issuer.issue_access_token(
            user.id,
            is_admin=user.is_admin,
            is_verified=user.is_verified,
            ttl_seconds=self._access_ttl,
            generation=grant.generation,
            session_id=grant.session_id,
        )
        return SignIn(
            issued.token, issued.expires_at, user, refresh_token, grant.refresh_expires_at
        )
