"""Session-wide test harness: throwaway PostgreSQL and Redis, keys, and per-test isolation."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
import redis as redis_sync
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from estore.common.auth import TokenIssuer, TokenVerifier
from estore.embedded.postgres import EmbeddedPostgres
from estore.embedded.redis import EmbeddedRedis
from estore.embedded.redis_cluster import EmbeddedRedisCluster

ISSUER = "estore"
AUDIENCE = "estore"
MACHINE_PORTS = {5432, 6379}  # the machine's own servers: never ours


@pytest.fixture(scope="session")
def scratch_dir() -> Iterator[Path]:
    """A temporary folder that an unprivileged PostgreSQL user can reach."""
    folder = Path(tempfile.mkdtemp(prefix="estore-test-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(scratch_dir: Path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server for the whole session, on a free port."""
    server = EmbeddedPostgres(scratch_dir / "postgres", durable=False)
    assert server.port not in MACHINE_PORTS
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(scratch_dir: Path) -> Iterator[EmbeddedRedis]:
    """A Redis server for the whole session, on a free port."""
    server = EmbeddedRedis(scratch_dir / "redis")
    assert server.port not in MACHINE_PORTS
    server.start()
    yield server
    server.stop()


@pytest.fixture
def database_url(postgres_server: EmbeddedPostgres) -> Iterator[str]:
    """A fresh, empty database for one test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.url(name)
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_cluster(scratch_dir: Path) -> Iterator[EmbeddedRedisCluster]:
    """A Redis Cluster (three masters, three replicas) for the whole session, on free ports."""
    cluster = EmbeddedRedisCluster(scratch_dir / "redis-cluster")
    assert not set(cluster.ports) & MACHINE_PORTS
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[EmbeddedRedisCluster]:
    """A 3+3 cluster of the test's own, for a test that kills its nodes (not the session's)."""
    cluster = EmbeddedRedisCluster(tmp_path / "cluster")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_kind(request: pytest.FixtureRequest) -> str:
    """ "redis" (a single server) or "cluster": what redis_url names."""
    return str(getattr(request, "param", "redis"))


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, redis_kind: str) -> str:
    """The session's Redis, or its Redis Cluster, emptied for this test."""
    if redis_kind == "cluster":
        cluster: EmbeddedRedisCluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        return cluster.url()
    server: EmbeddedRedis = request.getfixturevalue("redis_server")
    with redis_sync.Redis.from_url(server.url()) as client:
        client.flushall()
    return server.url()


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def token_issuer(signing_key: Ed25519PrivateKey) -> TokenIssuer:
    return TokenIssuer(signing_key, issuer=ISSUER, audience=AUDIENCE)


@pytest.fixture(scope="session")
def token_verifier(signing_key: Ed25519PrivateKey) -> TokenVerifier:
    return TokenVerifier(signing_key.public_key(), issuer=ISSUER, audience=AUDIENCE)


# UserService: a migrated template database, copied for each test that needs the users schema.


@pytest.fixture(scope="session")
async def users_template(postgres_server: EmbeddedPostgres) -> str:
    """The name of a database holding UserService's migrations (never used directly)."""
    from estore.users.migrate import migrate

    name = f"users_template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    await migrate(postgres_server.url(name))
    return name


@pytest.fixture
def users_database_url(postgres_server: EmbeddedPostgres, users_template: str) -> Iterator[str]:
    """A fresh database for one test with UserService's migrations applied."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{users_template}"')
    yield postgres_server.url(name)
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Inventory and Payments follow UserService's revocation feed: one UserService serves it to all.


@pytest.fixture(scope="session")
async def user_service_target(
    postgres_server: EmbeddedPostgres,
    users_template: str,
    scratch_dir: Path,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
) -> AsyncIterator[str]:
    """Where a UserService runs for the whole session (on a database of its own)."""
    from estore.common.config import Settings
    from estore.common.server import GrpcServer
    from estore.users.app import create_service

    name = f"users_feed_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{users_template}"')
    settings = Settings.from_env(
        {
            "ESTORE_USERS_DATABASE_URL": postgres_server.url(name),
            "ESTORE_DATA_DIR": str(scratch_dir / "users-feed"),
            "ESTORE_BCRYPT_ROUNDS": "4",
        }
    )
    server = GrpcServer(await create_service(settings, issuer=token_issuer), token_verifier)
    port = await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(grace=0)


@pytest.fixture
def feed_env(user_service_target: str, token_issuer: TokenIssuer) -> dict[str, str]:
    """Settings for a service following the session's UserService, as production wires it.

    Where the feed is not what a test is about, its staleness limit is generous, so that a
    loaded machine cannot suspend the admin calls the test makes.
    """
    token = token_issuer.mint_service_token("tests", ttl_seconds=3600).token
    return {
        "ESTORE_USERS_TARGET": user_service_target,
        "ESTORE_SERVICE_TOKEN": token,
        "ESTORE_REVOCATION_MAX_STALENESS_SECONDS": "30",
    }
