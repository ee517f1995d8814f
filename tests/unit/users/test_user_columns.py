"""The account columns are selected in the order of User's fields, so a row is User(*row)."""

from __future__ import annotations

from dataclasses import fields

from estore.users.models import User
from estore.users.repository_base import USER_COLUMNS


def test_user_columns_are_users_fields_in_order() -> None:
    columns = [name.strip() for name in USER_COLUMNS.as_string().split(",")]
    assert columns == [field.name for field in fields(User)]
