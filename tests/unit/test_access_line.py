"""The access line: queued as a tuple while nothing stands between it and the log, and written
exactly as its record would have been; a record whenever a handler or filter may want one."""

from __future__ import annotations

import io
import json
import logging
import queue
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from estore.common.logs import BatchingListener, configure_logging, stop_logging
from estore.common.logs_access import AccessLine

METHOD = "/estore.inventory.v1.InventoryService/GetProduct"


class _Kept(logging.Handler):
    """Keeps every record it is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _lines(log_file: Path) -> list[str]:
    stop_logging()  # writes out the queue
    return log_file.read_text().splitlines()


@pytest.mark.parametrize(
    ("method", "request_id", "duration_ms"),
    [
        (METHOD, "0123456789abcdef0123456789abcdef", 0.123),
        (METHOD, 'a "quoted"\nid, é and \u2028', 12345.5),  # a client's x-request-id: any text
        ("/estore.x.v1.X/Y", "r", 1e-05),
        ("/estore.x.v1.X/Y", "r", 0.0),
        ("/estore.x.v1.X/Y", "r", float("inf")),  # as the json module writes it: Infinity
    ],
)
def test_a_queued_line_is_the_line_its_record_makes(
    root_logger: logging.Logger,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    request_id: str,
    duration_ms: float,
) -> None:
    def no_record(*_: object) -> None:
        raise AssertionError("a record was made")

    monkeypatch.setattr(AccessLine, "record", no_record)  # the queued line is written as text
    log_file = tmp_path / "estore.log"
    configure_logging("inventory", "INFO", log_file=log_file)
    logger = logging.getLogger("estore.rpc")
    AccessLine(logger).log("payments", method, "NOT_FOUND", duration_ms, request_id)
    extra = {"service": "payments", "method": method, "code": "NOT_FOUND"}
    logger.info(
        "rpc finished", extra=extra | {"duration_ms": duration_ms, "request_id": request_id}
    )
    queued, recorded = _lines(log_file)
    assert json.loads(queued)["time"] <= json.loads(recorded)["time"]
    assert queued[queued.index('"level"') :] == recorded[recorded.index('"level"') :]
    assert queued.index('"level"') == recorded.index('"level"')  # the time is as long
    assert json.loads(queued)["request_id"] == request_id


def test_a_line_goes_as_a_record_to_any_other_handler_on_its_way(
    root_logger: logging.Logger, tmp_path: Path
) -> None:
    log_file = tmp_path / "estore.log"
    configure_logging("inventory", "INFO", log_file=log_file)
    kept = _Kept()  # as pytest's caplog, or an embedding application's handler
    logging.getLogger("estore").addHandler(kept)
    try:
        AccessLine(logging.getLogger("estore.rpc")).log("inventory", METHOD, "OK", 0.5, "r-1")
    finally:
        logging.getLogger("estore").removeHandler(kept)
    (record,) = kept.records
    assert (record.getMessage(), record.levelno) == ("rpc finished", logging.INFO)
    assert (record.method, record.code, record.duration_ms) == (METHOD, "OK", 0.5)  # type: ignore[attr-defined]
    assert (record.service, record.request_id) == ("inventory", "r-1")  # type: ignore[attr-defined]
    (line,) = _lines(log_file)  # and the log still has it
    assert json.loads(line)["request_id"] == "r-1"


def test_a_filter_on_the_way_sees_the_record_and_can_drop_it(
    root_logger: logging.Logger, tmp_path: Path
) -> None:
    log_file = tmp_path / "estore.log"
    configure_logging("inventory", "INFO", log_file=log_file)
    seen: list[str] = []

    def drop_ok(record: logging.LogRecord) -> bool:
        seen.append(record.code)  # type: ignore[attr-defined]
        return bool(record.code != "OK")  # type: ignore[attr-defined]

    (queued,) = root_logger.handlers
    queued.addFilter(drop_ok)
    line = AccessLine(logging.getLogger("estore.rpc"))
    line.log("inventory", METHOD, "OK", 0.5, "r-1")
    line.log("inventory", METHOD, "INTERNAL", 0.5, "r-2")
    assert seen == ["OK", "INTERNAL"]
    assert [json.loads(text)["request_id"] for text in _lines(log_file)] == ["r-2"]


def test_no_line_below_the_level(root_logger: logging.Logger, tmp_path: Path) -> None:
    log_file = tmp_path / "estore.log"
    configure_logging("inventory", "WARNING", log_file=log_file)
    AccessLine(logging.getLogger("estore.rpc")).log("inventory", METHOD, "OK", 0.5, "r-1")
    assert _lines(log_file) == []


def test_the_listener_hands_a_queued_line_to_other_handlers_as_a_record(
    root_logger: logging.Logger, tmp_path: Path
) -> None:
    configure_logging("inventory", "INFO", log_file=tmp_path / "estore.log")
    records: queue.SimpleQueue[object] = queue.SimpleQueue()
    line = AccessLine(logging.getLogger("estore.rpc"))
    line.log("inventory", METHOD, "OK", 0.5, "r-1")
    (queued,) = root_logger.handlers
    queued_line = queued.queue.get_nowait()  # type: ignore[attr-defined]
    assert type(queued_line) is tuple  # no record was made on the caller's thread
    kept, plain = _Kept(), logging.StreamHandler(io.StringIO())
    plain.setFormatter(logging.Formatter("%(levelname)s %(message)s %(request_id)s"))
    BatchingListener(records, kept, plain, pause=0).write([queued_line])
    (record,) = kept.records
    assert (record.method, record.request_id) == (METHOD, "r-1")  # type: ignore[attr-defined]
    assert plain.stream.getvalue() == "INFO rpc finished r-1\n"  # its own formatter, not ours


def test_a_line_of_other_types_is_written_as_its_record_would_be(
    root_logger: logging.Logger, tmp_path: Path
) -> None:
    log_file = tmp_path / "estore.log"
    configure_logging("inventory", "INFO", log_file=log_file)
    line = AccessLine(logging.getLogger("estore.rpc"))
    line.log("inventory", METHOD, "OK", 3, "r-int")  # an int where a float belongs
    line.log("inventory", b"/bytes", "OK", 0.5, "r-bytes")  # type: ignore[arg-type]
    logging.getLogger("estore").warning("after them")  # the listener still writes
    first, second, third = [json.loads(text) for text in _lines(log_file)]
    assert (first["duration_ms"], first["request_id"]) == (3, "r-int")
    assert (second["method"], second["request_id"]) == ("b'/bytes'", "r-bytes")
    assert third["message"] == "after them"


def _propagates_not(logger: logging.Logger) -> None:
    logger.propagate = False


def _disabled(logger: logging.Logger) -> None:
    logger.disabled = True


def _quiet_handler(logger: logging.Logger) -> None:
    (queued,) = logging.getLogger().handlers
    queued.setLevel(logging.WARNING)


@pytest.mark.parametrize("change", [_propagates_not, _disabled, _quiet_handler])
def test_a_line_its_record_would_not_reach_the_log_does_not_either(
    root_logger: logging.Logger, tmp_path: Path, change: Callable[[logging.Logger], None]
) -> None:
    log_file = tmp_path / "estore.log"
    configure_logging("inventory", "INFO", log_file=log_file)
    logger = logging.getLogger("estore.test-access")
    change(logger)
    AccessLine(logger).log("inventory", METHOD, "OK", 0.5, "r-1")
    assert _lines(log_file) == []


def test_a_field_a_record_factory_adds_is_kept(root_logger: logging.Logger, tmp_path: Path) -> None:
    log_file = tmp_path / "estore.log"
    configure_logging("inventory", "INFO", log_file=log_file)
    make = logging.getLogRecordFactory()

    def with_host(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        record.host = "shop-1"
        return record

    logging.setLogRecordFactory(with_host)
    try:
        AccessLine(logging.getLogger("estore.rpc")).log("inventory", METHOD, "OK", 0.5, "r-1")
    finally:
        logging.setLogRecordFactory(make)
    (line,) = _lines(log_file)
    assert json.loads(line)["host"] == "shop-1"
