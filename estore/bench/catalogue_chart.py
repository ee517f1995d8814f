"""The catalogue bench's PNG: Redis ms per ListProducts page by query shape and catalogue size."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display needed

import matplotlib.pyplot as plt

TARGET = 3.0  # issue 11: at the largest size, within 3x of the smallest


def draw(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Two panels: Redis ms per page (a bar per size for each shape), and the ratio of each size
    to the smallest, with the 3x target."""
    sizes = sorted({row["size"] for row in rows})
    shapes = list(dict.fromkeys(row["query shape"] for row in rows))
    by = {(row["query shape"], row["size"]): row for row in rows}
    figure, (cost, ratio) = plt.subplots(2, 1, figsize=(11, 9), layout="constrained")
    figure.suptitle("ListProducts: Redis time per page of 50, by catalogue size", fontsize=10)
    width = 0.8 / len(sizes)
    for i, size in enumerate(sizes):
        x = [s + (i - (len(sizes) - 1) / 2) * width for s in range(len(shapes))]
        cost.bar(x, [by[(shape, size)]["redis_ms_per_page"] for shape in shapes], width,
                 label=f"{size:,} products")  # fmt: skip
        if i:
            ratios = [
                by[(shape, size)]["redis_ms_per_page"]
                / max(by[(shape, sizes[0])]["redis_ms_per_page"], 1e-9)
                for shape in shapes
            ]
            ratio.bar(x, ratios, width, label=f"{size:,} / {sizes[0]:,}")
    cost.set_ylabel("Redis ms per page (median)")
    cost.legend(fontsize=8)
    ratio.axhline(TARGET, color="tab:red", linewidth=2, label=f"target: {TARGET:g}x")
    ratio.set_ylabel(f"ratio to {sizes[0]:,} products")
    ratio.legend(fontsize=8)
    for axes in (cost, ratio):
        axes.set_xticks(list(range(len(shapes))), shapes, fontsize=8, rotation=15)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
