"""The bench's report: ratios to the baseline, a table for people and JSON for tools."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from estore.bench.measure import Result

PROCESSES = ("users", "inventory", "payments", "redis", "postgres")
FLOOR_PREFIX = "floor_"  # the floor servers' processes, shown as one column


def floor_cpu_ms_per_call(result: Result) -> float:
    """CPU ms per call of the floor servers together (a two-hop floor is two processes)."""
    return sum(ms for name, ms in result.cpu_ms_per_call.items() if name.startswith(FLOOR_PREFIX))


@dataclass
class Report:
    """Everything one run measured, and on what."""

    started_at: str
    wall_seconds: float
    quick: bool
    machine: dict[str, Any]
    settings: dict[str, Any]
    baseline_runs: list[Result]
    scenarios: list[Result]

    @property
    def baseline_throughput(self) -> float:
        """Calls per second of the bare server: the mean of its runs (first and last)."""
        return sum(run.throughput for run in self.baseline_runs) / len(self.baseline_runs)

    @property
    def baseline_cpu_ms_per_call(self) -> float:
        runs = self.baseline_runs
        return sum(run.server_cpu_ms_per_call for run in runs) / len(runs)

    def rate(self) -> None:
        """Set each scenario's ratios to the baseline (Login's throughput ratio is its own)."""
        baseline, baseline_cpu = self.baseline_throughput, self.baseline_cpu_ms_per_call
        for result in self.scenarios:
            if result.ratio_of != "baseline":
                continue
            result.ratio = result.throughput / baseline if baseline else 0.0
            if result.server_cpu_ms_per_call:
                result.cpu_ratio = baseline_cpu / result.server_cpu_ms_per_call

    def as_json(self) -> dict[str, Any]:
        runs = self.baseline_runs
        return {
            "report": "estore bench",
            "version": 1,
            "started_at": self.started_at,
            "wall_seconds": self.wall_seconds,
            "quick": self.quick,
            "machine": self.machine,
            "settings": self.settings,
            "baseline": {
                "throughput": self.baseline_throughput,
                "server_cpu_ms_per_call": self.baseline_cpu_ms_per_call,
                "server_core_utilisation": sum(r.server_utilisation for r in runs) / len(runs),
                "client_core_utilisation": sum(r.client_utilisation for r in runs) / len(runs),
                "runs": [asdict(run) for run in runs],
            },
            "scenarios": [asdict(result) for result in self.scenarios],
        }


def _cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def table(report: Report) -> str:
    """The results as a fixed-width text table with the notes a reader needs under it."""
    head = (
        f"{'scenario':<40} {'calls/s':>8} {'ratio':>6} {'target':>6} {'cpu r.':>6} "
        f"{'busy':>5} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
        + " ".join(f"{name[:5]:>6}" for name in PROCESSES)
        + f" {'floors':>6} {'client':>6} {'redis cmd':>9}"
    )
    lines = [head, "-" * len(head)]
    for result in [*report.baseline_runs, *report.scenarios]:
        cpu = " ".join(_cell(result.cpu_ms_per_call.get(name), 3).rjust(6) for name in PROCESSES)
        lines.append(
            f"{result.title[:40]:<40} {result.throughput:>8.1f} {_cell(result.ratio):>6} "
            f"{_cell(result.target):>6} {_cell(result.cpu_ratio):>6} "
            f"{result.server_utilisation:>5.0%} {result.p50_ms:>7.2f} {result.p99_ms:>7.2f} "
            f"{sum(result.errors.values()):>6} {cpu} {floor_cpu_ms_per_call(result):>6.3f} "
            f"{result.client_cpu_ms_per_call:>6.3f} "
            f"{result.redis_commands_per_call:>9.2f}"
        )
    runs = report.baseline_runs
    lines += [
        "",
        "ratio: calls/s over the baseline's (the mean of its first and last run: "
        + ", ".join(f"{r.throughput:.0f}" for r in runs)
        + "/s); Login: over the bcrypt ceiling.",
        "cpu r.: the baseline's server-side CPU per call over the scenario's: the ratio with "
        "the server core saturated by it alone (other load on the machine moves it less).",
        "busy: share of the server cores busy. Process columns: CPU ms per call (Login's less "
        "its probes'); floors: the floor servers' (bare grpc.aio, no EStore code); client: the "
        "load client's; redis cmd: Redis commands per call, script bodies included.",
        "baseline busy share of the server cores: "
        + ", ".join(f"{r.server_utilisation:.0%}" for r in runs)
        + "; of the client cores: "
        + ", ".join(f"{r.client_utilisation:.0%}" for r in runs)
        + " (the server must be the busy one, or the ratios flatter the services)",
        f"cores: {report.machine['note']}",
    ]
    lines += [_login_line(result) for result in report.scenarios if result.name == "login"]
    return "\n".join(lines)


def _login_line(result: Result) -> str:
    extra = result.extra
    probes = "; ".join(
        f"{probe} p99 {extra[f'{probe}_p99_idle_ms']:.2f} ms idle, "
        f"{extra[f'{probe}_p99_under_login_ms']:.2f} ms under Login"
        for probe in ("GetProduct", "GetCurrentUser")
    )
    return (
        f"login: {result.throughput:.1f}/s of a ceiling of "
        f"{extra['bcrypt_ceiling_per_second']:.1f} hashes/s at cost "
        f"{extra['bcrypt_rounds']:.0f} ({_cell(result.ratio)}); {probes}"
    )


def write(report: Report, folder: Path, stem: str) -> dict[str, Path]:
    """Write the JSON and the table into `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / f"{stem}.json", "table": folder / f"{stem}.txt"}
    paths["json"].write_text(json.dumps(report.as_json(), indent=2) + "\n", encoding="utf-8")
    paths["table"].write_text(table(report) + "\n", encoding="utf-8")
    return paths
