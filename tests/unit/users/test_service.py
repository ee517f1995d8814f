"""UserService's rules on in-memory fakes: tokens, sign-in, throttling and who may change what."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from estore.common.auth import Caller, TokenIssuer
from estore.common.errors import InvalidArgument
from estore.common.paging import PageTokens
from estore.users import errors
from estore.users.admins import ensure_admin
from estore.users.models import AdminOutcome, UserUpdate
from estore.users.passwords import PasswordHasher
from estore.users.service import UserService
from tests.unit.users.fakes import FakeMailer, FakeStore

PASSWORD = "correct horse"


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()


@pytest.fixture
def service(store: FakeStore, mailer: FakeMailer) -> UserService:
    issuer = TokenIssuer(Ed25519PrivateKey.generate(), issuer="estore", audience="estore")
    return UserService(
        store,
        PasswordHasher(4),
        mailer,
        issuer,
        PageTokens(b"k" * 32),
        access_token_ttl_seconds=60,
    )


def _as(user_id: int, *, admin: bool = False) -> Caller:
    return Caller(user_id=user_id, is_admin=admin, is_verified=True)


async def test_register_keeps_only_the_digest_and_mails_the_token(
    service: UserService, store: FakeStore, mailer: FakeMailer
) -> None:
    user = await service.register(" Ana@Example.com", PASSWORD)
    [mail] = mailer.sent
    assert (mail.to, str(mail.kind)) == ("ana@example.com", "verify_email")
    assert list(store.tokens) == [hashlib.sha256(mail.token.encode()).digest()]
    assert store.hashes[user.id] != PASSWORD
    assert (await service.verify_email(mail.token)).is_verified


async def test_a_mail_that_cannot_be_sent_does_not_undo_the_account(
    service: UserService, store: FakeStore, mailer: FakeMailer
) -> None:
    mailer.broken = True
    user = await service.register("ana@example.com", PASSWORD)
    assert store.users[user.id].email == "ana@example.com"


async def test_failed_sign_ins_are_counted_and_then_throttled(
    service: UserService, store: FakeStore
) -> None:
    await service.register("ana@example.com", PASSWORD)
    for email in ("ana@example.com", "nobody@example.com"):
        with pytest.raises(errors.InvalidCredentials):
            await service.login(email, "wrong password")
    assert store.failures == {"ana@example.com": 1, "nobody@example.com": 1}
    store.failures["ana@example.com"] = 5
    with pytest.raises(errors.TooManyLoginAttempts) as caught:
        await service.login("ana@example.com", PASSWORD)
    assert caught.value.retry_after_seconds == 43  # rounded up, never zero


async def test_sign_in_issues_a_token_for_active_accounts_only(
    service: UserService, store: FakeStore
) -> None:
    user = await service.register("ana@example.com", PASSWORD)
    signed_in = await service.login("ANA@example.com", PASSWORD)
    assert signed_in.user == user
    assert signed_in.access_token
    await store.update_flags(user.id, {"is_active": False})
    with pytest.raises(errors.UserInactive):
        await service.login("ana@example.com", PASSWORD)


async def test_tokens_are_told_apart_by_purpose_and_expiry(
    service: UserService, store: FakeStore, mailer: FakeMailer
) -> None:
    await service.register("ana@example.com", PASSWORD)
    verify_token = mailer.sent[-1].token
    with pytest.raises(errors.ResetTokenNotFound):
        await service.reset_password(verify_token, "new password")
    for token in store.tokens.values():
        token.expired = True
    with pytest.raises(errors.VerificationTokenExpired):
        await service.verify_email(verify_token)


async def test_only_an_admin_changes_flags(service: UserService, store: FakeStore) -> None:
    ana = await service.register("ana@example.com", PASSWORD)
    bob = await service.register("bob@example.com", PASSWORD)
    with pytest.raises(errors.AdminRequired):
        await service.update_user(_as(ana.id), UserUpdate(ana.id, ("is_admin",), is_admin=True))
    with pytest.raises(errors.UserNotFound):
        await service.update_user(_as(ana.id), UserUpdate(bob.id, ("is_active",)))
    # A token that still says admin is not enough once the account is no longer one.
    with pytest.raises(errors.AdminRequired):
        await service.update_user(
            _as(ana.id, admin=True), UserUpdate(ana.id, ("is_admin",), is_admin=True)
        )
    root = (await ensure_admin(store, PasswordHasher(4), "root@example.com", PASSWORD,
                               promote=False))[0]  # fmt: skip
    changed = await service.update_user(
        _as(root.id, admin=True), UserUpdate(bob.id, ("is_active",), is_active=False)
    )
    assert not changed.is_active
    assert not changed.is_admin


@pytest.mark.parametrize("paths", [(), ("email",), ("is_verified",), ("nickname",)])
async def test_masks_name_only_mutable_fields(service: UserService, paths) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await service.update_user(_as(1, admin=True), UserUpdate(1, paths))
    assert [v.field for v in caught.value.violations] == ["update_mask"]


async def test_ensure_admin_creates_promotes_or_leaves(store: FakeStore) -> None:
    hasher = PasswordHasher(4)
    user, outcome = await ensure_admin(store, hasher, "Root@Example.com", PASSWORD, promote=False)
    assert outcome is AdminOutcome.CREATED
    assert user.is_admin
    assert user.is_verified
    await store.update_flags(user.id, {"is_admin": False})
    _, outcome = await ensure_admin(store, hasher, "root@example.com", PASSWORD, promote=False)
    assert outcome is AdminOutcome.UNCHANGED
    assert not store.users[user.id].is_admin
    _, outcome = await ensure_admin(store, hasher, "root@example.com", "new password", promote=True)
    assert outcome is AdminOutcome.PROMOTED
    assert store.users[user.id].is_admin
    assert await hasher.verify("new password", store.hashes[user.id])


async def test_a_successful_check_is_not_left_counted_as_a_failure(
    service: UserService, store: FakeStore
) -> None:
    user = await service.register("ana@example.com", PASSWORD)
    for _ in range(4):
        with pytest.raises(errors.InvalidCredentials):
            await service.login("ana@example.com", "wrong password")
    await service.login("ana@example.com", PASSWORD)
    await service.change_password(_as(user.id), PASSWORD, "brand new pass")
    assert store.failures == {"ana@example.com": 4}


async def test_change_password_is_throttled_with_sign_ins(
    service: UserService, store: FakeStore
) -> None:
    user = await service.register("ana@example.com", PASSWORD)
    for _ in range(5):
        with pytest.raises(errors.InvalidCurrentPassword):
            await service.change_password(_as(user.id), "wrong password", "brand new pass")
    with pytest.raises(errors.TooManyLoginAttempts):
        await service.change_password(_as(user.id), PASSWORD, "brand new pass")
    with pytest.raises(errors.TooManyLoginAttempts):
        await service.login("ana@example.com", PASSWORD)


async def test_a_deactivated_account_keeps_its_password(
    service: UserService, store: FakeStore
) -> None:
    user = await service.register("ana@example.com", PASSWORD)
    await store.update_flags(user.id, {"is_active": False})
    with pytest.raises(errors.UserInactive):
        await service.change_password(_as(user.id), PASSWORD, "brand new pass")
    assert await PasswordHasher(4).verify(PASSWORD, store.hashes[user.id])


async def test_sign_in_brings_the_hash_to_the_configured_cost(
    service: UserService, store: FakeStore
) -> None:
    user = await service.register("ana@example.com", PASSWORD)
    store.hashes[user.id] = await PasswordHasher(5).hash(PASSWORD)
    await service.login("ana@example.com", PASSWORD)
    assert store.hashes[user.id].startswith("$2b$04$")
    assert await PasswordHasher(4).verify(PASSWORD, store.hashes[user.id])
    await service.login("ana@example.com", PASSWORD)
    assert store.rehashed == [user.id]  # once


@pytest.mark.parametrize("kind", ["verify_email", "reset_password"])
async def test_mail_requests_answer_before_looking_the_address_up(
    service: UserService, store: FakeStore, mailer: FakeMailer, kind: str
) -> None:
    await service.register("ana@example.com", PASSWORD)
    store.tokens.clear()  # as if the first mail were long ago
    mailer.sent.clear()
    mailer.held = asyncio.Event()
    request = (
        service.resend_verification if kind == "verify_email" else service.request_password_reset
    )
    # The answer must not wait for the mail (nor for the lookup): it is never sent here.
    await asyncio.wait_for(request("ana@example.com"), timeout=1)
    await asyncio.wait_for(request("ana@example.com"), timeout=1)
    assert mailer.sent == []
    mailer.held.set()
    await service.drain()
    assert [(str(m.kind), m.to) for m in mailer.sent] == [(kind, "ana@example.com")]


async def test_mail_work_that_fails_is_logged(
    service: UserService, store: FakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    async def unavailable(**_: object) -> None:
        raise errors.StoreUnavailable()

    store.get_credentials = unavailable  # type: ignore[method-assign]
    await service.request_password_reset("ana@example.com")
    await service.drain()
    assert [r.message for r in caplog.records] == ["background task failed"]
    assert caplog.records[0].exc_info is not None
