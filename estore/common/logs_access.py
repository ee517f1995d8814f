"""The access line: each RPC's "rpc finished", made cheaply.

A record costs the call's thread and the log's listener thread most of what logging a line
costs; RecordTemplate makes records without LogRecord.__init__, and AccessLine, while nothing
but the service's own listener would see the record, queues no record at all.
"""

from __future__ import annotations

import logging
import queue
import time
from typing import Any

from estore.common.logs_format import STANDARD_ATTRS, AccessFields, access_json


class RecordTemplate:
    """Logs one fixed message at one level, its records copied from a template.

    LogRecord.__init__ works out the same fields for every record of a message (names, levels,
    the source that `_skip_unused_record_fields` leaves unknown); only the time and the extras
    differ. AccessLine makes the access line's records this way when it needs records; they go
    through the logger's level, filters and handlers like any record.
    """

    def __init__(self, logger: logging.Logger, level: int, message: str) -> None:
        self._logger = logger
        self._level = level
        self._message = message
        self._fields: dict[str, Any] | None = None

    def _template(self) -> dict[str, Any]:
        # Made at the first line, once configure_logging has chosen the fields records carry.
        record = self._logger.makeRecord(
            self._logger.name, self._level, "(unknown file)", 0, self._message, (), None,
            "(unknown function)",
        )  # fmt: skip
        return dict(record.__dict__)

    def fields(self) -> dict[str, Any]:
        """The fields every record of this message carries (a copy)."""
        if self._fields is None:
            self._fields = self._template()
        return dict(self._fields)

    def log(self, extra: dict[str, Any]) -> None:
        """What `logger.log(level, message, extra=extra)` logs, made without LogRecord.__init__."""
        if self._logger.isEnabledFor(self._level):
            self._logger.handle(self.record(extra, time.time()))

    def record(self, extra: dict[str, Any], created: float) -> logging.LogRecord:
        """The record `logger.log(level, message, extra=extra)` makes at time `created`."""
        if self._fields is None:
            self._fields = self._template()
        record = object.__new__(logging.LogRecord)
        fields = record.__dict__
        fields.update(self._fields)
        fields["created"] = created
        fields["msecs"] = int((created - int(created)) * 1000) + 0.0  # as LogRecord.__init__ does
        fields["relativeCreated"] = (created - logging._startTime) * 1000  # type: ignore[attr-defined]
        fields.update(extra)
        return record


class AccessLine:
    """The line every RPC logs: "rpc finished" at INFO with its service, method, code, duration
    and request id, as a record with those extras would be written.

    While records go from the logger straight to configure_logging's listener (no other
    handler or filter on the way), the line is queued as a tuple, and the listener writes it
    without a record: a record costs the call's thread and the listener three times as much.
    Otherwise it is logged as a record (RecordTemplate), for the handlers that are there.
    """

    def __init__(self, logger: logging.Logger, message: str = "rpc finished") -> None:
        self._logger = logger
        self._message = message
        self._template = RecordTemplate(logger, logging.INFO, message)
        self._textual: bool | None = None  # whether text() writes what the record would

    def log(
        self, service: str, method: str, code: str, duration_ms: float, request_id: str
    ) -> None:
        """What `logger.info(message, extra=...)` with these extras logs."""
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            return
        if self._textual is None:
            self._textual = _standard_record(self._template.fields())
        current = sink
        queued = (self, time.time(), service, (method, code, duration_ms, request_id))
        if self._textual and current and service and request_id and current.takes(logger):
            current.records.put_nowait(queued)
        else:
            logger.handle(self.record(queued))

    def text(self, queued: Queued) -> str | None:
        """The JSON line of a queued line; None if a field is of a type no line is made of
        (bytes for a string, say): then its record is written, as the formatter can."""
        _, created, service, fields = queued
        try:
            return access_json(created, "INFO", service, self._logger.name, self._message, fields)
        except (TypeError, ValueError):
            return None

    def record(self, queued: Queued) -> logging.LogRecord:
        """The record of a queued line, for a handler that takes records."""
        _, created, service, (method, code, duration_ms, request_id) = queued
        extra: dict[str, Any] = {"service": service, "method": method, "code": code}
        extra |= {"duration_ms": duration_ms, "request_id": request_id}
        return self._template.record(extra, created)


# An access line as AccessLine queues it: who queued it, when, the service, and the line's fields.
Queued = tuple[AccessLine, float, str, AccessFields]


def _standard_record(fields: dict[str, Any]) -> bool:
    """Whether a record with these fields is INFO's, with no field a project's own record
    factory or logger class adds (JsonFormatter would write it; access_json does not)."""
    return fields.get("levelname") == "INFO" and fields.keys() <= STANDARD_ATTRS


class Sink:
    """Where configure_logging's records go: its queue, behind its one handler on the root."""

    def __init__(self, records: queue.SimpleQueue[Any], handler: logging.Handler) -> None:
        self.records = records
        self._handler = handler

    def takes(self, logger: logging.Logger) -> bool:
        """Whether `logger`'s records reach this queue and nothing else, untouched."""
        # Only the root's handler (this queue's) on the way, and no filter.
        if logger.filters or self._handler.filters or self._handler.level > logging.INFO:
            return False
        node: logging.Logger | None = logger
        while node is not None and node.parent is not None:
            if node.handlers or not node.propagate:
                return False
            node = node.parent
        return node is not None and node.handlers == [self._handler]


# Where configure_logging's records go (logs.py sets it): None while it is not in charge.
sink: Sink | None = None
