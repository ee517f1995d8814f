"""Redis commands packed by hiredis (C) instead of redis-py's asyncio packer (pure Python)."""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from typing import Any

import hiredis
from redis._parsers import Encoder
from redis.asyncio.connection import AbstractConnection

# redis-py's sync client packs with hiredis when it is installed; its asyncio client always
# packs in Python, which cost ~47 us for a 59-argument EVALSHA against ~6 us here. hiredis
# encodes text as strict UTF-8 and numbers by their repr, as redis-py's Encoder does by
# default, but it also takes subclasses (a str or float subclass) and memoryviews of any
# layout. Only arguments of exactly these types go to hiredis, so every command's bytes are
# the Python packer's; anything else (bool, None, bytearray, an IntEnum...) is packed, or
# refused with DataError, by redis-py as before.
_PLAIN_TYPES = frozenset({str, bytes, int, float})


def _strict_utf8(connection_kwargs: dict[str, Any]) -> bool:
    """Whether connections made with these options encode text as hiredis does."""
    if connection_kwargs.get("encoder_class", Encoder) is not Encoder:
        return False
    encoding = codecs.lookup(connection_kwargs.get("encoding", "utf-8")).name
    return encoding == "utf-8" and connection_kwargs.get("encoding_errors", "strict") == "strict"


class HiredisPacking(AbstractConnection):
    """A connection mixin whose commands and pipelines are packed by hiredis."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if not _PLAIN_TYPES.issuperset(map(type, args)):
            return super().pack_command(*args)
        name = args[0]
        # As redis-py does: "CONFIG GET" is two words, sent as two arguments.
        if type(name) is str:
            args = (*name.encode().split(), *args[1:])
        elif type(name) is not bytes:  # a number as the command: redis-py's checks and errors
            return super().pack_command(*args)
        elif b" " in name:
            args = (*name.split(), *args[1:])
        return [hiredis.pack_command(args)]

    def pack_commands(self, commands: Iterable[Iterable[Any]]) -> list[bytes]:
        # One buffer for the whole pipeline: the transport copies what it is given anyway.
        return [b"".join([b"".join(self.pack_command(*command)) for command in commands])]


_packing_classes: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def hiredis_packing(
    connection_class: type[AbstractConnection], connection_kwargs: dict[str, Any]
) -> type[AbstractConnection]:
    """`connection_class` packing with hiredis, when its options let hiredis pack alike."""
    if issubclass(connection_class, HiredisPacking) or not _strict_utf8(connection_kwargs):
        return connection_class
    packing = _packing_classes.get(connection_class)
    if packing is None:
        name = f"Hiredis{connection_class.__name__}"
        packing = type(name, (HiredisPacking, connection_class), {"__module__": __name__})
        _packing_classes[connection_class] = packing
    return packing
