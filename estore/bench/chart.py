"""The bench's PNG: each scenario's ratio against its target, its latency, its CPU per call."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed

import matplotlib.pyplot as plt

from estore.bench.report import PROCESSES, Report, floor_cpu_ms_per_call


def draw(report: Report, path: Path) -> Path:
    """Three panels, one bar per scenario: ratio (with target), p50/p99, CPU ms per call."""
    results = report.scenarios
    names = [result.title.split(" (")[0] for result in results]
    positions = range(len(results))
    figure, (ratios, latency, cpu) = plt.subplots(3, 1, figsize=(10, 11), layout="constrained")
    figure.suptitle(
        f"estore bench, {report.started_at[:16]}  (baseline "
        f"{report.baseline_throughput:.0f} calls/s; {report.machine['note']})",
        fontsize=9,
    )
    width = 0.4
    left = [x - width / 2 for x in positions]
    right = [x + width / 2 for x in positions]
    ratios.bar(left, [r.ratio or 0.0 for r in results], width, label="throughput ratio")
    ratios.bar(right, [r.cpu_ratio or 0.0 for r in results], width, label="CPU-per-call ratio")
    for x, result in zip(positions, results, strict=True):
        if result.target is not None:
            ratios.hlines(result.target, x - 0.45, x + 0.45, colors="tab:red", linewidth=2)
    ratios.set_ylabel("share of the baseline\n(Login throughput: of the bcrypt ceiling)")
    ratios.set_title("ratios (red: the issue's target)", fontsize=9)
    ratios.legend(fontsize=8)

    latency.bar(left, [r.p50_ms for r in results], width, label="p50")
    latency.bar(right, [r.p99_ms for r in results], width, label="p99")
    latency.set_ylabel("ms")
    latency.set_yscale("symlog", linthresh=1.0)
    latency.legend(fontsize=8)
    latency.set_title("latency", fontsize=9)

    bottom = [0.0] * len(results)
    for process in (*PROCESSES, "floors"):
        heights = [
            floor_cpu_ms_per_call(result)
            if process == "floors"
            else result.cpu_ms_per_call.get(process, 0.0)
            for result in results
        ]
        cpu.bar(positions, heights, bottom=bottom, label=process)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    cpu.set_ylabel("CPU ms per call")
    cpu.set_yscale("symlog", linthresh=1.0)
    cpu.legend(fontsize=8, ncol=len(PROCESSES) + 1, loc="upper right")
    cpu.set_title("server-side CPU per call, by process", fontsize=9)

    for axes in (ratios, latency, cpu):
        axes.set_xticks(list(positions), names, fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
