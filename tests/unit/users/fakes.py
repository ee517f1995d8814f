"""An in-memory UserStore, so the rules can be tested without PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from estore.common.revocations import Revocation
from estore.users.errors import EmailAlreadyExists
from estore.users.mailer import Mail, MailError
from estore.users.models import (
    Credentials,
    Grant,
    LoginAttempt,
    NewRefreshToken,
    NewToken,
    Rotation,
    RotationOutcome,
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
class _Session:
    user_id: int
    ended: bool = False


@dataclass
class FakeStore:
    """Accounts, tokens and sessions in dictionaries; login failures as a counter per email."""

    users: dict[int, User] = field(default_factory=dict)
    hashes: dict[int, str] = field(default_factory=dict)
    tokens: dict[bytes, _Token] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    attempts: dict[int, str] = field(default_factory=dict)  # attempt id -> email
    attempts_begun: int = 0
    rehashed: list[int] = field(default_factory=list)  # user ids, in order
    generations: dict[int, int] = field(default_factory=dict)
    sessions: dict[str, _Session] = field(default_factory=dict)
    refresh_tokens: dict[bytes, tuple[str, bool]] = field(default_factory=dict)  # -> (sid, used)
    revocations: list[Revocation] = field(default_factory=list)

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

    async def get_user(self, user_id: int, *, fresh: bool = False) -> User | None:
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
        self._revoke(user_id, end_sessions=True)
        return self.users[user_id]

    async def token_expired(self, digest: bytes, purpose: TokenPurpose) -> bool:
        token = self.tokens.get(digest)
        return token is not None and token.purpose is purpose and token.expired and not token.used

    async def set_password(self, user_id: int, password_hash: str) -> None:
        self.hashes[user_id] = password_hash
        self._revoke(user_id, end_sessions=True)

    async def rehash_password(self, user_id: int, old_hash: str, new_hash: str) -> None:
        if self.hashes.get(user_id) == old_hash:
            self.hashes[user_id] = new_hash
            self.rehashed.append(user_id)

    def _change(self, user_id: int, **values: Any) -> User:
        self.users[user_id] = dataclasses.replace(self.users[user_id], **values)
        return self.users[user_id]

    async def update_flags(self, user_id: int, flags: Mapping[str, bool]) -> User | None:
        if user_id not in self.users:
            return None
        was, user = self.users[user_id], self._change(user_id, **flags)
        deactivated = was.is_active and not user.is_active
        if deactivated or (was.is_admin and not user.is_admin):
            self._revoke(user_id, end_sessions=deactivated)
        return user

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

    def _revoke(self, user_id: int, *, end_sessions: bool) -> None:
        self.generations[user_id] = self.generations.get(user_id, 0) + 1
        if end_sessions:
            for session in self.sessions.values():
                session.ended = session.ended or session.user_id == user_id
        self._append(user_id, below_generation=self.generations[user_id])

    def _append(self, user_id: int, **what: Any) -> None:
        expires = datetime.now(UTC).timestamp() + 3600
        self.revocations.append(Revocation(len(self.revocations) + 1, user_id, expires, **what))

    def _grant(self, user_id: int, session_id: str, ttl_seconds: int) -> Grant:
        expires = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
        return Grant(self.users[user_id], self.generations.get(user_id, 0), session_id, expires)

    async def start_session(
        self, user_id: int, session_id: str, token: NewRefreshToken
    ) -> Grant | None:
        if user_id not in self.users or not self.users[user_id].is_active:
            return None
        self.sessions[session_id] = _Session(user_id)
        self.refresh_tokens[token.digest] = (session_id, False)
        return self._grant(user_id, session_id, token.ttl_seconds)

    async def rotate_refresh_token(self, digest: bytes, successor: NewRefreshToken) -> Rotation:
        if digest not in self.refresh_tokens:
            return Rotation(RotationOutcome.UNKNOWN)
        session_id, used = self.refresh_tokens[digest]
        session = self.sessions[session_id]
        if session.ended:
            return Rotation(RotationOutcome.REVOKED)
        if used:
            await self.end_session(digest)
            return Rotation(RotationOutcome.REUSED)
        if not self.users[session.user_id].is_active:
            return Rotation(RotationOutcome.INACTIVE)
        self.refresh_tokens[digest] = (session_id, True)
        self.refresh_tokens[successor.digest] = (session_id, False)
        grant = self._grant(session.user_id, session_id, successor.ttl_seconds)
        return Rotation(RotationOutcome.ROTATED, grant)

    async def end_session(self, digest: bytes) -> bool:
        if digest not in self.refresh_tokens:
            return False
        session_id = self.refresh_tokens[digest][0]
        session = self.sessions[session_id]
        if not session.ended:
            session.ended = True
            self._append(session.user_id, session_id=session_id)
        return True

    async def list_revocations(self, after_id: int, limit: int) -> list[Revocation]:
        return [r for r in self.revocations if r.id > after_id][:limit]


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
