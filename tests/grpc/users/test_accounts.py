"""GetCurrentUser, GetUser, ListUsers and UpdateUser: who sees and changes which account."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from estore.common.auth import TokenIssuer
from generated.estore.users.v1 import user_service_pb2 as users_pb
from tests.grpc.users.conftest import ADMIN_EMAIL, Users, fails
from tests.helpers import bearer

NOT_FOUND = grpc.StatusCode.NOT_FOUND
DENIED = grpc.StatusCode.PERMISSION_DENIED
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def _update(
    user_id: int, paths: list[str], *, is_active: bool = False, is_admin: bool = False
) -> users_pb.UpdateUserRequest:
    return users_pb.UpdateUserRequest(
        user=users_pb.User(id=user_id, is_active=is_active, is_admin=is_admin),
        update_mask=field_mask_pb2.FieldMask(paths=paths),
    )


async def test_get_current_user_returns_the_caller(users: Users) -> None:
    user = await users.register("ana@example.com")
    reply = await users.stub.GetCurrentUser(
        users_pb.GetCurrentUserRequest(), metadata=await users.sign_in("ana@example.com")
    )
    assert reply.user == user


async def test_get_current_user_needs_a_good_token_of_an_existing_user(
    users: Users, token_issuer: TokenIssuer
) -> None:
    request = users_pb.GetCurrentUserRequest()
    await fails(
        users.stub.GetCurrentUser(request), grpc.StatusCode.UNAUTHENTICATED, "AUTH_TOKEN_MISSING"
    )
    await fails(
        users.stub.GetCurrentUser(request, metadata=bearer("not.a.jwt")),
        grpc.StatusCode.UNAUTHENTICATED,
        "AUTH_TOKEN_INVALID",
    )
    ghost = token_issuer.issue_access_token(999, is_admin=False, is_verified=True, ttl_seconds=60)
    await fails(
        users.stub.GetCurrentUser(request, metadata=bearer(ghost.token)),
        NOT_FOUND,
        "USER_NOT_FOUND",
    )


async def test_get_user_self_or_admin_only(users: Users) -> None:
    ana = await users.register("ana@example.com")
    bob = await users.register("bob@example.com")
    as_ana = await users.sign_in("ana@example.com")
    reply = await users.stub.GetUser(users_pb.GetUserRequest(user_id=ana.id), metadata=as_ana)
    assert reply.user == ana
    await fails(
        users.stub.GetUser(users_pb.GetUserRequest(user_id=bob.id), metadata=as_ana),
        NOT_FOUND,
        "USER_NOT_FOUND",
    )
    as_admin = await users.admin()
    reply = await users.stub.GetUser(users_pb.GetUserRequest(user_id=bob.id), metadata=as_admin)
    assert reply.user == bob
    await fails(
        users.stub.GetUser(users_pb.GetUserRequest(user_id=12345), metadata=as_admin),
        NOT_FOUND,
        "USER_NOT_FOUND",
    )
    details = await fails(
        users.stub.GetUser(users_pb.GetUserRequest(user_id=0), metadata=as_admin), INVALID
    )
    assert details.violated_fields == {"user_id"}


async def _register_many(users: Users, count: int) -> list[users_pb.User]:
    return [await users.register(f"user{i:02d}@example.com") for i in range(count)]


async def test_list_users_pages_through_everyone_by_id(users: Users) -> None:
    await _register_many(users, 7)
    as_admin = await users.admin()
    seen: list[users_pb.User] = []
    token, pages = "", 0
    while True:
        reply = await users.stub.ListUsers(
            users_pb.ListUsersRequest(page_size=3, page_token=token), metadata=as_admin
        )
        seen.extend(reply.users)
        pages += 1
        token = reply.next_page_token
        if not token:
            break
    assert pages == 3
    assert [u.id for u in seen] == sorted(u.id for u in seen)
    assert len(seen) == 8  # seven users and the bootstrap admin
    assert ADMIN_EMAIL in {u.email for u in seen}


async def test_list_users_filters(users: Users) -> None:
    created = await _register_many(users, 4)
    await users.register("carol_x@example.com")
    users.sql("UPDATE users SET is_verified = true WHERE id = %s", created[1].id)
    as_admin = await users.admin()

    async def emails(**filters: Any) -> list[str]:
        request = users_pb.ListUsersRequest(filter=users_pb.UserFilter(**filters))
        reply = await users.stub.ListUsers(request, metadata=as_admin)
        return [u.email for u in reply.users]

    assert await emails(is_admin=True) == [ADMIN_EMAIL]
    assert await emails(is_verified=True, is_admin=False) == ["user01@example.com"]
    assert await emails(email_prefix="USER0") == [f"user{i:02d}@example.com" for i in range(4)]
    assert await emails(email_prefix="carol_") == ["carol_x@example.com"]
    assert await emails(email_prefix="user_") == []  # '_' is a character, not a wildcard
    assert len(await emails(is_active=True)) == 6
    assert await emails(is_active=False) == []


async def test_list_users_refuses_bad_paging_and_non_admins(users: Users) -> None:
    await _register_many(users, 3)
    as_admin = await users.admin()
    first = await users.stub.ListUsers(users_pb.ListUsersRequest(page_size=1), metadata=as_admin)
    token = first.next_page_token
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    other_filter = users_pb.UserFilter(is_admin=False)
    no_filter = users_pb.UserFilter()
    for bad, user_filter in ((tampered, no_filter), (token, other_filter), ("garbage", no_filter)):
        request = users_pb.ListUsersRequest(page_size=1, page_token=bad, filter=user_filter)
        details = await fails(
            users.stub.ListUsers(request, metadata=as_admin), INVALID, "INVALID_PAGE_TOKEN"
        )
        assert details.violated_fields == {"page_token"}
    details = await fails(
        users.stub.ListUsers(users_pb.ListUsersRequest(page_size=-1), metadata=as_admin), INVALID
    )
    assert details.violated_fields == {"page_size"}
    long_prefix = users_pb.UserFilter(email_prefix="x" * 256)
    await fails(
        users.stub.ListUsers(users_pb.ListUsersRequest(filter=long_prefix), metadata=as_admin),
        INVALID,
    )
    as_user = await users.sign_in("user00@example.com")
    await fails(
        users.stub.ListUsers(users_pb.ListUsersRequest(), metadata=as_user),
        DENIED,
        "ADMIN_REQUIRED",
    )
    await fails(users.stub.ListUsers(users_pb.ListUsersRequest()), grpc.StatusCode.UNAUTHENTICATED)


async def test_an_admin_deactivates_and_promotes(users: Users) -> None:
    ana = await users.register("ana@example.com")
    as_admin = await users.admin()
    reply = await users.stub.UpdateUser(
        _update(ana.id, ["is_active"], is_active=False, is_admin=True), metadata=as_admin
    )
    assert (reply.user.is_active, reply.user.is_admin) == (False, False)  # only masked fields
    assert reply.user.HasField("updated_at")
    await fails(
        users.stub.Login(users_pb.LoginRequest(email="ana@example.com", password="correct horse")),
        DENIED,
        "USER_INACTIVE",
    )
    reply = await users.stub.UpdateUser(
        _update(ana.id, ["is_active", "is_admin"], is_active=True, is_admin=True), metadata=as_admin
    )
    assert (reply.user.is_active, reply.user.is_admin) == (True, True)
    await fails(
        users.stub.UpdateUser(_update(424242, ["is_active"]), metadata=as_admin),
        NOT_FOUND,
        "USER_NOT_FOUND",
    )


async def test_a_user_cannot_make_itself_admin_or_touch_others(users: Users) -> None:
    ana = await users.register("ana@example.com")
    bob = await users.register("bob@example.com")
    as_ana = await users.sign_in("ana@example.com")
    await fails(
        users.stub.UpdateUser(_update(ana.id, ["is_admin"], is_admin=True), metadata=as_ana),
        DENIED,
        "ADMIN_REQUIRED",
    )
    await fails(
        users.stub.UpdateUser(_update(bob.id, ["is_active"], is_active=False), metadata=as_ana),
        NOT_FOUND,
        "USER_NOT_FOUND",
    )
    # Deactivated with a token still valid: it cannot reactivate itself.
    users.sql("UPDATE users SET is_active = false WHERE id = %s", ana.id)
    await fails(
        users.stub.UpdateUser(_update(ana.id, ["is_active"], is_active=True), metadata=as_ana),
        DENIED,
        "ADMIN_REQUIRED",
    )
    assert users.sql("SELECT is_active, is_admin FROM users WHERE id = %s", ana.id) == [
        (False, False)
    ]


async def test_an_admin_token_stops_working_once_demoted(users: Users) -> None:
    ana = await users.register("ana@example.com")
    users.sql("UPDATE users SET is_admin = true WHERE id = %s", ana.id)
    as_ana = await users.sign_in("ana@example.com")
    await users.stub.ListUsers(users_pb.ListUsersRequest(), metadata=as_ana)
    users.sql("UPDATE users SET is_admin = false WHERE id = %s", ana.id)
    await fails(
        users.stub.ListUsers(users_pb.ListUsersRequest(), metadata=as_ana), DENIED, "ADMIN_REQUIRED"
    )
    await fails(
        users.stub.UpdateUser(_update(ana.id, ["is_admin"], is_admin=True), metadata=as_ana),
        DENIED,
        "ADMIN_REQUIRED",
    )


@pytest.mark.parametrize(
    ("user_id", "paths", "field"),
    [
        (1, [], "update_mask"),
        (1, ["nickname"], "update_mask"),
        (1, ["email"], "update_mask"),
        (1, ["is_verified"], "update_mask"),
        (1, ["created_at"], "update_mask"),
        (0, ["is_active"], "user.id"),
    ],
)
async def test_update_user_refuses_bad_masks(
    users: Users, user_id: int, paths: list[str], field: str
) -> None:
    details = await fails(
        users.stub.UpdateUser(_update(user_id, paths), metadata=await users.admin()),
        INVALID,
        "INVALID_FIELD",
    )
    assert details.violated_fields == {field}


async def test_update_user_without_a_user_is_invalid_not_unknown(users: Users) -> None:
    await fails(
        users.stub.UpdateUser(users_pb.UpdateUserRequest(), metadata=await users.admin()), INVALID
    )
