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
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path
from typing import Any

from estore.common import context, logs_access
from estore.common.logs_access import Queued
from estore.common.logs_format import JsonFormatter

__all__ = ["JsonFormatter", "configure_logging", "stop_logging"]


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
                handler.handle(_record(item) if type(item) is tuple else item)


def _write_lines(handler: logging.StreamHandler[Any], batch: list[Any]) -> None:
    """Write `batch` to `handler` in one write (AccessLine's lines as their text, where the
    handler would write their records as that text)."""
    writes_text = (
        type(handler.formatter) is JsonFormatter
        and not handler.filters
        and handler.level <= logging.INFO
    )
    lines = []
    for item in batch:
        try:
            line = _line(handler, item, writes_text)
        except Exception:  # as logging does: report it, keep the other lines
            handler.handleError(item if isinstance(item, logging.LogRecord) else _record(item))
            continue
        if line is not None:
            lines.append(line + handler.terminator)
    if lines:
        with handler.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            handler.stream.write("".join(lines))
            handler.flush()


def _line(handler: logging.Handler, item: Any, writes_text: bool) -> str | None:
    """The line `handler` writes for a record or a queued access line; None if it drops it."""
    if type(item) is tuple:
        text = item[0].text(item) if writes_text else None
        if text is not None:
            return str(text)
        item = _record(item)
    if item.levelno >= handler.level and handler.filter(item):
        return handler.format(item)
    return None


def _record(queued: Queued) -> logging.LogRecord:
    """The record of an access line AccessLine queued."""
    return queued[0].record(queued)


_listener: QueueListener | None = None


def stop_logging() -> None:
    """Write out every queued record and stop the listener thread (at exit, or reconfiguring)."""
    global _listener
    logs_access.sink = None
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
    records: queue.SimpleQueue[Any] = queue.SimpleQueue()
    _listener = BatchingListener(records, handler, pause=pause)
    _listener.start()
    root = logging.getLogger()
    queued = ContextQueueHandler(records)
    queued.listener = _listener
    root.handlers[:] = [queued]
    logs_access.sink = logs_access.Sink(records, queued)
    root.setLevel(level)


atexit.register(stop_logging)
