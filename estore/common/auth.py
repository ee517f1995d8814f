"""Bearer tokens: Ed25519-signed JWTs issued by UserService and verified by every service."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from estore.common.errors import PermissionDenied, Unauthenticated, Unavailable
from estore.common.token_cache import TokenCache, VerifiedClaims

if TYPE_CHECKING:
    from estore.common.revocations import RevocationList

ALGORITHM = "EdDSA"
CLOCK_SKEW_SECONDS = 30  # hosts' clocks may differ a little; a fresh token must not fail
SERVICE_ROLE = "service"
USER_ROLE = "user"


@dataclass(frozen=True)
class Caller:
    """Who is calling: a signed-in user, an internal service, or nobody."""

    user_id: int | None = None
    is_admin: bool = False  # admin powers this service can vouch for right now
    is_verified: bool = False
    is_service: bool = False
    # The token claims admin, but this service has not learnt revocations lately, so it cannot
    # tell whether the claim still holds: admin powers are suspended (fail closed).
    admin_unconfirmed: bool = False

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None or self.is_service

    def acts_as_admin(self) -> bool:
        """Whether the caller has admin powers; UNAVAILABLE while an admin claim is unconfirmed."""
        if self.admin_unconfirmed:
            raise Unavailable(
                "admin powers are suspended: this service cannot reach UserService's revocation"
                " feed; retry shortly",
                reason="REVOCATIONS_UNAVAILABLE",
            )
        return self.is_admin

    def require_user(self) -> int:
        """The signed-in user's id; UNAUTHENTICATED for anyone else."""
        if self.user_id is None:
            if self.is_service:
                raise PermissionDenied("this needs a user's token", reason="USER_TOKEN_REQUIRED")
            raise Unauthenticated("sign in first", reason="AUTH_TOKEN_MISSING")
        return self.user_id

    def require_admin(self) -> None:
        """PERMISSION_DENIED unless the caller is an admin."""
        if not self.is_authenticated:
            raise Unauthenticated("sign in first", reason="AUTH_TOKEN_MISSING")
        if not self.acts_as_admin():
            raise PermissionDenied("this needs an admin", reason="ADMIN_REQUIRED")

    def require_service(self) -> None:
        """PERMISSION_DENIED unless the caller is an internal service or an admin."""
        if not self.is_authenticated:
            raise Unauthenticated("sign in first", reason="AUTH_TOKEN_MISSING")
        if not (self.is_service or self.acts_as_admin()):
            raise PermissionDenied("this needs the service role", reason="SERVICE_ROLE_REQUIRED")


ANONYMOUS = Caller()
_SERVICE = Caller(is_service=True)


@dataclass(frozen=True)
class IssuedToken:
    """A signed access token and when it stops being valid."""

    token: str
    expires_at: datetime


