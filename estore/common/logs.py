"""Structured logs: one JSON object per line, with the service and the request id.

Records are queued on the calling thread and written by a listener thread, so a call never
waits on the disk or a slow stderr reader. The listener writes in batches: woken for a record,
it writes everything queued in one write, then lets the next records gather for a moment.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import queue
import sys
import threading
import time
from datetime import UTC, datetime
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path
from typing import Any

from estore.common import context

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged too.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# json.dumps(..., default=str) would build a new encoder for every line.
_ENCODER = json.JSONEncoder(default=str)
_SHAPES_KEPT = 256  # record shapes whose extras a formatter remembers
# JSONEncoder.encode still makes its C encoder afresh for every object (a third of a line's
# formatting): this one is made once. It keeps no state between lines (no circular-reference
# markers: a self-containing extra fails with RecursionError instead of ValueError, and its line
# is reported by handleError all the same), so the listener thread can call it for every line.
_ENCODE_C = (
    None
    if json.encoder.c_make_encoder is None  # type: ignore[attr-defined]
    else json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        None, str, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
)


def _encode(entry: dict[str, Any]) -> str:
    """`_ENCODER.encode(entry)`, with the encoder made once."""
    if _ENCODE_C is None:
        return _ENCODER.encode(entry)
    return "".join(_ENCODE_C(entry, 0))


class JsonFormatter(logging.Formatter):
    """Formats records as JSON lines: time, level, service, logger, message, request_id, extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service
        # A record's fields in order -> those passed through `extra=`: the few shapes records
        # come in (the access line's above all) are sorted out once, not field by field.
        self._shapes: dict[tuple[str, ...], tuple[str, ...]] = {}

    def _extras(self, fields: dict[str, Any]) -> tuple[str, ...]:
        shape = tuple(fields)
        extras = self._shapes.get(shape)
        if extras is None:
            extras = tuple(key for key in shape if key not in _STANDARD_ATTRS)
            if len(self._shapes) >= _SHAPES_KEPT:
                self._shapes.clear()
            self._shapes[shape] = extras
        return extras

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "service": getattr(record, "service", None) or context.service.get() or self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or context.request_id.get()
        if request_id:
            entry["request_id"] = request_id
        fields = record.__dict__
        for key in self._extras(fields):
            if key not in entry:
                entry[key] = fields[key]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return _encode(entry)


# The second _iso_time wrote last, and its text up to the milliseconds: one tuple, so that two
# threads formatting at once never pair one second with another's text.
_last_second: tuple[float, str] = (math.nan, "")


def _iso_time(created: float) -> str:
    """`datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")`, its date and
    time of day worked out once a second rather than on every line."""
    global _last_second
    # Rounded to microseconds half to even, as fromtimestamp does, then cut to milliseconds.
    fraction, second = math.modf(created)
    microseconds = round(fraction * 1e6)
    if microseconds >= 1_000_000:
        second, microseconds = second + 1, microseconds - 1_000_000
    last, text = _last_second
    if second != last:
        text = datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")[:-6]
        _last_second = (second, text)
    return f"{text}.{microseconds // 1000:03d}+00:00"


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
    differ. The access line of every call is logged this way, and goes through the logger's
    level, filters and handlers like any record.
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
        logger = self._logger
        if not logger.isEnabledFor(self._level):
            return
        if self._fields is None:
            self._fields = self._template()
        record = object.__new__(logging.LogRecord)
        fields = record.__dict__
        fields.update(self._fields)
        now = time.time()
        fields["created"] = now
        fields["msecs"] = int((now - int(now)) * 1000) + 0.0  # as LogRecord.__init__ has it
        fields["relativeCreated"] = (now - logging._startTime) * 1000  # type: ignore[attr-defined]
        fields.update(extra)
        logger.handle(record)


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

    def write(self, batch: list[logging.LogRecord]) -> None:
        """Write `batch` to each handler: a stream handler gets one write and one flush."""
        for handler in self.handlers:
            if not isinstance(handler, logging.StreamHandler):
                for record in batch:
                    handler.handle(record)
                continue
            lines = []
            for record in batch:
                if record.levelno >= handler.level and handler.filter(record):
                    try:
                        lines.append(handler.format(record) + handler.terminator)
                    except Exception:  # as logging does: report it, keep the other lines
                        handler.handleError(record)
            if lines:
                with handler.lock:  # type: ignore[union-attr]  # created by Handler.__init__
                    handler.stream.write("".join(lines))
                    handler.flush()


_listener: QueueListener | None = None


def stop_logging() -> None:
    """Write out every queued record and stop the listener thread (at exit, or reconfiguring)."""
    global _listener
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
    global _listener
    stop_logging()
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = BatchingListener(records, handler, pause=pause)
    _listener.start()
    root = logging.getLogger()
    queued = ContextQueueHandler(records)
    queued.listener = _listener
    root.handlers[:] = [queued]
    root.setLevel(level)


atexit.register(stop_logging)
