"""``bench/results.png``: CPU per delivery by system and shape, and p99 against delivery rate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from bench.results import dig, ordered, succeeded


def plot(results: dict[str, Any], path: Path) -> None:
    systems = results.get("systems", {})
    keys = ordered(systems)
    labels = {k: systems[k].get("label", k) for k in keys}
    figure, (bars, lines) = plt.subplots(1, 2, figsize=(14, 5.5))

    shapes: list[str] = []
    for key in keys:
        for shape in dig(systems, key, "fanout") or {}:
            if shape not in shapes:
                shapes.append(shape)
    width = 0.8 / max(1, len(keys))
    for i, key in enumerate(keys):
        values = []
        for shape in shapes:
            run = dig(systems, key, "fanout", shape)
            values.append(run.get("cpu_us_per_delivery") or 0 if succeeded(run) else 0)
        positions = [s + (i - (len(keys) - 1) / 2) * width for s in range(len(shapes))]
        drawn = bars.bar(positions, values, width, label=labels[key])
        bars.bar_label(drawn, fmt="%.0f", fontsize=7, padding=1)
    bars.set_xticks(range(len(shapes)), shapes)
    bars.set_xlabel("rooms x members")
    bars.set_ylabel("server CPU µs per delivered event (lower is better)")
    bars.set_title("Fan-out cost at 4,000 deliveries/s")
    if shapes:
        bars.legend(fontsize=8)

    for key in keys:
        ramp = dig(systems, key, "ramp")
        if not succeeded(ramp) or not ramp.get("steps"):
            continue
        steps = sorted(ramp["steps"], key=lambda s: s["offered_deliveries_per_s"])
        rates = [s["deliveries_per_s"] for s in steps]
        p99 = [max(s["latency"]["p99_ms"] or 0.01, 0.01) for s in steps]
        lines.plot(rates, p99, marker="o", label=labels[key])
    lines.axhline(100, color="grey", linestyle="--", linewidth=1)
    lines.set_yscale("log")
    lines.set_xlabel("delivered events per second (40 rooms x 10 members)")
    lines.set_ylabel("p99 publish-to-deliver latency, ms (log)")
    lines.set_title("Latency as the rate rises (dashed: 100 ms)")
    if lines.get_legend_handles_labels()[0]:
        lines.legend(fontsize=8)

    meta = results.get("meta", {})
    figure.suptitle(
        f"studyroom and peers, {meta.get('date', '')[:10]}, "
        f"{dig(meta, 'machine', 'cpu')} ({meta.get('mode')} run)",
        fontsize=10,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
