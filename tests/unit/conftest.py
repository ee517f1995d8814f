"""Fixtures shared by the unit tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from estore.common.logs import stop_logging


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, its handlers and level put back (and our listener stopped) after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    stop_logging()
    root.handlers[:] = handlers
    root.setLevel(level)
