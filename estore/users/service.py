"""UserService's rules: who may do what with accounts, passwords, emailed tokens and sign-ins."""

from __future__ import annotations

import logging
import math
import secrets

from estore.common.auth import Caller, TokenIssuer
from estore.common.errors import DomainError
from estore.common.paging import PageTokens, page_size
from estore.users.background import BackgroundTasks
from estore.users.errors import (
    AdminRequired,
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
    Credentials,
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
from estore.users.sessions import Sessions, token_digest
from estore.users.validation import (
    check_new_password,
    checked_update_mask,
    normalise_email,
    normalise_email_prefix,
    page_after_id,
    require_id,
    require_text,
    require_token,
)

log = logging.getLogger("estore.users")

TOKEN_TTL_SECONDS = 24 * 3600
MAX_LOGIN_FAILURES = 5
LOGIN_WINDOW_SECONDS = 15 * 60
MAIL_COOLDOWN_SECONDS = 60  # per address and kind of mail


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
        refresh_token_ttl_seconds: int = 30 * 86400,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._mailer = mailer
        self._page_tokens = page_tokens
        self._background = BackgroundTasks()
        self.sessions = Sessions(
            store,
            issuer,
            access_token_ttl_seconds=access_token_ttl_seconds,
            refresh_token_ttl_seconds=refresh_token_ttl_seconds,
        )

    async def drain(self) -> None:
        """Wait for the mail work that earlier requests left running (at shutdown, in tests)."""
        await self._background.drain()

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
        # The reply leaves before the lookup, so its timing cannot tell whether the account exists.
        email = normalise_email(email, strict=False)
        self._background.start(self._resend_verification(email), "resend-verification")

    async def _resend_verification(self, email: str) -> None:
        found = await self._store.get_credentials(email=email)
        if found is not None and not found.user.is_verified:
            await self._mail_new_token(found.user, TokenPurpose.VERIFY_EMAIL)

    async def login(self, email: str, password: str) -> SignIn:
        """Check the password and open a session (access and refresh token); throttled per email."""
        email = normalise_email(email, strict=False)
        require_text(password, "password")
        attempt_id = await self._begin_password_check(email)
        found = await self._store.get_credentials(email=email)
        matches = await self._hasher.verify(password, found.password_hash if found else None)
        if found is None or not matches:
            raise InvalidCredentials()
        await self._store.forget_login_attempt(attempt_id)
        user = found.user
        if not user.is_active:
            raise UserInactive()
        await self._rehash_if_outdated(found, password)
        return await self.sessions.open(user.id)

    async def _begin_password_check(self, email: str) -> int:
        # Counted as a failure before bcrypt runs, so parallel guesses cannot all pass the check.
        attempt = await self._store.begin_login_attempt(
            email, LOGIN_WINDOW_SECONDS, MAX_LOGIN_FAILURES
        )
        if attempt.id is None:
            raise TooManyLoginAttempts(max(1, math.ceil(attempt.retry_after_seconds)))
        return attempt.id

    async def _rehash_if_outdated(self, found: Credentials, password: str) -> None:
        # A hash of another cost takes another time to check than the dummy hash of unknown
        # emails; re-hashing at sign-in brings every account to the configured cost.
        if self._hasher.needs_rehash(found.password_hash):
            new_hash = await self._hasher.hash(password)
            await self._store.rehash_password(found.user.id, found.password_hash, new_hash)

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
        after = page_after_id(self._page_tokens.decode(query.page_token, scope))
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
        paths = checked_update_mask(update.paths)
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
        """Replace the caller's password after checking the current one; revokes its tokens."""
        user_id = caller.require_user()
        require_text(current, "current_password")
        check_new_password(new, "new_password")
        found = await self._store.get_credentials(user_id=user_id)
        if found is None:
            raise UserNotFound()
        if not found.user.is_active:
            raise UserInactive()
        # Guesses through a stolen access token count toward the same throttle as sign-ins.
        attempt_id = await self._begin_password_check(found.user.email.lower())
        if not await self._hasher.verify(current, found.password_hash):
            raise InvalidCurrentPassword()
        await self._store.forget_login_attempt(attempt_id)
        await self._store.set_password(user_id, await self._hasher.hash(new))

    async def request_password_reset(self, email: str) -> None:
        """Mail a reset token if the email has an account; silent otherwise."""
        # The reply leaves before the lookup, so its timing cannot tell whether the account exists.
        email = normalise_email(email, strict=False)
        self._background.start(self._request_password_reset(email), "request-password-reset")

    async def _request_password_reset(self, email: str) -> None:
        found = await self._store.get_credentials(email=email)
        if found is not None:
            await self._mail_new_token(found.user, TokenPurpose.RESET_PASSWORD)

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
        # Read from PostgreSQL, not this process's copy: a demotion elsewhere counts at once.
        me = await self._store.get_user(caller.user_id, fresh=True)
        return me is not None and me.is_admin and me.is_active

    async def _require_admin(self, caller: Caller) -> None:
        caller.require_admin()
        if not await self._acts_as_admin(caller):
            raise AdminRequired()

    async def _mail_new_token(self, user: User, purpose: TokenPurpose) -> None:
        token, stored = _new_token(purpose)
        # One mail of a kind per address and cooldown: more would only flood the inbox.
        if await self._store.add_token(user.id, stored, cooldown_seconds=MAIL_COOLDOWN_SECONDS):
            compose = verification_mail if purpose is TokenPurpose.VERIFY_EMAIL else reset_mail
            await self._mail(compose(user.email, token))

    async def _mail(self, mail: Mail) -> None:
        # The account change is done; a mail that fails can be asked for again, so log it only.
        try:
            await self._mailer.send(mail)
        except MailError:
            log.exception("mail not sent", extra={"mail_kind": str(mail.kind), "to": mail.to})
