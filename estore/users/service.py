"""UserService's rules: who may do what with accounts, passwords, emailed tokens and sign-ins."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
from typing import Any

from estore.common.auth import Caller, TokenIssuer
from estore.common.errors import DomainError, InvalidArgument
from estore.common.paging import PageTokens, page_size
from estore.users.errors import (
    AdminRequired,
    EmailAlreadyExists,
    InvalidCredentials,
    InvalidCurrentPassword,
    ResetTokenExpired,
    ResetTokenNotFound,
    TooManyLoginAttempts,
    UserInactive,
    UserNotFound,
    VerificationTokenExpired,
    VerificationTokenNotFound,
)
from estore.users.mailer import Mail, Mailer, MailError, reset_mail, verification_mail
from estore.users.models import (
    AdminOutcome,
    NewToken,
    SignIn,
    TokenPurpose,
    User,
    UserFilter,
    UserPage,
    UserQuery,
    UserUpdate,
)
from estore.users.passwords import PasswordHasher
from estore.users.ports import UserStore
from estore.users.validation import (
    check_new_password,
    normalise_email,
    normalise_email_prefix,
    require_id,
    require_text,
    require_token,
)

log = logging.getLogger("estore.users")

TOKEN_TTL_SECONDS = 24 * 3600
MAX_LOGIN_FAILURES = 5
LOGIN_WINDOW_SECONDS = 15 * 60
ADMIN_ONLY_PATHS = frozenset({"is_active", "is_admin"})
OUTPUT_ONLY_PATHS = frozenset({"id", "email", "is_verified", "created_at", "updated_at"})


def token_digest(token: str) -> bytes:
    """The SHA-256 digest under which an emailed token is stored."""
    return hashlib.sha256(token.encode()).digest()


def _new_token(purpose: TokenPurpose) -> tuple[str, NewToken]:
    token = secrets.token_urlsafe(32)  # 32 random bytes
    return token, NewToken(token_digest(token), purpose, TOKEN_TTL_SECONDS)


class UserService:
    """Every UserService operation, on a store, a password hasher, a mailer and a token issuer."""

    def __init__(
        self,
        store: UserStore,
        hasher: PasswordHasher,
        mailer: Mailer,
        issuer: TokenIssuer,
        page_tokens: PageTokens,
        *,
        access_token_ttl_seconds: int,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._mailer = mailer
        self._issuer = issuer
        self._page_tokens = page_tokens
        self._access_token_ttl = access_token_ttl_seconds

    async def register(self, email: str, password: str) -> User:
        """Create an unverified account and mail it a verification token."""
        email = normalise_email(email)
        check_new_password(password, "password")
        password_hash = await self._hasher.hash(password)
        token, stored = _new_token(TokenPurpose.VERIFY_EMAIL)
        user = await self._store.create_user(email, password_hash, token=stored)
        await self._mail(verification_mail(user.email, token))
        return user

    async def verify_email(self, token: str) -> User:
        """Use a verification token; the account becomes verified."""
        digest = token_digest(require_token(token))
        user = await self._store.verify_email(digest)
        if user is None:
            raise await self._unusable_token(digest, TokenPurpose.VERIFY_EMAIL)
        return user

    async def resend_verification(self, email: str) -> None:
        """Mail a new verification token to an unverified account; silent for any other email."""
        found = await self._store.get_credentials(email=normalise_email(email, strict=False))
        if found is None or found.user.is_verified:
            return
        token, stored = _new_token(TokenPurpose.VERIFY_EMAIL)
        await self._store.add_token(found.user.id, stored)
        await self._mail(verification_mail(found.user.email, token))

    async def login(self, email: str, password: str) -> SignIn:
        """Check the password and issue an access token; throttled per email."""
        email = normalise_email(email, strict=False)
        require_text(password, "password")
        await self._check_login_throttle(email)
        found = await self._store.get_credentials(email=email)
        matches = await self._hasher.verify(password, found.password_hash if found else None)
        if found is None or not matches:
            await self._store.record_login_failure(email, LOGIN_WINDOW_SECONDS)
            raise InvalidCredentials()
        user = found.user
        if not user.is_active:
            raise UserInactive()
        issued = self._issuer.issue_access_token(
            user.id,
            is_admin=user.is_admin,
            is_verified=user.is_verified,
            ttl_seconds=self._access_token_ttl,
        )
        return SignIn(issued.token, issued.expires_at, user)

    async def _check_login_throttle(self, email: str) -> None:
        failures = await self._store.login_failures(email, LOGIN_WINDOW_SECONDS, MAX_LOGIN_FAILURES)
        if failures.count >= MAX_LOGIN_FAILURES:
            raise TooManyLoginAttempts(max(1, math.ceil(failures.retry_after_seconds)))

    async def current_user(self, caller: Caller) -> User:
        """The signed-in caller's account."""
        user = await self._store.get_user(caller.require_user())
        if user is None:
            raise UserNotFound()
        return user

    async def get_user(self, caller: Caller, user_id: int) -> User:
        """One account: the caller's own, or any for an admin."""
        me = caller.require_user()
        require_id(user_id, "user_id")
        if me != user_id and not await self._acts_as_admin(caller):
            raise UserNotFound()
        user = await self._store.get_user(user_id)
        if user is None:
            raise UserNotFound()
        return user

    async def list_users(self, caller: Caller, query: UserQuery) -> UserPage:
        """One page of accounts by id, for admins."""
        await self._require_admin(caller)
        size = page_size(query.page_size)
        user_filter = UserFilter(
            is_active=query.filter.is_active,
            is_verified=query.filter.is_verified,
            is_admin=query.filter.is_admin,
            email_prefix=normalise_email_prefix(query.filter.email_prefix),
        )
        scope = user_filter.scope()
        after = _after_id(self._page_tokens.decode(query.page_token, scope))
        users = await self._store.list_users(user_filter, after, size + 1)
        if len(users) <= size:
            return UserPage(users, "")
        return UserPage(
            users[:size], self._page_tokens.encode({"after": users[size - 1].id}, scope)
        )

    async def update_user(self, caller: Caller, update: UserUpdate) -> User:
        """Change the flags named by the mask; only admins may change any of them today."""
        me = caller.require_user()
        require_id(update.user_id, "user.id")
        paths = _checked_mask(update.paths)
        if not await self._acts_as_admin(caller):
            if me != update.user_id:
                raise UserNotFound()
            raise AdminRequired(f"only an admin may change {', '.join(sorted(paths))}")
        flags = {path: bool(getattr(update, path)) for path in paths}
        user = await self._store.update_flags(update.user_id, flags)
        if user is None:
            raise UserNotFound()
        return user

    async def change_password(self, caller: Caller, current: str, new: str) -> None:
        """Replace the caller's password after checking the current one."""
        user_id = caller.require_user()
        require_text(current, "current_password")
        check_new_password(new, "new_password")
        found = await self._store.get_credentials(user_id=user_id)
        if found is None:
            raise UserNotFound()
        if not await self._hasher.verify(current, found.password_hash):
            raise InvalidCurrentPassword()
        await self._store.set_password(user_id, await self._hasher.hash(new))

    async def request_password_reset(self, email: str) -> None:
        """Mail a reset token if the email has an account; silent otherwise."""
        found = await self._store.get_credentials(email=normalise_email(email, strict=False))
        if found is None:
            return
        token, stored = _new_token(TokenPurpose.RESET_PASSWORD)
        await self._store.add_token(found.user.id, stored)
        await self._mail(reset_mail(found.user.email, token))

    async def reset_password(self, token: str, new_password: str) -> None:
        """Use a reset token to set a new password."""
        digest = token_digest(require_token(token))
        check_new_password(new_password, "new_password")
        password_hash = await self._hasher.hash(new_password)
        if await self._store.reset_password(digest, password_hash) is None:
            raise await self._unusable_token(digest, TokenPurpose.RESET_PASSWORD)

    async def _unusable_token(self, digest: bytes, purpose: TokenPurpose) -> DomainError:
        expired = await self._store.token_expired(digest, purpose)
        if purpose is TokenPurpose.VERIFY_EMAIL:
            return VerificationTokenExpired() if expired else VerificationTokenNotFound()
        return ResetTokenExpired() if expired else ResetTokenNotFound()

    async def _acts_as_admin(self, caller: Caller) -> bool:
        # The token's claim may be stale: an admin demoted or deactivated since sign-in is not one.
        if not caller.is_admin or caller.user_id is None:
            return False
        me = await self._store.get_user(caller.user_id)
        return me is not None and me.is_admin and me.is_active

    async def _require_admin(self, caller: Caller) -> None:
        caller.require_admin()
        if not await self._acts_as_admin(caller):
            raise AdminRequired()

    async def _mail(self, mail: Mail) -> None:
        # The account change is done; a mail that fails can be asked for again, so log it only.
        try:
            await self._mailer.send(mail)
        except MailError:
            log.exception("mail not sent", extra={"mail_kind": str(mail.kind), "to": mail.to})


