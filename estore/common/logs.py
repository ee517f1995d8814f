"""Structured logs: one JSON object per line, with the service and the request id.

Records are queued on the calling thread and written by a listener thread, so a call never
waits on the disk or a slow stderr reader.
"""

from __future__ import annotations

import atexit
import copy
import json
import logging
import queue
import sys
from datetime import UTC, datetime
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path
from typing import Any

from estore.common import context

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged too.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats records as JSON lines: time, level, service, logger, message, request_id, extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": getattr(record, "service", None) or context.service.get() or self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or context.request_id.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


class ContextQueueHandler(QueueHandler):
    """Queues records with what the listener thread cannot see: the call's context variables."""

    listener: QueueListener | None = None  # the thread that writes this queue out

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
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


_listener: QueueListener | None = None


def stop_logging() -> None:
    """Write out every queued record and stop the listener thread (at exit, or reconfiguring)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None


def configure_logging(service: str, level: str = "INFO", log_file: Path | None = None) -> None:
    """Send the root logger's records as JSON lines to stderr, or to `log_file` (appended)."""
    handler: logging.Handler
    if log_file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file)
    handler.setFormatter(JsonFormatter(service))
    global _listener
    stop_logging()
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = QueueListener(records, handler)
    _listener.start()
    root = logging.getLogger()
    queued = ContextQueueHandler(records)
    queued.listener = _listener
    root.handlers[:] = [queued]
    root.setLevel(level)


atexit.register(stop_logging)
