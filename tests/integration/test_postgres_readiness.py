"""The throwaway PostgreSQL counts as started once it runs a query, not once it accepts TCP."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from estore.embedded.postgres import EmbeddedPostgres, QueryReadyExecutor, query_error

NEGOTIATIONS = {80877103, 80877104}  # SSLRequest, GSSENCRequest: both answered "N"


def _starting_up(error: bytes = b"the database system is starting up") -> bytes:
    """A PostgreSQL ErrorResponse, as a server that is still starting sends to every client."""
    fields = b"SFATAL\0VFATAL\0C57P03\0M" + error + b"\0\0"
    return b"E" + struct.pack("!I", len(fields) + 4) + fields


def _answer(client: socket.socket) -> None:
    with client:
        while True:
            header = client.recv(8, socket.MSG_WAITALL)
            if len(header) < 8:
                return
            length, code = struct.unpack("!II", header)
            if code in NEGOTIATIONS:
                client.sendall(b"N")
                continue
            client.recv(length - 8, socket.MSG_WAITALL)  # the rest of the startup message
            client.sendall(_starting_up())
            return


@pytest.fixture
def starting_server() -> Iterator[int]:
    """A port that accepts TCP and answers every client like PostgreSQL while it starts up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            _answer(client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    listener.close()


def test_a_server_that_accepts_tcp_but_is_starting_up_is_not_ready(starting_server: int) -> None:
    url = f"postgresql://postgres@127.0.0.1:{starting_server}/postgres"
    error = query_error(url)
    assert error is not None
    assert "starting up" in error
    executor = QueryReadyExecutor(
        ["true"], host="127.0.0.1", port=starting_server, url=url, data_dir=None, timeout=5
    )
    assert executor.after_start_check() is False  # mirakuru keeps waiting on this
    assert "starting up" in executor.last_error


def test_a_server_that_runs_queries_is_ready(postgres_server: EmbeddedPostgres) -> None:
    assert query_error(postgres_server.url()) is None
    executor = QueryReadyExecutor(
        ["true"],
        host=postgres_server.host,
        port=postgres_server.port,
        url=postgres_server.url(),
        data_dir=postgres_server.data_dir,
        timeout=5,
    )
    assert executor.after_start_check() is True


def test_another_server_on_the_port_is_not_ours(
    postgres_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    error = query_error(postgres_server.url(), tmp_path / "postgres")
    assert error is not None
    assert "another PostgreSQL" in error
