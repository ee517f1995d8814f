"""The throwaway PostgreSQL says clearly when, run as root, it cannot reach its folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from estore.embedded.postgres import EmbeddedPostgres, EmbeddedStoreError


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands PostgreSQL to another user")
def test_an_unreachable_data_dir_is_refused_with_advice(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    with pytest.raises(EmbeddedStoreError, match="ESTORE_DATA_DIR"):
        EmbeddedPostgres(locked / "data" / "postgres").start()
