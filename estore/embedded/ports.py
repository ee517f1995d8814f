"""Free TCP ports on loopback."""

from __future__ import annotations

import port_for


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return int(port_for.select_random())
