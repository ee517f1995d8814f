"""The Node client (clients/node): stubs generated from protos/ run the whole journey.

`npm ci` installs the locked packages (once per lockfile: a stamp in node_modules remembers it),
`buf generate --template buf.gen.es.yaml` writes the stubs, and `node journey.js` runs against
the three real services of this process, decoding ErrorInfo and BadRequest from failures.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from estore.common.auth import TokenIssuer, TokenVerifier
from tests.e2e.suite import ADMIN_EMAIL, ADMIN_PASSWORD, running_suite

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "node"
BUF = str(Path(sys.executable).parent / "buf")
STAMP = CLIENT / "node_modules" / ".estore-lock-sha256"


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: run scripts/ensure_system_deps.sh (or make test)"
    return path


@pytest.fixture(scope="module")
def node_client() -> Path:
    """clients/node with its locked packages installed and its stubs generated."""
    lock = hashlib.sha256((CLIENT / "package-lock.json").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != lock:
        npm = [_tool("npm"), "ci", "--no-audit", "--no-fund", "--prefer-offline"]
        subprocess.run(npm, cwd=CLIENT, check=True, timeout=300)
        STAMP.write_text(lock)
    shutil.rmtree(CLIENT / "gen", ignore_errors=True)
    generate = [BUF, "generate", "--template", "buf.gen.es.yaml"]
    subprocess.run(generate, cwd=ROOT, check=True, timeout=120)
    return CLIENT


def test_the_stubs_cover_every_proto_and_the_error_details(node_client: Path) -> None:
    generated = {
        p.relative_to(node_client / "gen").as_posix()
        for p in (node_client / "gen").rglob("*_pb.js")
    }
    ours = {
        p.relative_to(ROOT / "protos").as_posix().replace(".proto", "_pb.js")
        for p in (ROOT / "protos").rglob("*.proto")
    }
    assert ours <= generated
    assert "google/rpc/error_details_pb.js" in generated
    assert (node_client / "gen/estore/inventory/v1/inventory_service_pb.d.ts").exists()


async def test_the_node_journey_runs_against_the_real_services(
    node_client: Path,
    tmp_path: Path,
    users_database_url: str,
    redis_url: str,
    token_issuer: TokenIssuer,
    token_verifier: TokenVerifier,
) -> None:
    async with running_suite(
        tmp_path, users_database_url, redis_url, token_issuer, token_verifier
    ) as suite:
        env = {
            **os.environ,
            "USERS": suite.targets["users"],
            "INVENTORY": suite.targets["inventory"],
            "PAYMENTS": suite.targets["payments"],
            "ESTORE_MAIL_OUTBOX": str(suite.settings.mail_outbox),
            "ADMIN_EMAIL": ADMIN_EMAIL,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
        # A subprocess on the event loop: the servers it calls run on this same loop.
        node = await asyncio.create_subprocess_exec(
            _tool("node"),
            "journey.js",
            cwd=node_client,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(node.communicate(), timeout=90)
    assert node.returncode == 0, err.decode()
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report["journey"] == "ok"
    order = report["order"]
    assert order["status"] == "ORDER_STATUS_REFUNDED"
    # int64 money travels as a JSON string, never a lossy number.
    assert order["total"] == {"currencyCode": "USD", "minorUnits": "6064"}
    assert [(i["quantity"], i["price"]["minorUnits"]) for i in order["items"]] == [
        (3, "3375"), (1, "2400"),
    ]  # fmt: skip
    assert report["errors"] == [
        {
            "code": "InvalidArgument",
            "reason": "INVALID_FIELD",
            "violations": [{"field": "page_size", "description": "must not be negative"}],
        },
        {
            "code": "FailedPrecondition",
            "reason": "INSUFFICIENT_STOCK",
            "violations": [{"field": "items[1].quantity", "description": "not enough stock"}],
        },
    ]
