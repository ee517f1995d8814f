"""The bench's floor rows: their own scenarios, their servers' CPU counted and shown."""

from __future__ import annotations

import pytest

from estore.bench.measure import SERVER_PROCESSES, Result
from estore.bench.report import Report, floor_cpu_ms_per_call, table
from estore.bench.scenarios import SCENARIOS
from estore.bench.stack import FLOORS


def _result(name: str, title: str, cpu: dict[str, float]) -> Result:
    return Result(
        name=name, title=title, calls=100, seconds=1.0, throughput=100.0, p50_ms=1.0,
        p99_ms=2.0, errors={}, cpu_ms_per_call=cpu, client_cpu_ms_per_call=0.1,
        server_utilisation=1.0, client_utilisation=0.5, redis_commands_per_call=1.0,
        redis_scripts_per_call=0.0, redis_top_commands={}, server_cpu_ms_per_call=sum(cpu.values()),
    )  # fmt: skip


def test_each_floor_is_a_scenario_selectable_by_name_after_the_rpcs() -> None:
    names = list(SCENARIOS)
    assert names[-5:] == [
        "floor_redis", "floor_postgres", "floor_two_hops", "floor_order", "floor_order_batched"
    ]  # fmt: skip
    assert SCENARIOS["floor_redis"].title == "Floor: gRPC + one Redis HMGET"
    assert SCENARIOS["floor_postgres"].title == "Floor: gRPC + one PostgreSQL SELECT"
    assert SCENARIOS["floor_two_hops"].title == "Floor: a two-hop call"
    assert SCENARIOS["floor_order"].title == "Floor: an order's I/O"
    assert SCENARIOS["floor_order_batched"].title == "Floor: an order's I/O, batched hops"


def test_the_floor_servers_count_as_server_side_cpu() -> None:
    assert set(FLOORS) <= set(SERVER_PROCESSES)
    assert {
        "floor_redis", "floor_postgres", "floor_two_hops", "floor_backend", "floor_order",
        "floor_order_batched",
    } == set(FLOORS)  # fmt: skip


def test_a_two_hop_floor_shows_both_its_servers_cpu_and_its_ratios() -> None:
    baseline = _result("baseline", "Baseline, first: bare Health/Check", {"baseline": 0.25})
    hops = _result(
        "floor_two_hops",
        "Floor: a two-hop call",
        {"floor_two_hops": 0.4, "floor_backend": 0.2, "users": 0.01, "redis": 0.0},
    )
    hops.throughput = 50.0
    assert floor_cpu_ms_per_call(hops) == pytest.approx(0.6)
    report = Report("2026-11-27T00:00:00", 1.0, True, {"note": "test"}, {}, [baseline], [hops])
    report.rate()
    assert hops.ratio == 0.5
    assert hops.cpu_ratio == pytest.approx(0.25 / 0.61)
    [row] = [line for line in table(report).splitlines() if line.startswith("Floor: a two-hop")]
    assert " 0.600 " in row  # the floors column: front and backend together
    assert "floors" in table(report).splitlines()[0]
