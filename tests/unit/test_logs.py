"""Log lines are written by a listener thread, and still carry the call's context."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from estore.common import context
from estore.common.logs import ContextQueueHandler, configure_logging, stop_logging


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    stop_logging()
    root.handlers[:] = handlers
    root.setLevel(level)


class _Writers(logging.Filter):
    """Notes which thread wrote each record."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.threads.append(threading.current_thread().name)
        return True


@pytest.mark.usefixtures("restore_root_logger")
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
