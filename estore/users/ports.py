"""What the rules need from storage: the `UserStore` that the PostgreSQL repository provides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from estore.common.revocations import Revocation
from estore.users.models import (
    Credentials,
    Grant,
    LoginAttempt,
    NewRefreshToken,
    NewToken,
    Rotation,
    TokenPurpose,
    User,
    UserFilter,
)


class UserStore(Protocol):
    """Accounts, tokens, sessions and login failures (see `UserRepository` for the semantics)."""

    async def create_user(
        self,
        email: str,
        password_hash: str,
        *,
        token: NewToken | None = None,
        is_admin: bool = False,
        is_verified: bool = False,
    ) -> User:
        """Insert an account (and its first token); EmailAlreadyExists if taken."""

    async def add_token(self, user_id: int, token: NewToken, *, cooldown_seconds: int = 0) -> bool:
        """Store a token unless one of its purpose was made within the cooldown; whether stored."""

    async def get_user(self, user_id: int, *, fresh: bool = False) -> User | None:
        """The account with this id, if any (`fresh`: as stored now, never a process's copy)."""

    async def get_credentials(
        self, *, email: str | None = None, user_id: int | None = None
    ) -> Credentials | None:
        """The account and its password hash, by email or by id."""

    async def verify_email(self, digest: bytes) -> User | None:
        """Use a verification token and mark its account verified; None if not usable."""

    async def reset_password(self, digest: bytes, password_hash: str) -> User | None:
        """Use a reset token and set the password; None if not usable."""

    async def token_expired(self, digest: bytes, purpose: TokenPurpose) -> bool:
        """Whether an unused token with this digest exists but has expired."""

    async def set_password(self, user_id: int, password_hash: str) -> None:
        """Replace the account's password hash, revoking its access tokens and sessions."""

    async def rehash_password(self, user_id: int, old_hash: str, new_hash: str) -> None:
        """Store the same password hashed anew, unless it changed since `old_hash`."""

    async def update_flags(self, user_id: int, flags: Mapping[str, bool]) -> User | None:
        """Set `is_active` / `is_admin` (revoking what a lost power needs); None if no account."""

    async def make_admin(self, user_id: int, password_hash: str) -> User:
        """Make an account an active, verified admin with this password."""

    async def list_users(self, user_filter: UserFilter, after_id: int, limit: int) -> list[User]:
        """Up to `limit` accounts after `after_id` that pass the filter, by id."""

    async def begin_login_attempt(
        self, email: str, window_seconds: int, limit: int
    ) -> LoginAttempt:
        """Record a password check as a failure, unless `limit` are already in the window."""

    async def forget_login_attempt(self, attempt_id: int) -> None:
        """The password check succeeded: it no longer counts as a failure."""

    async def start_session(
        self, user_id: int, session_id: str, token: NewRefreshToken
    ) -> Grant | None:
        """Open a session with its first refresh token; None if the account is not active."""

    async def rotate_refresh_token(self, digest: bytes, successor: NewRefreshToken) -> Rotation:
        """Use a refresh token once, for `successor` in its session; reuse ends the session."""

    async def end_session(self, digest: bytes) -> bool:
        """End the session of any refresh token it ever had; False if the token is unknown."""

    async def list_revocations(self, after_id: int, limit: int) -> list[Revocation]:
        """Up to `limit` unexpired revocations with ids above `after_id`, in id order."""
