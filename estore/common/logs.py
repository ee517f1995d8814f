"""Structured logs: one JSON object per line, with the service and the request id.

Records are queued on the calling thread and written by a listener thread, so a call never
waits on the disk or a slow stderr reader. The listener writes in batches: woken for a record,
it writes everything queued in one write, then lets the next records gather for a moment.
The lines' format is logs_format.py's; the access line of every call skips the record.
"""

from __future__ import annotations

import atexit
import logging
import queue
import sys
import threading
import time
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path
from typing import Any

from estore.common import context
from estore.common.logs_format import JsonFormatter, access_json

__all__ = ["AccessLine", "JsonFormatter", "configure_logging", "stop_logging"]


class ContextQueueHandler(QueueHandler):
    """Queues records with what the listener thread cannot see: the call's context variables."""

    listener: QueueListener | None = None  # the thread that writes this queue out

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = _copy(record)
        record.msg, record.args = record.getMessage(), None
        request_id = getattr(record, "request_id", None) or context.request_id.get()
        if request_id:
            record.request_id = request_id
        service = getattr(record, "service", None) or context.service.get()
        if service:
            record.service = service
        if record.exc_info:  # tracebacks hold frames: formatted here, not in another thread
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record


def _copy(record: logging.LogRecord) -> logging.LogRecord:
    """A shallow copy, as copy.copy makes (other handlers keep the original), at a third of its
    cost: copy.copy goes through __reduce_ex__ and copyreg on every record."""
    copied = object.__new__(type(record))
    copied.__dict__.update(record.__dict__)
    return copied


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

    def log(
        self, service: str, method: str, code: str, duration_ms: float, request_id: str
    ) -> None:
        logger = self._logger
        if not logger.isEnabledFor(logging.INFO):
            return
        sink = _sink
        queued = (self, time.time(), service, (method, code, request_id, duration_ms))
        if sink is not None and service and request_id and sink.takes(logger):
            sink.records.put_nowait(queued)
        else:
            logger.handle(self.record(queued))

    def text(self, queued: _Queued) -> str:
        """The JSON line of a queued line."""
        _, created, service, fields = queued
        return access_json(created, "INFO", service, self._logger.name, self._message, fields)

    def record(self, queued: _Queued) -> logging.LogRecord:
        """The record of a queued line, for a handler that takes records."""
        _, created, service, (method, code, request_id, duration_ms) = queued
        extra: dict[str, Any] = {"service": service, "method": method, "code": code}
        extra |= {"duration_ms": duration_ms, "request_id": request_id}
        return self._template.record(extra, created)


# An access line as AccessLine queues it: who queued it, when, the service, and the line's fields.
_Queued = tuple[AccessLine, float, str, tuple[str, str, str, float]]


class _Sink:
    """Where configure_logging's records go: its queue, behind its one handler on the root."""

    def __init__(self, records: queue.SimpleQueue[Any], handler: logging.Handler) -> None:
        self.records = records
        self._handler = handler

    def takes(self, logger: logging.Logger) -> bool:
        """Whether `logger`'s records reach this queue and nothing else, untouched: only the
        root's handler (this queue's) on the way, and no filter."""
        if logger.filters or self._handler.filters or self._handler.level > logging.INFO:
            return False
        node: logging.Logger | None = logger
        while node is not None and node.parent is not None:
            if node.handlers or not node.propagate:
                return False
            node = node.parent
        return node is not None and node.handlers == [self._handler]


# How long the listener lets records gather after writing a batch. Woken once per record, it
# would contend for the GIL with the event loop on every call (about 0.1 ms of CPU per RPC
# on a busy service); a line reaches the log at most this much later.
BATCH_SECONDS = 0.05
_STOP = None  # what stop() queues: the listener writes what came before it, then ends


class BatchingListener(QueueListener):
    """A QueueListener that writes every record waiting in one go, then pauses BATCH_SECONDS."""

    def __init__(
        self, records: queue.SimpleQueue[Any], *handlers: logging.Handler, pause: float
    ) -> None:
        super().__init__(records, *handlers)
        self._records = records
        self._pause = pause
        self._stopping = threading.Event()

    def start(self) -> None:
        self._stopping.clear()
        super().start()

    def enqueue_sentinel(self) -> None:
        self._records.put_nowait(_STOP)
        self._stopping.set()  # cuts the pause short: stopping writes out at once

    def _monitor(self) -> None:
        records = self._records
        while True:
            batch = [records.get()]  # an idle service's listener sleeps here, costing nothing
            while True:
                try:
                    batch.append(records.get_nowait())
                except queue.Empty:
                    break
            stopping = any(record is _STOP for record in batch)
            self.write([record for record in batch if record is not _STOP])
            if stopping:
                return
            self._stopping.wait(self._pause)

    def write(self, batch: list[Any]) -> None:
        """Write `batch` (records, and AccessLine's lines) to each handler: a stream handler
        gets one write and one flush."""
        for handler in self.handlers:
            if isinstance(handler, logging.StreamHandler):
                _write_lines(handler, batch)
                continue
            for item in batch:
                handler.handle(item[0].record(item) if type(item) is tuple else item)


def _write_lines(handler: logging.StreamHandler[Any], batch: list[Any]) -> None:
    """Write `batch` to `handler` in one write: AccessLine's lines as it renders them, where
    the handler would have written their records as JsonFormatter does."""
    plain = (
        isinstance(handler.formatter, JsonFormatter)
        and not handler.filters
        and handler.level <= logging.INFO
    )
    lines = []
    for item in batch:
        if type(item) is tuple:
            if plain:
                lines.append(item[0].text(item) + handler.terminator)
                continue
            item = item[0].record(item)
        if item.levelno >= handler.level and handler.filter(item):
            try:
                lines.append(handler.format(item) + handler.terminator)
            except Exception:  # as logging does: report it, keep the other lines
                handler.handleError(item)
    if lines:
        with handler.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            handler.stream.write("".join(lines))
            handler.flush()


_listener: QueueListener | None = None
_sink: _Sink | None = None


def stop_logging() -> None:
    """Write out every queued record and stop the listener thread (at exit, or reconfiguring)."""
    global _listener, _sink
    _sink = None
    if _listener is not None:
        _listener.stop()
        _listener = None


def _skip_unused_record_fields() -> None:
    """Stop filling in record fields no line of ours carries (the logging HOWTO's Optimization)."""
    # Each costs time on every record, the caller's file and line most (a walk up the stack).
    logging._srcfile = None  # documented in the HOWTO
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def configure_logging(
    service: str, level: str = "INFO", log_file: Path | None = None, *, pause: float = BATCH_SECONDS
) -> None:
    """Send the root logger's records as JSON lines to stderr, or to `log_file` (appended)."""
    handler: logging.Handler
    if log_file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file)
    handler.setFormatter(JsonFormatter(service))
    _skip_unused_record_fields()
    global _listener, _sink
    stop_logging()
    records: queue.SimpleQueue[Any] = queue.SimpleQueue()
    _listener = BatchingListener(records, handler, pause=pause)
    _listener.start()
    root = logging.getLogger()
    queued = ContextQueueHandler(records)
    queued.listener = _listener
    root.handlers[:] = [queued]
    _sink = _Sink(records, queued)
    root.setLevel(level)


atexit.register(stop_logging)
