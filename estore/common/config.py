"""Settings: every `ESTORE_*` environment variable, read once into a frozen dataclass."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from estore.common.tls import TlsFiles


# Inventory's longest stock hold (ReserveStock ttl): a longer one would refuse every order.
MAX_RESERVATION_TTL_SECONDS = 86400
# The event loops a service can run on: uvloop (libuv, the default) or the standard library's.
EVENT_LOOPS = ("uvloop", "asyncio")


class ConfigError(ValueError):
    """An environment variable holds a value we cannot use."""


class _Env:
    """Typed reads of `ESTORE_*` variables with clear errors."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str, default: str = "") -> str:
        return self._environ.get(name, "").strip() or default

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default).lower()
        if value not in choices:
            raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}")
        return value

    def optional(self, name: str) -> str | None:
        return self._environ.get(name, "").strip() or None

    def path(self, name: str) -> Path | None:
        raw = self.optional(name)
        return Path(raw) if raw else None

    def integer(
        self, name: str, default: int, *, minimum: int = 0, maximum: int = 2**31, hint: str = ""
    ) -> int:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not an integer") from None
        if not minimum <= value <= maximum:
            raise ConfigError(f"{name}={value} is outside {minimum}..{maximum}{hint}")
        return value

    def optional_integer(self, name: str, *, minimum: int, maximum: int) -> int | None:
        if not self._environ.get(name, "").strip():
            return None
        return self.integer(name, minimum, minimum=minimum, maximum=maximum)

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a number") from None
        if value < minimum:
            raise ConfigError(f"{name}={value} is below {minimum}")
        return value


def _staleness(env: _Env, poll_interval: float) -> float:
    name = "ESTORE_REVOCATION_MAX_STALENESS_SECONDS"
    staleness = env.number(name, 4.0, minimum=0.1)
    if staleness <= poll_interval:  # every poll would find admin powers already suspended
        raise ConfigError(
            f"{name}={staleness} must exceed ESTORE_REVOCATION_POLL_INTERVAL_SECONDS"
            f"={poll_interval}"
        )
    return staleness


