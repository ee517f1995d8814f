"""How names split into the words ListProducts' name filter matches."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+")


def split_words(text_: str) -> list[str]:
    """The lower-cased words of a text, in order: runs of letters and digits."""
    return _WORD.findall(text_.lower())


def name_words(text_: str) -> list[str]:
    """The distinct lower-cased words of a text, sorted."""
    return sorted(set(split_words(text_)))
