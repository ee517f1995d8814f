"""Log lines are written by a listener thread, and still carry the call's context."""

from __future__ import annotations

import io
import json
import logging
import queue
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from estore.common import context
from estore.common.logs import (
    BatchingListener,
    ContextQueueHandler,
    JsonFormatter,
    configure_logging,
    stop_logging,
)
from estore.common.logs_access import RecordTemplate
from estore.common.logs_format import _iso_time


class _Writers(logging.Filter):
    """Notes which thread wrote each record."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.threads.append(threading.current_thread().name)
        return True


@pytest.mark.usefixtures("root_logger")
def test_lines_are_written_off_the_calling_thread_with_its_request_id(tmp_path: Path) -> None:
    log_file = tmp_path / "estore.log"
    configure_logging("inventory", "INFO", log_file=log_file)
    (queued,) = logging.getLogger().handlers
    assert isinstance(queued, ContextQueueHandler)
    writers = _Writers()
    listener = queued.listener
    assert listener is not None
    for handler in listener.handlers:
        handler.addFilter(writers)

    def call() -> None:
        context.request_id.set("req-42")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("estore.rpc").exception("failed %s", "GetProduct", extra={"n": 1})

    caller = threading.Thread(target=call, name="a-call")
    caller.start()
    caller.join()
    stop_logging()  # writes out the queue
    (line,) = [json.loads(text) for text in log_file.read_text().splitlines()]
    assert line["message"] == "failed GetProduct"
    assert line["request_id"] == "req-42"
    assert line["service"] == "inventory"
    assert line["n"] == 1
    assert "ValueError: boom" in line["exception"]
    assert writers.threads
    assert "a-call" not in writers.threads


class _CountingStream(io.StringIO):
    """Counts the writes a handler makes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.makeLogRecord({"msg": message, "levelno": level, "levelname": "X"})


def test_records_waiting_are_written_in_one_write_and_stop_writes_the_rest() -> None:
    stream = _CountingStream()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("users"))
    handler.setLevel(logging.INFO)
    records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
    listener = BatchingListener(records, handler, pause=3600)  # never wakes again by itself
    for n in range(50):
        records.put(_record(f"call {n}"))
    records.put(_record("too quiet", logging.DEBUG))  # the handler's level still applies
    listener.start()
    deadline = time.monotonic() + 10
    while stream.writes == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.writes == 1  # fifty lines, one write
    records.put(_record("during the pause"))
    listener.stop()  # not after the hour's pause: at once, with the line that waited
    messages = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
    assert messages == [*(f"call {n}" for n in range(50)), "during the pause"]
    assert stream.writes == 2


@pytest.fixture
def kept(root_logger: logging.Logger, tmp_path: Path) -> list[logging.LogRecord]:
    """The records the queue handler of a configured service takes, as it takes them."""
    configure_logging("users", "INFO", log_file=tmp_path / "estore.log")
    kept: list[logging.LogRecord] = []

    def keep(record: logging.LogRecord) -> bool:
        kept.append(record)
        return True

    (queued,) = logging.getLogger().handlers
    queued.addFilter(keep)
    return kept


def test_records_skip_the_fields_no_line_carries(kept: list[logging.LogRecord]) -> None:
    logging.getLogger("estore.rpc").info("rpc finished")
    (record,) = kept
    assert record.pathname == "(unknown file)"  # no walk up the stack for the caller's line
    assert record.thread is None
    assert record.process is None


def test_a_templated_record_is_the_record_logger_log_makes(
    kept: list[logging.LogRecord], tmp_path: Path
) -> None:
    logger = logging.getLogger("estore.rpc")
    extra = {"method": "/estore.users.v1.UserService/GetCurrentUser", "code": "OK"}
    logger.info("rpc finished", extra=extra)
    RecordTemplate(logger, logging.INFO, "rpc finished").log(extra)
    RecordTemplate(logger, logging.DEBUG, "too quiet").log(extra)  # below the level: no record
    made, templated = kept
    assert set(templated.__dict__) == set(made.__dict__)
    timing = {"created", "msecs", "relativeCreated"}
    assert {k: v for k, v in templated.__dict__.items() if k not in timing} == {
        k: v for k, v in made.__dict__.items() if k not in timing
    }
    assert 0 <= templated.created - made.created < 5
    stop_logging()
    lines = (tmp_path / "estore.log").read_text().splitlines()
    first, second = [json.loads(line) for line in lines]
    assert first.keys() == second.keys()
    assert {k: v for k, v in first.items() if k != "time"} == {
        k: v for k, v in second.items() if k != "time"
    }


@pytest.mark.parametrize(
    "created",
    [0.0, 1.0, 0.9999995, 1764279717.9999996, 1764279717.0000004, 1764279717.0005, 1764279717.9995]
    + [1764279717 + i / 7 for i in range(20)],
)
def test_a_line_s_time_is_datetime_s_own_iso_format(created: float) -> None:
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert _iso_time(created) == expected
    assert _iso_time(created) == expected  # the second's text, now kept


def _access_record(**extra: object) -> logging.LogRecord:
    return logging.getLogger("estore.rpc").makeRecord(
        "estore.rpc", logging.INFO, "f.py", 1, "rpc finished", (), None, extra=extra
    )


def test_a_line_is_what_the_json_module_encodes() -> None:
    formatter = JsonFormatter("inventory")
    record = _access_record(
        method="/m", code="OK", duration_ms=0.123, text="é\n\"", items=[1, {"a": None}],
        big=10**30, odd=object(), nan=float("nan"),
    )  # fmt: skip
    line = formatter.format(record)
    entry = json.loads(line)
    assert line == json.JSONEncoder(default=str).encode(entry)
    assert entry["text"] == 'é\n"'
    assert entry["items"] == [1, {"a": None}]
    assert entry["odd"].startswith("<object object at")
    assert entry["big"] == 10**30


def test_records_of_one_shape_each_carry_their_own_extras() -> None:
    formatter = JsonFormatter("inventory")
    first = json.loads(formatter.format(_access_record(method="/a", code="OK")))
    second = json.loads(formatter.format(_access_record(method="/b", code="NOT_FOUND")))
    other = json.loads(formatter.format(_access_record(reason="x")))
    assert (first["method"], first["code"]) == ("/a", "OK")
    assert (second["method"], second["code"]) == ("/b", "NOT_FOUND")
    assert other["reason"] == "x"
    assert not {"method", "code"} & other.keys()


def test_a_self_containing_extra_is_reported_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    loop: dict[str, object] = {}
    loop["self"] = loop
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter("inventory"))
    BatchingListener(queue.SimpleQueue(), handler, pause=0).write(
        [_access_record(loop=loop), _access_record(method="/after")]
    )
    assert json.loads(handler.stream.getvalue())["method"] == "/after"
    assert "Traceback" in capsys.readouterr().err  # handleError's report; the batch goes on