def _after_id(cursor: dict[str, Any] | None) -> int:
    if cursor is None:
        return 0
    after = cursor.get("after")
    if type(after) is not int or after < 0:
        raise InvalidArgument.field(
            "page_token", "is not a token this server issued", reason="INVALID_PAGE_TOKEN"
        )
    return after


def _checked_mask(paths: tuple[str, ...]) -> frozenset[str]:
    if not paths:
        raise InvalidArgument.field("update_mask", "must name at least one field")
    for path in paths:
        if path in OUTPUT_ONLY_PATHS:
            raise InvalidArgument.field("update_mask", f"{path!r} is output only")
        if path not in ADMIN_ONLY_PATHS:
            raise InvalidArgument.field("update_mask", f"{path!r} is not a field of User")
    return frozenset(paths)


async def ensure_admin(
    store: UserStore, hasher: PasswordHasher, email: str, password: str, *, promote: bool
) -> tuple[User, AdminOutcome]:
    """Create a verified admin; an existing account is promoted (with this password) or left."""
    email = normalise_email(email)
    check_new_password(password, "password")
    found = await store.get_credentials(email=email)
    if found is not None:
        if not promote:
            return found.user, AdminOutcome.UNCHANGED
        return await store.make_admin(found.user.id, await hasher.hash(password)), (
            AdminOutcome.PROMOTED
        )
    password_hash = await hasher.hash(password)
    try:
        user = await store.create_user(email, password_hash, is_admin=True, is_verified=True)
    except EmailAlreadyExists:  # another instance created it a moment ago
        return await ensure_admin(store, hasher, email, password, promote=promote)
    return user, AdminOutcome.CREATED
