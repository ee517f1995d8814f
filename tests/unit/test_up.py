"""`estore up` points Inventory and Payments at the ports Users and Inventory really got."""

from __future__ import annotations

from estore.common.config import Settings
from estore.up import _where_it_listens


def test_default_targets_follow_the_ports_picked_at_start() -> None:
    settings = Settings.from_env({"ESTORE_USERS_PORT": "0", "ESTORE_INVENTORY_PORT": "0"})
    settings = _where_it_listens(settings, "users", 41001)
    settings = _where_it_listens(settings, "inventory", 41002)
    assert (settings.users_target, settings.inventory_target) == (
        "localhost:41001",
        "localhost:41002",
    )
    assert _where_it_listens(settings, "payments", 41003) == settings


def test_targets_set_by_the_operator_are_left_alone() -> None:
    settings = Settings.from_env(
        {"ESTORE_USERS_PORT": "0", "ESTORE_USERS_TARGET": "dns:///users.internal:50051"}
    )
    assert _where_it_listens(settings, "users", 41001).users_target == "dns:///users.internal:50051"
