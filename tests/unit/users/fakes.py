"""An in-memory UserStore, so the rules can be tested without PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from estore.users.errors import EmailAlreadyExists
from estore.users.mailer import Mail, MailError
from estore.users.models import (
    Credentials,
    LoginAttempt,
    NewToken,
    TokenPurpose,
    User,
    UserFilter,
)


@dataclass
class _Token:
    user_id: int
    purpose: TokenPurpose
    expired: bool
    used: bool = False


@dataclass
class FakeStore:
    """Accounts and tokens in dictionaries; login failures as a counter per email."""

    users: dict[int, User] = field(default_factory=dict)
    hashes: dict[int, str] = field(default_factory=dict)
    tokens: dict[bytes, _Token] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    attempts: dict[int, str] = field(default_factory=dict)  # attempt id -> email
    attempts_begun: int = 0
    rehashed: list[int] = field(default_factory=list)  # user ids, in order

    async def create_user(
        self,
        email: str,
        password_hash: str,
        *,
        token: NewToken | None = None,
        is_admin: bool = False,
        is_verified: bool = False,
    ) -> User:
        if any(u.email.lower() == email.lower() for u in self.users.values()):
            raise EmailAlreadyExists()
        user = User(
            len(self.users) + 1, email, True, is_verified, is_admin, datetime.now(UTC), None
        )
        self.users[user.id], self.hashes[user.id] = user, password_hash
        if token is not None:
            await self.add_token(user.id, token)
        return user

    async def add_token(self, user_id: int, token: NewToken, *, cooldown_seconds: int = 0) -> bool:
        # No clock here: with a cooldown, any earlier token of the purpose is recent enough.
        if cooldown_seconds > 0 and any(
            t.user_id == user_id and t.purpose is token.purpose for t in self.tokens.values()
        ):
            return False
        self.tokens[token.digest] = _Token(user_id, token.purpose, token.ttl_seconds <= 0)
        return True

    async def get_user(self, user_id: int) -> User | None:
        return self.users.get(user_id)

    async def get_credentials(
        self, *, email: str | None = None, user_id: int | None = None
    ) -> Credentials | None:
        for user in self.users.values():
            if user.email == email or user.id == user_id:
                return Credentials(user, self.hashes[user.id])
        return None

    def _use(self, digest: bytes, purpose: TokenPurpose) -> int | None:
        token = self.tokens.get(digest)
        if token is None or token.purpose is not purpose or token.used or token.expired:
            return None
        token.used = True
        return token.user_id

    async def verify_email(self, digest: bytes) -> User | None:
        user_id = self._use(digest, TokenPurpose.VERIFY_EMAIL)
        return None if user_id is None else self._change(user_id, is_verified=True)

    async def reset_password(self, digest: bytes, password_hash: str) -> User | None:
        user_id = self._use(digest, TokenPurpose.RESET_PASSWORD)
        if user_id is None:
            return None
        self.hashes[user_id] = password_hash
        return self.users[user_id]

    async def token_expired(self, digest: bytes, purpose: TokenPurpose) -> bool:
        token = self.tokens.get(digest)
        return token is not None and token.purpose is purpose and token.expired and not token.used

    async def set_password(self, user_id: int, password_hash: str) -> None:
        self.hashes[user_id] = password_hash

    async def rehash_password(self, user_id: int, old_hash: str, new_hash: str) -> None:
        if self.hashes.get(user_id) == old_hash:
            self.hashes[user_id] = new_hash
            self.rehashed.append(user_id)

    def _change(self, user_id: int, **values: Any) -> User:
        self.users[user_id] = dataclasses.replace(self.users[user_id], **values)
        return self.users[user_id]

    async def update_flags(self, user_id: int, flags: Mapping[str, bool]) -> User | None:
        return self._change(user_id, **flags) if user_id in self.users else None

    async def make_admin(self, user_id: int, password_hash: str) -> User:
        self.hashes[user_id] = password_hash
        return self._change(user_id, is_admin=True, is_verified=True, is_active=True)

    async def list_users(self, user_filter: UserFilter, after_id: int, limit: int) -> list[User]:
        found = [u for u in self.users.values() if u.id > after_id]
        return [u for u in found if u.email.startswith(user_filter.email_prefix)][:limit]

    async def begin_login_attempt(
        self, email: str, window_seconds: int, limit: int
    ) -> LoginAttempt:
        if self.failures.get(email, 0) >= limit:
            return LoginAttempt(None, 42.3)
        self.failures[email] = self.failures.get(email, 0) + 1
        self.attempts_begun += 1
        self.attempts[self.attempts_begun] = email
        return LoginAttempt(self.attempts_begun)

    async def forget_login_attempt(self, attempt_id: int) -> None:
        self.failures[self.attempts.pop(attempt_id)] -= 1


@dataclass
class FakeMailer:
    """Keeps mails; fails them all when `broken`; holds each until `held` is set, if given."""

    sent: list[Mail] = field(default_factory=list)
    broken: bool = False
    held: asyncio.Event | None = None

    async def send(self, mail: Mail) -> None:
        if self.held is not None:
            await self.held.wait()
        if self.broken:
            raise MailError("smtp down")
        self.sent.append(mail)
