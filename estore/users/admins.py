"""Admins made outside the API: the bootstrap admin at start and `estore users create-admin`."""

from __future__ import annotations

from estore.users.errors import EmailAlreadyExists
from estore.users.models import AdminOutcome, User
from estore.users.passwords import PasswordHasher
from estore.users.ports import UserStore
from estore.users.validation import check_new_password, normalise_email


async def ensure_admin(
    store: UserStore, hasher: PasswordHasher, email: str, password: str, *, promote: bool
) -> tuple[User, AdminOutcome]:
    """Create a verified admin; an existing account is promoted (with this password) or left."""
    email = normalise_email(email)
    check_new_password(password, "password")
    found = await store.get_credentials(email=email)
    if found is not None:
        if not promote:
            return found.user, AdminOutcome.UNCHANGED
        return await store.make_admin(found.user.id, await hasher.hash(password)), (
            AdminOutcome.PROMOTED
        )
    password_hash = await hasher.hash(password)
    try:
        user = await store.create_user(email, password_hash, is_admin=True, is_verified=True)
    except EmailAlreadyExists:  # another instance created it a moment ago
        return await ensure_admin(store, hasher, email, password, promote=promote)
    return user, AdminOutcome.CREATED
