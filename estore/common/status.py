"""The one table that maps domain errors to gRPC status codes and `google.rpc` details."""

from __future__ import annotations

import grpc
import psycopg
import psycopg_pool
import redis.exceptions
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from estore.common import errors
from estore.common.redis import PoolExhausted
from estore.common.redis_cluster import CLUSTER_DOWN, ClusterPoolExhausted

STATUS_CODES: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.OutOfRange: grpc.StatusCode.OUT_OF_RANGE,
    errors.Aborted: grpc.StatusCode.ABORTED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}


# Store client errors that mean "the store is down": whichever layer lets one escape, the client
# sees UNAVAILABLE (retryable), never INTERNAL.
STORE_DOWN: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    *CLUSTER_DOWN,
    psycopg.OperationalError,
    psycopg_pool.PoolTimeout,
)

# Of those, the ones that only say every pooled connection stayed busy: the store may be fine.
POOL_WAIT: tuple[type[Exception], ...] = (
    PoolExhausted,
    ClusterPoolExhausted,
    psycopg_pool.PoolTimeout,
)


# Trailers past gRPC's 8 KiB soft limit are refused at random, so the status stays well below:
# the message twice (grpc-message and the Status) plus the violations, base64-encoded.
MAX_TEXT_BYTES = 256
MAX_FIELD_TEXT_BYTES = 100
MAX_VIOLATIONS = 10


def as_domain_error(error: Exception) -> errors.DomainError | None:
    """The domain error an exception stands for, if any."""
    if isinstance(error, errors.DomainError):
        return error
    if isinstance(error, STORE_DOWN):
        return errors.Unavailable("a store this service needs is unavailable; try again")
    return None


def store_failure(error: BaseException) -> BaseException | None:
    """The store client error behind `error` (itself, or what it was raised from), if any."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, STORE_DOWN):
            return seen
        seen = seen.__cause__
    return None


def may_have_run(error: BaseException) -> bool:
    """Whether a store command that failed with `error` may have run (its reply lost).

    A store failure may come after the command was sent; a wait for a pooled connection
    means it was never sent.
    """
    failure = store_failure(error)
    return failure is not None and not isinstance(failure, POOL_WAIT)


def status_code_of(error: errors.DomainError) -> grpc.StatusCode:
    """The status code for a domain error; an unlisted subclass takes its nearest base's."""
    for cls in type(error).__mro__:
        code = STATUS_CODES.get(cls)
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_rpc_status(error: errors.DomainError, domain: str) -> grpc.Status:
    """A `grpc.Status` carrying exactly one ErrorInfo, plus BadRequest or RetryInfo as fits.

    BadRequest goes with INVALID_ARGUMENT, and with any other error that names request fields.
    """
    return rpc_status.to_status(to_status_proto(error, domain))


def to_status_proto(error: errors.DomainError, domain: str) -> status_pb2.Status:
    """The google.rpc.Status that `to_rpc_status` sends (a batch's per-entry answer)."""
    extra: list[any_pb2.Any] = []
    if error.violations:
        violations = [
            error_details_pb2.BadRequest.FieldViolation(
                field=_clip(v.field, MAX_FIELD_TEXT_BYTES),
                description=_clip(v.description, MAX_FIELD_TEXT_BYTES),
            )
            for v in error.violations[:MAX_VIOLATIONS]
        ]
        extra.append(_pack(error_details_pb2.BadRequest(field_violations=violations)))
    if isinstance(error, errors.ResourceExhausted):
        delay = duration_pb2.Duration(seconds=max(1, error.retry_after_seconds))
        extra.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return build_status_proto(
        status_code_of(error), error.message, error.reason, domain, error.metadata, extra
    )


def _clip(text: str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """Error texts may echo client input: keep them well inside gRPC's metadata limits."""
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text
    return encoded[: max_bytes - 3].decode(errors="ignore") + "…"


def build_status(
    code: grpc.StatusCode,
    message: str,
    reason: str,
    domain: str,
    metadata: dict[str, str] | None = None,
    extra_details: list[any_pb2.Any] | None = None,
) -> grpc.Status:
    """A status with `code`, `message`, one ErrorInfo(reason, domain) and any extra details."""
    return rpc_status.to_status(
        build_status_proto(code, message, reason, domain, metadata, extra_details)
    )


def build_status_proto(
    code: grpc.StatusCode,
    message: str,
    reason: str,
    domain: str,
    metadata: dict[str, str] | None = None,
    extra_details: list[any_pb2.Any] | None = None,
) -> status_pb2.Status:
    """The google.rpc.Status that `build_status` sends."""
    info = error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=metadata or {})
    return status_pb2.Status(
        code=code.value[0],
        message=_clip(message),
        details=[_pack(info), *(extra_details or [])],
    )
