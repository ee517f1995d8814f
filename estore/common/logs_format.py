"""Log lines as JSON: one object per line, with the service and the request id."""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from typing import Any

from estore.common import context

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged too.
STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
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


_QUOTE = json.encoder.encode_basestring_ascii  # a JSON string literal, as the encoder writes it
# An access line's method, code, duration in ms and request id.
AccessFields = tuple[str, str, float, str]


def _encode(value: Any) -> str:
    """`_ENCODER.encode(value)`, with the encoder made once."""
    if _ENCODE_C is None:
        return _ENCODER.encode(value)
    return "".join(_ENCODE_C(value, 0))


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
            extras = tuple(key for key in shape if key not in STANDARD_ATTRS)
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


def access_json(
    created: float, level: str, service: str, logger: str, message: str, fields: AccessFields
) -> str:
    """The line JsonFormatter writes for an access record, written without the record."""
    # The record's extras are service, method, code, duration_ms and request_id, in that order;
    # the service and a request id that is not empty come first, with the standard fields.
    method, code, duration_ms, request_id = fields
    quote = _QUOTE
    return (
        f'{{"time": "{_iso_time(created)}", "level": {quote(level)}, "service": {quote(service)}, '
        f'"logger": {quote(logger)}, "message": {quote(message)}, '
        f'"request_id": {quote(request_id)}, "method": {quote(method)}, "code": {quote(code)}, '
        f'"duration_ms": {_encode(duration_ms)}}}'
    )
