"""How long `estore bench` measures: Login's window holds enough hashes to be read to 0.01."""

from __future__ import annotations

from estore.bench.login import login_window
from estore.bench.runner import Options, _timing

CEILING = 4.5  # hashes a second at cost 12 on one core of the bench machines


def test_a_full_run_measures_login_over_a_hundred_hashes() -> None:
    warmup, window = login_window(_timing(Options()), CEILING)
    assert window * CEILING >= 100  # one Login more or less moves the ratio by 0.01 at most
    assert warmup * CEILING >= 8


def test_a_quick_run_stays_quick_and_a_longer_duration_is_kept() -> None:
    warmup, window = login_window(_timing(Options(quick=True)), CEILING)
    assert warmup + window < 10
    assert login_window(_timing(Options(duration=60)), CEILING)[1] == 60