@dataclass(frozen=True)
class Settings:
    """Everything the services and the CLI read from the environment."""

    data_dir: Path
    users_database_url: str | None
    inventory_redis_url: str | None
    payments_redis_url: str | None
    host: str
    users_port: int
    inventory_port: int
    payments_port: int
    users_metrics_port: int
    inventory_metrics_port: int
    payments_metrics_port: int
    inventory_target: str
    users_target: str
    jwt_private_key_file: Path
    jwt_public_key_file: Path
    jwt_issuer: str
    jwt_audience: str
    access_token_ttl_seconds: int
    refresh_token_ttl_seconds: int
    revocation_poll_interval_seconds: float
    revocation_max_staleness_seconds: float
    service_token: str | None
    bcrypt_rounds: int
    payments_fee_bps: int
    currency: str
    reservation_ttl_seconds: int
    inventory_deadline_seconds: float
    payments_processor_latency_seconds: float
    payments_lease_seconds: int
    payments_sweep_interval_seconds: float
    smtp_url: str | None
    mail_outbox: Path
    bootstrap_admin_email: str | None
    bootstrap_admin_password: str | None
    health_probe_interval_seconds: float
    shutdown_grace_seconds: float
    log_level: str
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_ca_file: Path | None = None
    page_token_secret: str | None = None
    # Limits that keep one caller from taking a service down for everyone (docs/operations.md).
    max_concurrent_rpcs: int = 1000
    max_message_bytes: int | None = None  # None: each service's own default
    redis_max_connections: int = 50
    pool_timeout_seconds: float = 2.0
    inventory_max_watchers: int = 1000
    # Products each Inventory process keeps serialized in its near cache (0: none).
    inventory_cache_products: int = 10_000
    # Accounts each UserService process keeps, following their changes (0: none).
    users_cache_accounts: int = 10_000
    event_loop: str = "uvloop"  # one of EVENT_LOOPS: what `estore serve` runs its services on

    @property
    def tls(self) -> TlsFiles:
        """The TLS files (TLS is off unless a certificate is configured)."""
        from estore.common.tls import TlsFiles  # tls imports ConfigError from here

        return TlsFiles(self.tls_cert_file, self.tls_key_file, self.tls_ca_file)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from `environ` (default `os.environ`); ConfigError on bad values."""
        env = _Env(os.environ if environ is None else environ)
        data_dir = Path(env.text("ESTORE_DATA_DIR", ".estore"))
        redis_url = env.optional("ESTORE_REDIS_URL")
        currency = env.text("ESTORE_CURRENCY", "USD").upper()
        if len(currency) != 3 or not currency.isalpha():
            raise ConfigError(f"ESTORE_CURRENCY={currency!r} is not an ISO 4217 code")
        keys = data_dir / "keys"
        inventory_port = env.integer("ESTORE_INVENTORY_PORT", 50052, maximum=65535)
        users_port = env.integer("ESTORE_USERS_PORT", 50051, maximum=65535)
        poll_interval = env.number("ESTORE_REVOCATION_POLL_INTERVAL_SECONDS", 1.0, minimum=0.05)
        return cls(
            data_dir=data_dir,
            users_database_url=env.optional("ESTORE_USERS_DATABASE_URL"),
            inventory_redis_url=env.optional("ESTORE_INVENTORY_REDIS_URL") or redis_url,
            payments_redis_url=env.optional("ESTORE_PAYMENTS_REDIS_URL") or redis_url,
            host=env.text("ESTORE_HOST", "0.0.0.0"),  # noqa: S104 - a server listens on all
            users_port=users_port,
            inventory_port=inventory_port,
            payments_port=env.integer("ESTORE_PAYMENTS_PORT", 50053, maximum=65535),
            users_metrics_port=env.integer("ESTORE_USERS_METRICS_PORT", 9451, maximum=65535),
            inventory_metrics_port=env.integer(
                "ESTORE_INVENTORY_METRICS_PORT", 9452, maximum=65535
            ),
            payments_metrics_port=env.integer("ESTORE_PAYMENTS_METRICS_PORT", 9453, maximum=65535),
            inventory_target=env.text("ESTORE_INVENTORY_TARGET", f"localhost:{inventory_port}"),
            users_target=env.text("ESTORE_USERS_TARGET", f"localhost:{users_port}"),
            jwt_private_key_file=Path(
                env.text("ESTORE_JWT_PRIVATE_KEY_FILE", str(keys / "jwt_private.pem"))
            ),
            jwt_public_key_file=Path(
                env.text("ESTORE_JWT_PUBLIC_KEY_FILE", str(keys / "jwt_public.pem"))
            ),
            jwt_issuer=env.text("ESTORE_JWT_ISSUER", "estore"),
            jwt_audience=env.text("ESTORE_JWT_AUDIENCE", "estore"),
            access_token_ttl_seconds=env.integer("ESTORE_ACCESS_TOKEN_TTL_SECONDS", 300, minimum=1),
            refresh_token_ttl_seconds=env.integer(
                "ESTORE_REFRESH_TOKEN_TTL_SECONDS", 30 * 86400, minimum=60
            ),
            revocation_poll_interval_seconds=poll_interval,
            revocation_max_staleness_seconds=_staleness(env, poll_interval),
            service_token=env.optional("ESTORE_SERVICE_TOKEN"),
            bcrypt_rounds=env.integer("ESTORE_BCRYPT_ROUNDS", 12, minimum=4, maximum=31),
            payments_fee_bps=env.integer("ESTORE_PAYMENTS_FEE_BPS", 500, maximum=10000),
            currency=currency,
            reservation_ttl_seconds=env.integer(
                "ESTORE_RESERVATION_TTL_SECONDS",
                900,
                minimum=1,
                maximum=MAX_RESERVATION_TTL_SECONDS,
                hint=" (Inventory holds stock for at most 24 hours)",
            ),
            inventory_deadline_seconds=env.number(
                "ESTORE_INVENTORY_DEADLINE_SECONDS", 5.0, minimum=0.01
            ),
            payments_processor_latency_seconds=env.number(
                "ESTORE_PAYMENTS_PROCESSOR_LATENCY_SECONDS", 0.0
            ),
            payments_lease_seconds=env.integer("ESTORE_PAYMENTS_LEASE_SECONDS", 30, minimum=1),
            payments_sweep_interval_seconds=env.number(
                "ESTORE_PAYMENTS_SWEEP_INTERVAL_SECONDS", 5.0, minimum=0.05
            ),
            smtp_url=env.optional("ESTORE_SMTP_URL"),
            mail_outbox=Path(env.text("ESTORE_MAIL_OUTBOX", str(data_dir / "outbox.jsonl"))),
            bootstrap_admin_email=env.optional("ESTORE_BOOTSTRAP_ADMIN_EMAIL"),
            bootstrap_admin_password=env.optional("ESTORE_BOOTSTRAP_ADMIN_PASSWORD"),
            health_probe_interval_seconds=env.number(
                "ESTORE_HEALTH_PROBE_INTERVAL_SECONDS", 2.0, minimum=0.05
            ),
            shutdown_grace_seconds=env.number("ESTORE_SHUTDOWN_GRACE_SECONDS", 10.0),
            log_level=env.text("ESTORE_LOG_LEVEL", "INFO").upper(),
            tls_cert_file=env.path("ESTORE_TLS_CERT_FILE"),
            tls_key_file=env.path("ESTORE_TLS_KEY_FILE"),
            tls_ca_file=env.path("ESTORE_TLS_CA_FILE"),
            page_token_secret=env.optional("ESTORE_PAGE_TOKEN_SECRET"),
            max_concurrent_rpcs=env.integer("ESTORE_MAX_CONCURRENT_RPCS", 1000, minimum=1),
            max_message_bytes=env.optional_integer(
                "ESTORE_MAX_MESSAGE_BYTES", minimum=1024, maximum=64 * 1024 * 1024
            ),
            redis_max_connections=env.integer("ESTORE_REDIS_MAX_CONNECTIONS", 50, minimum=2),
            pool_timeout_seconds=env.number("ESTORE_POOL_TIMEOUT_SECONDS", 2.0, minimum=0.01),
            inventory_max_watchers=env.integer("ESTORE_INVENTORY_MAX_WATCHERS", 1000, minimum=1),
            inventory_cache_products=env.integer(
                "ESTORE_INVENTORY_CACHE_PRODUCTS", 10_000, minimum=0, maximum=10_000_000
            ),
            users_cache_accounts=env.integer(
                "ESTORE_USERS_CACHE_ACCOUNTS", 10_000, minimum=0, maximum=10_000_000
            ),
            event_loop=env.choice("ESTORE_EVENT_LOOP", "uvloop", EVENT_LOOPS),
        )
