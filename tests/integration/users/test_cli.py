"""`estore migrate` and `estore users create-admin` against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import bcrypt
import psycopg
import pytest

from estore.cli import main

ESTORE = Path(sys.executable).parent / "estore"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> str:
    monkeypatch.setenv("ESTORE_USERS_DATABASE_URL", database_url)
    monkeypatch.setenv("ESTORE_BCRYPT_ROUNDS", "4")
    monkeypatch.setenv("ESTORE_DATA_DIR", str(tmp_path))
    return database_url


def _account(url: str, email: str) -> tuple[bool, bool, bool, str] | None:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT is_admin, is_verified, is_active, hashed_password FROM users WHERE email = %s",
            (email,),
        ).fetchone()
    return row


async def _estore(*argv: str) -> int:
    # In a thread: `main` runs its own event loop with asyncio.run.
    return await asyncio.to_thread(main, list(argv))


async def test_migrate_applies_then_finds_nothing_to_do(env: str, capsys) -> None:
    assert await _estore("migrate") == 0
    assert "applied 0001, 0002, 0003, 0004" in capsys.readouterr().out
    assert await _estore("migrate") == 0
    assert "up to date" in capsys.readouterr().out


async def test_create_admin_prompts_twice_then_promotes_an_existing_account(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    answers = iter(["first password", "first password", "second password", "second password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert await _estore("users", "create-admin", "--email", "Root@Example.com") == 0
    assert "created admin root@example.com" in capsys.readouterr().out
    with psycopg.connect(env, autocommit=True) as connection:
        connection.execute("UPDATE users SET is_admin = false, is_active = false")
    assert await _estore("users", "create-admin", "--email", "root@example.com") == 0
    assert "promoted admin root@example.com" in capsys.readouterr().out
    account = _account(env, "root@example.com")
    assert account is not None
    assert account[:3] == (True, True, True)
    assert bcrypt.checkpw(b"second password", account[3].encode())


async def test_create_admin_refuses_differing_or_bad_passwords(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    answers = iter(["one password", "another password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert await _estore("users", "create-admin", "--email", "root@example.com") == 1
    assert "differ" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert await _estore("users", "create-admin", "--email", "root@example.com",
                         "--password-stdin") == 1  # fmt: skip
    assert "password" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("long enough\n"))
    assert await _estore("users", "create-admin", "--email", "root", "--password-stdin") == 1
    assert "email" in capsys.readouterr().err
    assert _account(env, "root@example.com") is None


def test_create_admin_reads_stdin_in_a_script(database_url: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ESTORE_USERS_DATABASE_URL": database_url,
        "ESTORE_BCRYPT_ROUNDS": "4",
        "ESTORE_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [str(ESTORE), "users", "create-admin", "--email", "ops@example.com", "--password-stdin"],
        input="a strong password\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    account = _account(database_url, "ops@example.com")
    assert account is not None
    assert account[:3] == (True, True, True)
    assert bcrypt.checkpw(b"a strong password", account[3].encode())


def test_commands_without_a_database_url_say_so(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("ESTORE_USERS_DATABASE_URL", raising=False)
    assert main(["migrate"]) == 2
    assert "ESTORE_USERS_DATABASE_URL" in capsys.readouterr().err
