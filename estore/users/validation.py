"""Checks on the fields clients send: emails, passwords, tokens and ids."""

from __future__ import annotations

import re
from typing import Any

from estore.common.errors import InvalidArgument

MAX_EMAIL_LENGTH = 254  # RFC 5321's limit on a forward path
MAX_LOCAL_PART_LENGTH = 64
MAX_EMAIL_PREFIX_LENGTH = 255
MIN_PASSWORD_BYTES = 8
MAX_PASSWORD_BYTES = 72  # bcrypt ignores (bcrypt 5 refuses) anything longer
MAX_TOKEN_LENGTH = 256
ADMIN_ONLY_PATHS = frozenset({"is_active", "is_admin"})
OUTPUT_ONLY_PATHS = frozenset({"id", "email", "is_verified", "created_at", "updated_at"})

_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_EMAIL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+{_LABEL}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _refuse_control_characters(value: str, field: str) -> None:
    # PostgreSQL text cannot hold NUL, and no address or prefix has control characters anyway.
    if _CONTROL.search(value):
        raise InvalidArgument.field(field, "must not contain control characters")


def normalise_email(raw: str, field: str = "email", *, strict: bool = True) -> str:
    """The email trimmed and lower-cased; InvalidArgument when empty, too long or (strict) bad."""
    # Lookups (Login, ResendVerification, RequestPasswordReset) are not strict: an address that
    # could never have registered is simply not found, like any other unknown address.
    email = raw.strip().lower()
    if not email:
        raise InvalidArgument.field(field, "is required")
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidArgument.field(field, f"must be at most {MAX_EMAIL_LENGTH} characters")
    _refuse_control_characters(email, field)
    if strict:
        local, _, _ = email.rpartition("@")
        if not _EMAIL.fullmatch(email) or len(local) > MAX_LOCAL_PART_LENGTH:
            raise InvalidArgument.field(field, "is not a valid email address")
    return email


def check_new_password(password: str, field: str) -> None:
    """InvalidArgument unless the password is 8 to 72 bytes once encoded as UTF-8."""
    size = len(password.encode())
    if not MIN_PASSWORD_BYTES <= size <= MAX_PASSWORD_BYTES:
        raise InvalidArgument.field(
            field,
            f"must be {MIN_PASSWORD_BYTES} to {MAX_PASSWORD_BYTES} bytes as UTF-8 (it is {size})",
        )


def require_text(value: str, field: str) -> str:
    """The value; InvalidArgument when it is empty."""
    if not value:
        raise InvalidArgument.field(field, "is required")
    return value


def require_token(token: str, field: str = "token") -> str:
    """An emailed token as received; InvalidArgument when empty or far too long to be ours."""
    token = require_text(token.strip(), field)
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidArgument.field(field, f"must be at most {MAX_TOKEN_LENGTH} characters")
    return token


def require_id(value: int, field: str) -> int:
    """The id; InvalidArgument unless it is positive."""
    if value <= 0:
        raise InvalidArgument.field(field, "must be a positive id")
    return value


def normalise_email_prefix(raw: str, field: str = "filter.email_prefix") -> str:
    """ListUsers' prefix, lower-cased like stored emails; at most 255 characters."""
    if len(raw) > MAX_EMAIL_PREFIX_LENGTH:
        raise InvalidArgument.field(field, f"must be at most {MAX_EMAIL_PREFIX_LENGTH} characters")
    _refuse_control_characters(raw, field)
    return raw.lower()


def page_after_id(cursor: dict[str, Any] | None) -> int:
    """The id a ListUsers page token continues after (0 without one); InvalidArgument if bad."""
    if cursor is None:
        return 0
    after = cursor.get("after")
    if type(after) is not int or after < 0:
        raise InvalidArgument.field(
            "page_token", "is not a token this server issued", reason="INVALID_PAGE_TOKEN"
        )
    return after


def checked_update_mask(paths: tuple[str, ...]) -> frozenset[str]:
    """UpdateUser's mask paths; InvalidArgument unless it names only mutable User fields."""
    if not paths:
        raise InvalidArgument.field("update_mask", "must name at least one field")
    for path in paths:
        if path in OUTPUT_ONLY_PATHS:
            raise InvalidArgument.field("update_mask", f"{path!r} is output only")
        if path not in ADMIN_ONLY_PATHS:
            raise InvalidArgument.field("update_mask", f"{path!r} is not a field of User")
    return frozenset(paths)
