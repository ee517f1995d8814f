"""Page-token secrets: configured, or made once and shared through the store."""

from __future__ import annotations

from typing import cast

import pytest

from estore.common.config import ConfigError, Settings
from estore.inventory.app import build_servicer
from estore.inventory.rules_listing import PageTokenSource
from estore.inventory.store import InventoryStore


def test_the_secret_comes_from_the_environment() -> None:
    settings = Settings.from_env({"ESTORE_PAGE_TOKEN_SECRET": "s" * 32})
    assert settings.page_token_secret == "s" * 32
    assert Settings.from_env({}).page_token_secret is None


def test_a_short_configured_secret_is_refused() -> None:
    settings = Settings.from_env({"ESTORE_PAGE_TOKEN_SECRET": "short"})
    with pytest.raises(ConfigError, match="ESTORE_PAGE_TOKEN_SECRET"):
        build_servicer(cast(InventoryStore, object()), settings)


async def test_a_configured_secret_is_used_and_the_shared_one_fetched_once() -> None:
    fetched: list[int] = []

    async def shared() -> bytes:
        fetched.append(1)
        return b"k" * 32

    configured = await PageTokenSource("c" * 32, shared).tokens()
    token = configured.encode({"m": "x"}, "scope")
    assert fetched == []
    source = PageTokenSource(None, shared)
    first, second = await source.tokens(), await source.tokens()
    assert first is second
    assert fetched == [1]
    with pytest.raises(Exception, match="page_token"):
        first.decode(token, "scope")  # signed with another secret
