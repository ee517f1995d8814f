"""Mail requests start at most a bounded number of background tasks; beyond it, work is dropped."""

from __future__ import annotations

import asyncio

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from estore.common.auth import TokenIssuer
from estore.common.paging import PageTokens
from estore.users.background import MAX_RUNNING
from estore.users.models import Credentials
from estore.users.passwords import PasswordHasher
from estore.users.service import UserService
from tests.unit.users.fakes import FakeMailer, FakeStore


class SlowStore(FakeStore):
    """Account lookups that wait until `released` is set, counting how many began."""

    def __init__(self) -> None:
        super().__init__()
        self.released = asyncio.Event()
        self.lookups = 0

    async def get_credentials(
        self, *, email: str | None = None, user_id: int | None = None
    ) -> Credentials | None:
        self.lookups += 1
        await self.released.wait()
        return None


@pytest.mark.parametrize("kind", ["verify_email", "reset_password"])
async def test_a_flood_of_mail_requests_runs_a_bounded_number_of_tasks(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = SlowStore()
    issuer = TokenIssuer(Ed25519PrivateKey.generate(), issuer="estore", audience="estore")
    service = UserService(
        store, PasswordHasher(4), FakeMailer(), issuer, PageTokens(b"k" * 32),
        access_token_ttl_seconds=60,
    )  # fmt: skip
    request = (
        service.resend_verification if kind == "verify_email" else service.request_password_reset
    )
    for i in range(MAX_RUNNING + 50):  # every answer comes at once, revealing nothing
        await asyncio.wait_for(request(f"user{i}@example.com"), timeout=1)
    await asyncio.sleep(0.05)  # let the tasks that were started reach the store
    assert store.lookups == MAX_RUNNING
    assert [r.message for r in caplog.records].count(
        f"background work dropped: {MAX_RUNNING} tasks running"
    ) == 1

    store.released.set()
    await service.drain()
    await request("late@example.com")  # room again once the flood has drained
    await service.drain()
    assert store.lookups == MAX_RUNNING + 1
