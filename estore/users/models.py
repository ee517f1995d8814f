"""UserService's plain data: accounts, filters, pages, tokens and sign-ins."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class User:
    """An account as clients see it (never the password hash)."""

    id: int
    email: str
    is_active: bool
    is_verified: bool
    is_admin: bool
    created_at: datetime
    updated_at: datetime | None


@dataclass(frozen=True)
class Credentials:
    """An account with its bcrypt hash, for checking a password."""

    user: User
    password_hash: str


class TokenPurpose(enum.StrEnum):
    """What an emailed token is good for."""

    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"


@dataclass(frozen=True)
class NewToken:
    """An emailed token to store: only its SHA-256 digest, its purpose and its lifetime."""

    digest: bytes
    purpose: TokenPurpose
    ttl_seconds: int


@dataclass(frozen=True)
class UserFilter:
    """ListUsers' filters; None and "" do not filter."""

    is_active: bool | None = None
    is_verified: bool | None = None
    is_admin: bool | None = None
    email_prefix: str = ""

    def scope(self) -> str:
        """A canonical text of the filter, binding page tokens to it."""
        flags = (self.is_active, self.is_verified, self.is_admin)
        return "|".join("-" if flag is None else str(int(flag)) for flag in flags) + (
            "|" + self.email_prefix
        )


@dataclass(frozen=True)
class UserQuery:
    """One ListUsers request."""

    filter: UserFilter
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class UserPage:
    """One page of ListUsers."""

    users: list[User]
    next_page_token: str


@dataclass(frozen=True)
class UserUpdate:
    """UpdateUser: the account, the mask's paths and the new values of the mutable fields."""

    user_id: int
    paths: tuple[str, ...]
    is_active: bool = False
    is_admin: bool = False


@dataclass(frozen=True)
class NewRefreshToken:
    """A refresh token to store: only its SHA-256 digest, and its lifetime."""

    digest: bytes
    ttl_seconds: int


@dataclass(frozen=True)
class Grant:
    """What new tokens may say: the account now, its token generation, and the session."""

    user: User
    generation: int
    session_id: str
    refresh_expires_at: datetime


class RotationOutcome(enum.Enum):
    """What became of a refresh token presented to RefreshToken."""

    ROTATED = "rotated"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"  # its session had already ended
    REUSED = "reused"  # it had been used: its session has just been ended
    INACTIVE = "inactive"  # the account is deactivated


@dataclass(frozen=True)
class Rotation:
    """The outcome of a rotation, with the grant when it succeeded."""

    outcome: RotationOutcome
    grant: Grant | None = None


@dataclass(frozen=True)
class SignIn:
    """What Login and RefreshToken return: both tokens, their expiries and the account."""

    access_token: str
    expires_at: datetime
    user: User
    refresh_token: str = ""
    refresh_expires_at: datetime | None = None


@dataclass(frozen=True)
class LoginAttempt:
    """A password check the throttle let through (its `id`), or refused (None) for a while."""

    # The attempt is stored as a failure before the check; a check that succeeds forgets it.
    id: int | None
    retry_after_seconds: float = 0.0


class AdminOutcome(enum.Enum):
    """What `ensure_admin` did."""

    CREATED = "created"
    PROMOTED = "promoted"
    UNCHANGED = "unchanged"
