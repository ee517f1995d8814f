"""Paging shared by every List RPC: page sizes and opaque, tamper-checked page tokens."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from estore.common.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_MAC_BYTES = 16


def page_size(requested: int) -> int:
    """The page size to use: 0 means the default, above the maximum is the maximum (AIP-158)."""
    if requested < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


class PageTokens:
    """Encodes a cursor as an opaque token signed with a secret, so a changed token is refused.

    `scope` binds a token to the query it was issued for (the filter and order), so a token from
    one query is refused by another.
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("page token secret must be at least 16 bytes")
        self._secret = secret

    def _mac(self, payload: bytes, scope: str) -> bytes:
        message = scope.encode() + b"\0" + payload
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, cursor: dict[str, Any], scope: str = "") -> str:
        """An opaque token for `cursor` (JSON-serialisable)."""
        payload = json.dumps(cursor, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(self._mac(payload, scope) + payload).decode().rstrip("=")

    def decode(self, token: str, scope: str = "") -> dict[str, Any] | None:
        """The cursor of `token` (None for an empty token); INVALID_ARGUMENT if tampered with."""
        if not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
            if not hmac.compare_digest(mac, self._mac(payload, scope)):
                raise ValueError("bad signature")
            cursor = json.loads(payload)
            if not isinstance(cursor, dict):
                raise ValueError("not an object")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidArgument.field(
                "page_token",
                "is not a token this server issued for this query",
                reason="INVALID_PAGE_TOKEN",
            ) from None
        return cursor
