"""`estore bench --quick` runs the whole bench and writes its table, JSON report and chart."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from estore.bench.catalogue import SHAPES as CATALOGUE_SHAPES
from estore.bench.scenarios import SCENARIOS

BIN = Path(sys.executable).parent
PROCESSES = {
    "users", "inventory", "payments", "redis", "postgres", "baseline",
    "floor_redis", "floor_postgres", "floor_two_hops", "floor_backend", "floor_order",
    "floor_order_batched",
}  # fmt: skip
FLOORS = {
    "floor_redis": "Floor: gRPC + one Redis HMGET",
    "floor_postgres": "Floor: gRPC + one PostgreSQL SELECT",
    "floor_two_hops": "Floor: a two-hop call",
    "floor_order": "Floor: an order's I/O",
    "floor_order_batched": "Floor: an order's I/O, batched hops",
}
NUMBERS = (
    "calls", "seconds", "throughput", "p50_ms", "p99_ms", "client_cpu_ms_per_call",
    "server_utilisation", "client_utilisation", "redis_commands_per_call",
    "redis_scripts_per_call",
)  # fmt: skip


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _check_result(result: dict[str, object]) -> None:
    for key in NUMBERS:
        assert _finite(result[key]), (result["name"], key, result[key])
    cpu = result["cpu_ms_per_call"]
    assert isinstance(cpu, dict)
    assert set(cpu) == PROCESSES
    assert all(_finite(value) and value >= 0 for value in cpu.values())
    assert isinstance(result["errors"], dict)


def test_a_quick_bench_writes_its_table_json_and_chart(tmp_path: Path) -> None:
    out = tmp_path / "report"
    env = {**os.environ, "ESTORE_DATA_DIR": str(tmp_path / "data"), "ESTORE_BCRYPT_ROUNDS": "4"}
    run = subprocess.run(
        [str(BIN / "estore"), "bench", "--quick", "--duration", "1.5", "--warmup", "0.2",
         "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "estore bench [" in run.stderr  # progress as it runs

    [report_file] = out.glob("bench-*.json")
    assert report_file.with_suffix(".png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    table = report_file.with_suffix(".txt").read_text()
    assert table.strip() in run.stdout  # the table printed is the table saved
    report = json.loads(report_file.read_text())

    assert report["report"] == "estore bench"
    assert report["quick"] is True
    assert set(report["machine"]) >= {"server_cores", "client_cores", "pinned", "note"}
    if (os.cpu_count() or 1) >= 2:
        assert report["machine"]["pinned"] is True
        assert not set(report["machine"]["server_cores"]) & set(report["machine"]["client_cores"])
    baseline = report["baseline"]
    assert baseline["throughput"] > 0
    assert _finite(baseline["server_core_utilisation"])
    assert len(baseline["runs"]) == 2
    for run_result in baseline["runs"]:
        _check_result(run_result)

    scenarios = {result["name"]: result for result in report["scenarios"]}
    assert list(scenarios) == list(SCENARIOS)
    assert set(scenarios) >= {
        "get_product", "list_products", "get_current_user", "login", "create_order",
        "create_order_basket", "mixed_shop", *FLOORS,
    }  # fmt: skip
    for name, result in scenarios.items():
        _check_result(result)
        assert result["calls"] > 0, name
        assert _finite(result["ratio"]), name
        assert result["errors"] == {}, (name, result["errors"])
        assert result["title"] in table
    assert scenarios["login"]["ratio_of"] == "bcrypt ceiling"
    login = scenarios["login"]["extra"]
    for key in ("bcrypt_ceiling_per_second", "GetProduct_p99_idle_ms",
                "GetProduct_p99_under_login_ms", "GetCurrentUser_p99_under_login_ms"):  # fmt: skip
        assert _finite(login[key]), key
    assert scenarios["create_order"]["redis_commands_per_call"] > 0
    # Three lines cost more Redis work than one, but far from three orders' worth.
    single = scenarios["create_order"]["redis_commands_per_call"]
    assert single < scenarios["create_order_basket"]["redis_commands_per_call"] < 3 * single
    _check_floors(scenarios, table)
    mixed = set(scenarios["mixed_shop"]["by_label"])  # in a second and a half some may not come up
    assert "GetProduct" in mixed
    assert mixed <= {"GetProduct", "ListProducts", "GetCurrentUser", "CreateOrder"}


def _check_floors(scenarios: dict[str, dict[str, Any]], table: str) -> None:
    """Each floor is measured on its own server: its CPU there, its store touched as it says."""
    for name, title in FLOORS.items():
        floor = scenarios[name]
        assert floor["title"] == title
        assert floor["ratio_of"] == "baseline"
        assert _finite(floor["cpu_ratio"]), name
        assert floor["cpu_ms_per_call"][name] > 0, name  # its own server did the work
        assert any(line.startswith(title) for line in table.splitlines()), name
    # One HMGET a call (loosely: the window's edges and a loaded machine move the counts), an
    # order's six (four of its own, one in each call to the Redis floor), and the others touch no
    # Redis at all. Redis also serves the idle services' bucket sweeps in every window
    # (ZRANGEBYSCORE, XREADGROUP), so the floors' own command is counted by name.
    redis_floor = scenarios["floor_redis"]
    assert 0.5 <= redis_floor["redis_top_commands"]["hmget"] <= 1.5
    order_floor = scenarios["floor_order"]
    assert 5 <= order_floor["redis_top_commands"]["hmget"] <= 7
    assert order_floor["cpu_ms_per_call"]["floor_redis"] > 0  # its hops' backend
    # Batched, an order makes its four round trips and shares its two hops' (one HMGET each).
    batched = scenarios["floor_order_batched"]
    assert 4 <= batched["redis_top_commands"]["hmget"] <= 6.5
    assert batched["cpu_ms_per_call"]["floor_redis"] > 0
    assert scenarios["floor_postgres"]["cpu_ms_per_call"]["postgres"] > 0
    assert scenarios["floor_two_hops"]["cpu_ms_per_call"]["floor_backend"] > 0
    assert scenarios["floor_two_hops"]["redis_top_commands"].get("hmget", 0) < 0.1


def test_bench_catalogue_writes_redis_time_per_page_by_size(tmp_path: Path) -> None:
    out = tmp_path / "report"
    env = {**os.environ, "ESTORE_DATA_DIR": str(tmp_path / "data")}
    run = subprocess.run(
        [str(BIN / "estore"), "bench", "--catalogue", "200,400", "--pages", "2", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    [report_file] = out.glob("catalogue-*.json")
    rows = json.loads(report_file.read_text())
    assert {(row["query shape"], row["size"]) for row in rows} == {
        (shape, size) for shape in CATALOGUE_SHAPES for size in (200, 400)
    }
    assert report_file.with_suffix(".png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert report_file.with_suffix(".txt").read_text().strip() in run.stdout