class TokenVerifier:
    """Checks signature (EdDSA only), `exp`, `iss`, `aud` and revocations; claims -> a Caller.

    A token's signature and claims are checked once and cached until it expires
    (token_cache.py); revocations and admin staleness are checked on every call.
    """

    def __init__(
        self,
        public_key: Ed25519PublicKey,
        *,
        issuer: str,
        audience: str,
        revocations: RevocationList | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = public_key
        self._issuer = issuer
        self._audience = audience
        self._revocations = revocations
        self._clock = clock
        self._cache = TokenCache(clock=clock)

    def with_revocations(self, revocations: RevocationList) -> TokenVerifier:
        """This verifier, also refusing what `revocations` revokes and failing admins closed."""
        return TokenVerifier(
            self._key,
            issuer=self._issuer,
            audience=self._audience,
            revocations=revocations,
            clock=self._clock,
        )

    def verify(self, token: str) -> Caller:
        """The caller a token stands for; Unauthenticated if anything about it is wrong."""
        claims = self._cache.get(token)
        if claims is None:
            claims = self._decode(token)
            self._cache.put(token, claims)
        if self._clock() >= claims.valid_until:
            raise Unauthenticated("the token has expired", reason="AUTH_TOKEN_EXPIRED")
        if claims.is_service:
            return _SERVICE
        return self._user_caller(claims)

    def _decode(self, token: str) -> VerifiedClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "iss", "aud", "sub"]},
                leeway=CLOCK_SKEW_SECONDS,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", reason="AUTH_TOKEN_EXPIRED") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("the token is not valid", reason="AUTH_TOKEN_INVALID") from None
        valid_until = float(claims["exp"]) + CLOCK_SKEW_SECONDS
        if claims.get("role") == SERVICE_ROLE:
            return VerifiedClaims(True, None, 0, "", False, False, valid_until)
        subject = str(claims["sub"])
        # Tokens from before generations existed carry none: they count as generation 0.
        generation, session = claims.get("gen", 0), claims.get("sid", "")
        if not subject.isdigit() or type(generation) is not int or not isinstance(session, str):
            raise Unauthenticated("the token is not valid", reason="AUTH_TOKEN_INVALID")
        is_admin, is_verified = claims.get("admin") is True, claims.get("verified") is True
        user_id = int(subject)
        caller = Caller(user_id=user_id, is_admin=is_admin, is_verified=is_verified)
        return VerifiedClaims(
            False, user_id, generation, session, is_admin, is_verified, valid_until, caller
        )

    def _user_caller(self, claims: VerifiedClaims) -> Caller:
        user_id, is_admin, is_verified = claims.user_id, claims.is_admin, claims.is_verified
        caller = claims.caller or Caller(
            user_id=user_id, is_admin=is_admin, is_verified=is_verified
        )
        if self._revocations is None:
            return caller
        assert user_id is not None  # a user's token always names the user
        if self._revocations.revokes(user_id, claims.generation, claims.session_id):
            raise Unauthenticated(
                "the token was revoked; refresh it or sign in again", reason="AUTH_TOKEN_REVOKED"
            )
        if is_admin and not self._revocations.current():
            return Caller(user_id=user_id, is_verified=is_verified, admin_unconfirmed=True)
        return caller

    def caller_from_authorization(self, value: str | None) -> Caller:
        """The caller of an `authorization` metadata value (None: anonymous)."""
        if value is None:
            return ANONYMOUS
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated(
                "authorization must be 'Bearer <token>'", reason="AUTH_TOKEN_INVALID"
            )
        return self.verify(token.strip())


class TokenIssuer:
    """Signs access tokens for users and long-lived tokens for internal services."""

    def __init__(
        self,
        private_key: Ed25519PrivateKey,
        *,
        issuer: str,
        audience: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = private_key
        self._issuer = issuer
        self._audience = audience
        self._clock = clock

    def _sign(self, subject: str, ttl_seconds: int, extra: dict[str, object]) -> IssuedToken:
        now = int(self._clock())
        expires = now + ttl_seconds
        claims = {
            "sub": subject,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "exp": expires,
            "jti": uuid.uuid4().hex,
            **extra,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return IssuedToken(token, datetime.fromtimestamp(expires, UTC))

    def issue_access_token(
        self,
        user_id: int,
        *,
        is_admin: bool,
        is_verified: bool,
        ttl_seconds: int,
        generation: int = 0,
        session_id: str = "",
    ) -> IssuedToken:
        """A user's access token, of the account's token `generation` and sign-in `session_id`."""
        extra: dict[str, object] = {
            "role": USER_ROLE,
            "admin": is_admin,
            "verified": is_verified,
            "gen": generation,
        }
        if session_id:
            extra["sid"] = session_id
        return self._sign(str(user_id), ttl_seconds, extra)

    def mint_service_token(self, name: str, *, ttl_seconds: int) -> IssuedToken:
        """A token with role `service` for an internal caller such as Payments."""
        return self._sign(f"service:{name}", ttl_seconds, {"role": SERVICE_ROLE})


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read an Ed25519 public key from a PEM file."""
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} does not hold an Ed25519 public key")
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read an Ed25519 private key from an unencrypted PEM file."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


def _public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def ensure_dev_keys(private_path: Path, public_path: Path) -> None:
    """Make development keys where none exist; never replace an existing private key.

    With only the private key present, the public key is derived from it.
    """
    if private_path.exists():
        if not public_path.exists():
            public_path.parent.mkdir(parents=True, exist_ok=True)
            public_path.write_bytes(_public_pem(load_private_key(private_path)))
        return
    if public_path.exists():
        return  # a verifying-only service: nothing to make
    key = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL: created here with 0600, never a file someone else made or could read first.
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as private_file:
        private_file.write(private_pem)
    public_path.write_bytes(_public_pem(key))
