"""Inventory's domain errors, with the reasons the proto names; no grpc here."""

from __future__ import annotations

from estore.common import errors


class ProductNotFound(errors.NotFound):
    """No product has this id."""

    reason = "PRODUCT_NOT_FOUND"

    def __init__(self, product_id: str) -> None:
        super().__init__(f"no product {product_id!r}")


class CategoryNotFound(errors.NotFound):
    """No category has this id."""

    reason = "CATEGORY_NOT_FOUND"

    def __init__(self, category_id: str) -> None:
        super().__init__(f"no category {category_id!r}")


class ReservationNotFound(errors.NotFound):
    """No reservation has this id (or it was final for longer than it is kept)."""

    reason = "RESERVATION_NOT_FOUND"

    def __init__(self, reservation_id: str) -> None:
        super().__init__(f"no reservation {reservation_id!r}")


class CategoryAlreadyExists(errors.AlreadyExists):
    """A sibling under the same parent already has this name."""

    reason = "CATEGORY_ALREADY_EXISTS"

    def __init__(self, name: str) -> None:
        super().__init__(f"a category named {name!r} already exists under this parent")


class CategoryCycle(errors.InvalidArgument):
    """The new parent is the category itself or one of its descendants."""

    reason = "CATEGORY_CYCLE"

    def __init__(self) -> None:
        super().__init__(
            "a category cannot move under itself or one of its descendants",
            violations=[
                errors.FieldViolation("category.parent_id", "would make a cycle in the tree")
            ],
        )


class CategoryNotEmpty(errors.FailedPrecondition):
    """The category still has child categories or products."""

    reason = "CATEGORY_NOT_EMPTY"

    def __init__(self, category_id: str) -> None:
        super().__init__(f"category {category_id!r} still has child categories or products")


class InsufficientStock(errors.FailedPrecondition):
    """Fewer units are available than the change needs."""

    reason = "INSUFFICIENT_STOCK"

    def __init__(self, product_id: str, available: int) -> None:
        super().__init__(
            f"product {product_id!r} has only {available} units available",
            metadata={"available": str(available)},
        )


class ProductHasReservations(errors.FailedPrecondition):
    """Some of the product's stock is held by a live reservation."""

    reason = "PRODUCT_HAS_RESERVATIONS"

    def __init__(self, product_id: str) -> None:
        super().__init__(f"product {product_id!r} has stock held by live reservations")


class ReservationExpired(errors.FailedPrecondition):
    """The reservation expired and its stock went back."""

    reason = "RESERVATION_EXPIRED"

    def __init__(self, reservation_id: str) -> None:
        super().__init__(f"reservation {reservation_id!r} expired; its stock was given back")


class ReservationReleased(errors.FailedPrecondition):
    """The reservation was released and its stock went back."""

    reason = "RESERVATION_RELEASED"

    def __init__(self, reservation_id: str) -> None:
        super().__init__(f"reservation {reservation_id!r} was released")


class ReservationCommitted(errors.FailedPrecondition):
    """The reservation was committed: its stock is sold."""

    reason = "RESERVATION_COMMITTED"

    def __init__(self, reservation_id: str) -> None:
        super().__init__(
            f"reservation {reservation_id!r} is committed; restock with AdjustStock instead"
        )


class ReservationIdReused(errors.InvalidArgument):
    """The reservation id already names a reservation of another product or quantity."""

    reason = "REQUEST_ID_REUSED"

    def __init__(self, reservation_id: str) -> None:
        super().__init__(
            f"reservation {reservation_id!r} exists for another product or quantity",
            violations=[
                errors.FieldViolation(
                    "reservation_id", "already used for another product or quantity"
                )
            ],
        )


class RequestIdReused(errors.InvalidArgument):
    """The request id already changed the stock for another product, delta or reason."""

    reason = "REQUEST_ID_REUSED"

    def __init__(self) -> None:
        super().__init__(
            "request_id was already used for a different request",
            violations=[errors.FieldViolation("request_id", "already used for another request")],
        )


class CurrencyMismatch(errors.InvalidArgument):
    """A Money field in a currency other than the deployment's."""

    reason = "CURRENCY_MISMATCH"

    def __init__(self, field: str, expected: str) -> None:
        super().__init__(
            f"{field}: must be in {expected}",
            violations=[errors.FieldViolation(field, f"must be in {expected}")],
        )


class ConcurrentModification(errors.Aborted):
    """Another change to the same entity got there first; retrying may work."""

    reason = "CONCURRENT_MODIFICATION"

    def __init__(self) -> None:
        super().__init__("a concurrent change got there first; retry")


class TooManyWatchers(errors.ResourceExhausted):
    """This instance already serves as many WatchInventory streams as it is configured for."""

    reason = "TOO_MANY_WATCHERS"

    def __init__(self, limit: int, retry_after_seconds: int = 5) -> None:
        super().__init__(
            f"this server already serves {limit} WatchInventory streams; retry later",
            retry_after_seconds=retry_after_seconds,
            metadata={"max_watchers": str(limit)},
        )


class EventsTrimmed(errors.OutOfRange):
    """Events after the asked id are no longer kept in the stream: the watcher missed some."""

    reason = "EVENTS_TRIMMED"

    def __init__(self, after_event_id: str, oldest_event_id: str) -> None:
        super().__init__(
            f"events after {after_event_id} are no longer kept, so some would be missed;"
            ' reload what you track, then watch again with after_event_id "0-0" or ""',
            metadata={"after_event_id": after_event_id, "oldest_event_id": oldest_event_id},
        )
