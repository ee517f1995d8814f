"""What the rules need from storage: the `UserStore` that the PostgreSQL repository provides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from estore.users.models import Credentials, LoginFailures, NewToken, TokenPurpose, User, UserFilter


class UserStore(Protocol):
    """Accounts, emailed tokens and login failures (see `UserRepository` for the semantics)."""

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

    async def add_token(self, user_id: int, token: NewToken) -> None:
        """Store a new emailed token for the account."""

    async def get_user(self, user_id: int) -> User | None:
        """The account with this id, if any."""

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
        """Replace the account's password hash."""

    async def update_flags(self, user_id: int, flags: Mapping[str, bool]) -> User | None:
        """Set `is_active` / `is_admin`; None if there is no such account."""

    async def make_admin(self, user_id: int, password_hash: str) -> User:
        """Make an account an active, verified admin with this password."""

    async def list_users(self, user_filter: UserFilter, after_id: int, limit: int) -> list[User]:
        """Up to `limit` accounts after `after_id` that pass the filter, by id."""

    async def login_failures(self, email: str, window_seconds: int, limit: int) -> LoginFailures:
        """Recent failed sign-ins for the email (at most `limit` counted)."""

    async def record_login_failure(self, email: str, window_seconds: int) -> None:
        """Count a failed sign-in for the email."""
