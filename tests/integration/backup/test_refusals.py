"""What backup and restore refuse to do: damaged backups, unconfirmed wipes, full folders."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from estore.cli import main
from estore.stack import StoreUrls, write_stack
from tests.integration.backup.conftest import Stores
from tests.integration.backup.contents import fill_inventory, fill_payments

LATE_PRODUCT = "inv:{inv}:product:late"


class Terminal(io.StringIO):
    """Stdin that claims to be a terminal, with the operator's answer already typed."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def backup(stores: Stores, tmp_path: Path) -> Path:
    """A backup of filled stores, then one more product that a restore would lose."""
    fill_inventory(stores.inventory)
    fill_payments(stores.payments)
    folder = tmp_path / "backup"
    assert main(["backup", str(folder)]) == 0
    stores.inventory.hset(LATE_PRODUCT, "name", "made after the backup")
    return folder


def test_a_tampered_file_is_refused_before_anything_is_wiped(
    stores: Stores, backup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (backup / "redis-inventory.rdb").open("r+b") as rdb:
        rdb.seek(20)
        rdb.write(b"X")
    assert main(["restore", str(backup), "--yes"]) == 1
    assert "redis-inventory.rdb does not match its checksum" in capsys.readouterr().err
    assert stores.inventory.exists(LATE_PRODUCT)

    (backup / "manifest.json").unlink()
    assert main(["restore", str(backup), "--yes"]) == 1
    assert "not a finished `estore backup` folder" in capsys.readouterr().err


def test_restore_asks_first_and_refuses_when_nobody_can_answer(
    stores: Stores,
    backup: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))  # piped, so not a confirmation
    assert main(["restore", str(backup)]) == 1
    assert "pass --yes" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", Terminal("no\n"))
    assert main(["restore", str(backup)]) == 1
    assert "cancelled" in capsys.readouterr().err
    assert stores.inventory.exists(LATE_PRODUCT)

    monkeypatch.setattr("sys.stdin", Terminal("yes\n"))
    assert main(["restore", str(backup)]) == 0
    assert not stores.inventory.exists(LATE_PRODUCT)
    assert stores.inventory.exists("inv:{inv}:product:p1")


def test_backup_refuses_a_folder_with_something_in_it_unless_forced(
    stores: Stores, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "busy"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert main(["backup", str(folder)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert not (folder / "manifest.json").exists()
    assert main(["backup", str(folder), "--force"]) == 0
    assert (folder / "manifest.json").exists()
    assert (folder / "notes.txt").read_text() == "mine"


def test_commands_find_the_stores_of_a_running_estore_up(
    no_store_env: Path,
    users_database_url: str,
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["backup", str(tmp_path / "none")]) == 2
    assert "ESTORE_USERS_DATABASE_URL" in capsys.readouterr().err

    no_store_env.mkdir()
    write_stack(no_store_env, StoreUrls(users_database_url, redis_url, redis_url))  # as `up` does
    assert main(["backup", str(tmp_path / "found")]) == 0
    manifest = json.loads((tmp_path / "found" / "manifest.json").read_text())
    assert manifest["postgres"]["source"] == users_database_url
    assert manifest["redis"][0]["source"] == redis_url
