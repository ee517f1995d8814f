"""Development keys are made only where none exist; an operator's key is never replaced."""

from __future__ import annotations

import stat
from pathlib import Path

from estore.common.auth import ensure_dev_keys, load_private_key, load_public_key


def test_new_keys_are_private(tmp_path: Path) -> None:
    private, public = tmp_path / "k/private.pem", tmp_path / "k/public.pem"
    ensure_dev_keys(private, public)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert load_private_key(private).public_key() == load_public_key(public)


def test_an_existing_private_key_is_kept_and_its_public_key_derived(tmp_path: Path) -> None:
    private, public = tmp_path / "private.pem", tmp_path / "public.pem"
    ensure_dev_keys(private, public)
    original = private.read_bytes()
    public.unlink()
    ensure_dev_keys(private, public)
    assert private.read_bytes() == original
    assert load_private_key(private).public_key() == load_public_key(public)


def test_a_public_key_alone_is_left_alone(tmp_path: Path) -> None:
    ensure_dev_keys(tmp_path / "a.pem", tmp_path / "b.pem")
    (tmp_path / "a.pem").unlink()
    ensure_dev_keys(tmp_path / "a.pem", tmp_path / "b.pem")
    assert not (tmp_path / "a.pem").exists()
