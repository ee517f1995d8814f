"""One serving process per port, unless `estore serve --workers` shares it on purpose."""

from __future__ import annotations

import socket

from estore.common.config import ConfigError


class PortInUse(ConfigError):
    """Another process already serves the address this one was to listen on."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"{host}:{port} is already served by another process: stop it or choose another"
            " port (processes share a port only when `estore serve --workers N` starts them)"
        )


def ensure_port_free(host: str, port: int) -> None:
    """PortInUse when something listens on host:port now (port 0 picks a free one: never)."""
    if port == 0:
        return
    for family, kind, proto, _, address in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        with socket.socket(family, kind, proto) as probe:
            # SO_REUSEADDR passes over connections of a stopped server still in TIME_WAIT;
            # on Linux it never lets a second socket bind where one listens.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                raise PortInUse(host, port) from error
