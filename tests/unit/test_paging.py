"""Page tokens are opaque, round-trip, and refuse tampering or reuse with another query."""

from __future__ import annotations

import pytest

from estore.common.errors import InvalidArgument
from estore.common.paging import MAX_PAGE_SIZE, PageTokens, page_size


def test_page_size_defaults_and_clamps() -> None:
    assert page_size(0) == 50
    assert page_size(7) == 7
    assert page_size(10_000) == MAX_PAGE_SIZE
    with pytest.raises(InvalidArgument):
        page_size(-1)


def test_tokens_round_trip_and_refuse_tampering() -> None:
    tokens = PageTokens(b"s" * 32)
    token = tokens.encode({"after": "p-17", "score": 1234}, scope="price asc")
    assert tokens.decode(token, scope="price asc") == {"after": "p-17", "score": 1234}
    assert tokens.decode("", scope="price asc") is None
    for bad in (token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1], "garbage!", "e30"):
        with pytest.raises(InvalidArgument) as caught:
            tokens.decode(bad, scope="price asc")
        assert caught.value.reason == "INVALID_PAGE_TOKEN"
    with pytest.raises(InvalidArgument):
        tokens.decode(token, scope="name asc")
    with pytest.raises(InvalidArgument):
        PageTokens(b"t" * 32).decode(token, scope="price asc")
