"""`make breaking` fails on a change that breaks clients of the released contract, and only then.

Each test copies the contract (protos/, third_party/, buf.yaml, contract/baseline.binpb and the
Makefile) into a scratch folder, edits a proto there, and runs the Makefile's own target.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
INVENTORY = "protos/estore/inventory/v1/inventory_service.proto"
USERS = "protos/estore/users/v1/user_service.proto"


def breaking(workdir: Path) -> subprocess.CompletedProcess[str]:
    """`make breaking` in `workdir`, with this virtual environment's buf."""
    return subprocess.run(
        ["make", "-s", "-o", ".venv/.installed", f"BIN={BIN}", "breaking"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def contract(tmp_path: Path) -> Path:
    for folder in ("protos", "third_party", "contract"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    for name in ("buf.yaml", "Makefile"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def edit(contract: Path, path: str, old: str, new: str) -> None:
    text = (contract / path).read_text()
    assert old in text
    (contract / path).write_text(text.replace(old, new, 1))


def test_the_contract_as_it_is_passes(contract: Path) -> None:
    result = breaking(contract)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("path", "old", "new", "complaint"),
    [
        (INVENTORY, "int32 reserved = 6", "int64 reserved = 6", "changed type"),
        (INVENTORY, "string description = 9", "string summary = 9", "changed name"),
        (USERS, "rpc GetUser(GetUserRequest) returns (GetUserResponse);", "", "GetUser"),
        (USERS, "package estore.users.v1;", "package estore.accounts.v1;", "package"),
    ],
    ids=["field-type", "field-rename", "rpc-removed", "package-renamed"],
)
def test_a_change_that_breaks_clients_fails(
    contract: Path, path: str, old: str, new: str, complaint: str
) -> None:
    edit(contract, path, old, new)
    result = breaking(contract)
    assert result.returncode != 0
    assert complaint in result.stdout + result.stderr


def test_additions_pass(contract: Path) -> None:
    # What the contract may always gain: a field, an RPC with its messages, an enum value. The
    # names and numbers are far from any real one, so the test holds as the contract grows.
    edit(
        contract,
        "protos/estore/common/v1/money.proto",
        "message Money {\n",
        "message Money {\n  // Added.\n  string test_only_added = 1000 [debug_redact = true];\n",
    )
    edit(
        contract,
        USERS,
        "service UserService {\n",
        "service UserService {\n"
        "  // Added.\n"
        "  rpc TestOnlyAdded(TestOnlyAddedRequest) returns (TestOnlyAddedResponse);\n",
    )
    (contract / USERS).write_text(
        (contract / USERS).read_text() + "\n// Request.\nmessage TestOnlyAddedRequest {}\n\n"
        "// Response.\nmessage TestOnlyAddedResponse {}\n"
    )
    edit(
        contract,
        "protos/estore/common/v1/error_reason.proto",
        "  ERROR_REASON_UNSPECIFIED = 0;\n",
        "  ERROR_REASON_UNSPECIFIED = 0;\n  // Added.\n  TEST_ONLY_ADDED_REASON = 100000;\n",
    )
    result = breaking(contract)
    assert result.returncode == 0, result.stdout + result.stderr
