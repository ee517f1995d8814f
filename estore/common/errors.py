"""Domain errors shared by every service; no grpc here (the mapping lives in `status.py`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: the field path and what is wrong with it."""

    field: str
    description: str


class DomainError(Exception):
    """Base of every error a client may see; `reason` is UPPER_SNAKE_CASE and stable.

    `violations` name the request fields at fault: always for INVALID_ARGUMENT, and for any
    other error that concerns one part of a request (the basket line out of stock).
    """

    reason = "ERROR"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        violations: list[FieldViolation] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata = dict(metadata or {})
        self.violations = list(violations or [])


class InvalidArgument(DomainError):
    """A malformed or out-of-range field."""

    reason = "INVALID_FIELD"

    @classmethod
    def field(cls, field: str, description: str, *, reason: str | None = None) -> InvalidArgument:
        """An error about exactly one field."""
        return cls(
            f"{field}: {description}",
            violations=[FieldViolation(field, description)],
            reason=reason,
        )


class NotFound(DomainError):
    """No such entity, or not visible to this caller."""

    reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    """A duplicate of something unique."""

    reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    """The current state forbids the operation."""

    reason = "FAILED_PRECONDITION"


class OutOfRange(DomainError):
    """A position past what is still kept (a trimmed event stream), or past the end."""

    reason = "OUT_OF_RANGE"


class Aborted(DomainError):
    """A concurrent request got there first (same request id in flight, lock conflict)."""

    reason = "ABORTED"


class Unauthenticated(DomainError):
    """Missing, malformed, expired or forged credentials."""

    reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    """A valid caller that may not do this."""

    reason = "PERMISSION_DENIED"


class ResourceExhausted(DomainError):
    """Throttled; `retry_after_seconds` tells when to try again."""

    reason = "RESOURCE_EXHAUSTED"

    def __init__(
        self,
        message: str,
        *,
        retry_after_seconds: int,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(DomainError):
    """A store or downstream service is down; retrying later may work."""

    reason = "STORE_UNAVAILABLE"


class StoreUnavailable(Unavailable):
    """The service's own store is down: the call is refused without trying the store."""

    reason = "STORE_UNAVAILABLE"
