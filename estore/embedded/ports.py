"""Free TCP ports on loopback, and store processes that stop when their parent dies."""

from __future__ import annotations

import shutil

import port_for


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return int(port_for.select_random())


def dying_with_parent(command: list[str], signal_name: str = "SIGTERM") -> list[str]:
    """`command`, set to receive `signal_name` when the process that started it dies.

    The stores run in sessions of their own, so a parent killed outright (SIGKILL, or a test
    run cut short) would otherwise leave them running. util-linux's setpriv sets the kernel's
    parent-death signal and then becomes the command; where it is missing, the command runs as is.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return command
    return [setpriv, "--pdeathsig", signal_name, "--", *command]
