"""The bench results as one PNG (latency by offered rate, soak drift, the CPU ledger, scale-out): matplotlib
is imported only here and only when a figure is drawn, so reading results never needs it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from operations.benchmarks import ledger
from operations.benchmarks.report_values import dig, fmt


def plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, grid = plt.subplots(2, 3, figsize=(17, 9.6))
    axes = grid.reshape(-1)
    spans = []
    for rate, load in sorted((r.get("offered_load") or {}).items(), key=lambda kv: float(kv[0])):
        floor = dig(r, "broker_floor", rate) or {}
        proc = dig(load, "consumer_histograms", "consumer_processing_seconds") or {}
        e2v = dig(load, "consumer_histograms", "consumer_event_to_verdict_seconds") or {}
        for label, fig_ in (("floor", floor), ("processing", proc), ("event->verdict", e2v)):
            spans.append((f"{label}\n{float(rate) / 1000:.0f}k/s", fig_.get("p50_ms") or 0, fig_.get("p99_ms") or 0))
    if spans:
        xs = range(len(spans))
        axes[0].bar([x - 0.2 for x in xs], [s[1] for s in spans], width=0.4, label="p50")
        axes[0].bar([x + 0.2 for x in xs], [s[2] for s in spans], width=0.4, label="p99")
        axes[0].set_xticks(list(xs), [s[0] for s in spans], fontsize=7)
        axes[0].set(title="latency spans", ylabel="ms")
        axes[0].legend()
    mt = r.get("model_throughput") or {}
    if mt:
        batches = list(mt)
        axes[1].bar(
            [i - 0.2 for i in range(len(batches))],
            [mt[b]["triton"]["rows_per_s"] for b in batches],
            width=0.4,
            label="Triton gRPC",
        )
        axes[1].bar(
            [i + 0.2 for i in range(len(batches))],
            [mt[b]["onnxruntime"]["rows_per_s"] for b in batches],
            width=0.4,
            label="in-process ORT",
        )
        axes[1].set_xticks(range(len(batches)), [f"batch {b}" for b in batches])
        axes[1].set(title="model throughput", ylabel="rows/s", yscale="log")
        axes[1].legend()
    soak = r.get("soak") or {}
    samples = soak.get("samples") or []
    if samples:
        t0 = samples[0]["t"]
        ts = [(s["t"] - t0) / 60 for s in samples]
        axes[2].plot(ts, [s["verdicts_per_s"] for s in samples], label="verdicts/s")
        ax2 = axes[2].twinx()
        for name in samples[-1]["rss_mib"]:
            ax2.plot(ts, [s["rss_mib"].get(name, math.nan) for s in samples], "--", label=f"RSS {name}")
        ax2.set_ylabel("MiB")
        ax2.legend(fontsize=7, loc="lower right")
        axes[2].set(title="soak", xlabel="minutes", ylabel="verdicts/s")
    _plot_ledger(axes[3], r)
    _plot_scale_out(axes[4], r)
    axes[5].axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_ledger(ax: Any, r: dict[str, Any]) -> None:
    """CPU us per verdict: ours stacked by process, beside the floor stacked by bare step."""
    entry = dig(r, "max_throughput", "ledger") or {}
    us = {k: v for k, v in (entry.get("us_per_verdict") or {}).items() if not k.startswith(ledger.NOT_THE_SYSTEM)}
    if not us:
        ax.axis("off")
        return
    bottom = 0.0
    for name, value in us.items():
        ax.bar(0, value, bottom=bottom, label=name)
        bottom += value
    floor = r.get("cost_floor") or {}
    per = floor.get("per_verdict") or {}
    bottom = 0.0
    for step, label in (("kafka_hop", "Kafka hops"), ("model_row", "model row"), ("json_decode_encode", "JSON")):
        value = float((floor.get(step) or {}).get("us") or 0.0) * per.get(step, 0)
        ax.bar(1, value, bottom=bottom, hatch="//", label=f"floor: {label}")
        bottom += value
    ax.set_xticks([0, 1], ["ours (per process)", "floor (bare steps)"])
    ratio = entry.get("ratio_to_floor")
    ax.set(title=f"CPU per verdict ({fmt(ratio, 'x', 2)} the floor)", ylabel="CPU us per verdict")
    ax.legend(fontsize=6, loc="upper right")


def _plot_scale_out(ax: Any, r: dict[str, Any]) -> None:
    rows = [row for row in (r.get("scale_out") or []) if not row.get("error")]
    if not rows:
        ax.axis("off")
        return
    labels = [f"{x['consumers']}c/{x['gateway_workers']}g\nb{x['http_batch']}/{x['consumer_batch']}" for x in rows]
    xs = range(len(rows))
    ax.bar(xs, [x["verdicts_per_s"] for x in rows], color="#457b9d", label="verdicts/s")
    ax.set_xticks(list(xs), labels, fontsize=7)
    ax.set(title="scale-out: consumers/gateway workers, HTTP/consumer batch", ylabel="verdicts/s")
    twin = ax.twinx()
    twin.plot(list(xs), [x["processing_p99_ms"] for x in rows], "o-", color="#e63946", label="processing p99")
    twin.set_ylabel("processing p99 ms")
    ax.legend(fontsize=7, loc="upper left")
    twin.legend(fontsize=7, loc="upper right")
