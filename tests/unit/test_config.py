"""Settings come from ESTORE_* variables with the spec's defaults, and bad values are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from estore.common.config import ConfigError, Settings


def test_defaults_match_the_spec() -> None:
    settings = Settings.from_env({})
    assert settings.data_dir == Path(".estore")
    assert (settings.users_port, settings.inventory_port, settings.payments_port) == (
        50051,
        50052,
        50053,
    )
    assert settings.inventory_target == "localhost:50052"
    assert settings.bcrypt_rounds == 12
    assert settings.payments_fee_bps == 500
    assert settings.currency == "USD"
    assert settings.reservation_ttl_seconds == 900
    assert settings.mail_outbox == Path(".estore/outbox.jsonl")
    assert settings.jwt_public_key_file == Path(".estore/keys/jwt_public.pem")
    assert settings.smtp_url is None


def test_access_follows_the_account_within_seconds_by_default() -> None:
    settings = Settings.from_env({"ESTORE_USERS_PORT": "6000"})
    assert settings.access_token_ttl_seconds == 300  # a few minutes, not an hour
    assert settings.refresh_token_ttl_seconds == 30 * 86400
    assert settings.users_target == "localhost:6000"
    assert settings.revocation_poll_interval_seconds == 1.0
    assert settings.revocation_max_staleness_seconds == 4.0


def test_a_staleness_limit_within_one_poll_is_refused() -> None:
    with pytest.raises(ConfigError, match="ESTORE_REVOCATION_MAX_STALENESS_SECONDS"):
        Settings.from_env(
            {
                "ESTORE_REVOCATION_POLL_INTERVAL_SECONDS": "2",
                "ESTORE_REVOCATION_MAX_STALENESS_SECONDS": "2",
            }
        )


def test_redis_url_applies_to_both_unless_overridden() -> None:
    settings = Settings.from_env(
        {"ESTORE_REDIS_URL": "redis://a:1/0", "ESTORE_PAYMENTS_REDIS_URL": "redis://b:2/0"}
    )
    assert settings.inventory_redis_url == "redis://a:1/0"
    assert settings.payments_redis_url == "redis://b:2/0"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ESTORE_USERS_PORT", "http"),
        ("ESTORE_USERS_PORT", "70000"),
        ("ESTORE_BCRYPT_ROUNDS", "2"),
        ("ESTORE_PAYMENTS_FEE_BPS", "-1"),
        ("ESTORE_CURRENCY", "dollars"),
        ("ESTORE_MAX_CONCURRENT_RPCS", "0"),
        ("ESTORE_MAX_MESSAGE_BYTES", "100"),
        ("ESTORE_INVENTORY_MAX_WATCHERS", "none"),
        ("ESTORE_REDIS_MAX_CONNECTIONS", "1"),
        ("ESTORE_POOL_TIMEOUT_SECONDS", "soon"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


@pytest.mark.parametrize("value", ["0", "86401", "604800"])
def test_a_reservation_ttl_inventory_would_refuse_is_refused_at_start(value: str) -> None:
    with pytest.raises(
        ConfigError, match=r"ESTORE_RESERVATION_TTL_SECONDS=\d+ is outside 1\.\.86400"
    ):
        Settings.from_env({"ESTORE_RESERVATION_TTL_SECONDS": value})
    assert (
        Settings.from_env({"ESTORE_RESERVATION_TTL_SECONDS": "86400"}).reservation_ttl_seconds
        == 86400
    )


def test_limits_default_to_sane_values_and_can_be_set() -> None:
    defaults = Settings.from_env({})
    assert defaults.max_concurrent_rpcs == 1000
    assert defaults.max_message_bytes is None  # each service's own default
    assert (defaults.redis_max_connections, defaults.pool_timeout_seconds) == (50, 2.0)
    assert defaults.inventory_max_watchers == 1000
    settings = Settings.from_env(
        {"ESTORE_MAX_MESSAGE_BYTES": "1048576", "ESTORE_INVENTORY_MAX_WATCHERS": "20"}
    )
    assert (settings.max_message_bytes, settings.inventory_max_watchers) == (1048576, 20)


def test_the_near_cache_size_defaults_to_ten_thousand_and_zero_turns_it_off() -> None:
    assert Settings.from_env({}).inventory_cache_products == 10_000
    off = Settings.from_env({"ESTORE_INVENTORY_CACHE_PRODUCTS": "0"})
    assert off.inventory_cache_products == 0
    with pytest.raises(ConfigError, match="ESTORE_INVENTORY_CACHE_PRODUCTS"):
        Settings.from_env({"ESTORE_INVENTORY_CACHE_PRODUCTS": "-1"})
