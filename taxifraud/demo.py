"""``taxifraud demo`` (``make demo``): the whole system on this machine, watched live, then judged.

Starts the embedded stack, replays trips with labelled injected fraud through the HTTP gateway at a
target rate, shows a live view (rate in and out, verdicts, alerts, top reasons, latency), then stops
everything and prints a report: throughput, latency percentiles, and precision / recall / FPR against
the injected labels. It also writes a PNG with the latency histogram, throughput over time and the
score distributions.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from taxifraud.config import REPO_ROOT
from taxifraud.replay import LabelledTrips, ReplayStats, batches_for, send_http, trip_source
from taxifraud.stack import Stack, StackSettings
from taxifraud.verdict_collector import Seen, VerdictCollector

log = logging.getLogger(__name__)


@dataclass
class Quality:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def fpr(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else float("nan")


def judge(labels: dict[str, str | None], verdicts: dict[str, Seen]) -> tuple[Quality, dict[str, tuple[int, int]]]:
    """Confusion counts over ids that got a verdict, and (caught, injected) per fraud family."""
    tp = fp = fn = tn = 0
    per_family: dict[str, list[int]] = {}
    for tx_id, family in labels.items():
        seen = verdicts.get(tx_id)
        if seen is None:
            continue
        if family:
            counts = per_family.setdefault(family, [0, 0])
            counts[1] += 1
            if seen.is_fraud:
                tp += 1
                counts[0] += 1
            else:
                fn += 1
        elif seen.is_fraud:
            fp += 1
        else:
            tn += 1
    return Quality(tp, fp, fn, tn), {k: (v[0], v[1]) for k, v in sorted(per_family.items())}


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    arr = np.asarray(values) * 1000.0
    return {f"p{q}": float(np.percentile(arr, q)) for q in (50, 95, 99)}


def live_table(stats: ReplayStats, collector: VerdictCollector, labels: dict[str, str | None]) -> Table:
    elapsed = max(time.monotonic() - stats.started, 1e-9)
    verdicts = collector.snapshot()
    alerts = sum(1 for v in verdicts.values() if v.is_fraud)
    recent = [v.latency_s for v in list(verdicts.values())[-2000:] if v.latency_s is not None]
    lat = percentiles(recent)
    table = Table(title="taxi-fraud pipeline, live", show_header=False, expand=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("accepted by gateway", f"{stats.accepted:,}  ({stats.accepted / elapsed:,.0f}/s)")
    table.add_row("verdicts out", f"{len(verdicts):,}  ({len(verdicts) / elapsed:,.0f}/s)")
    table.add_row("alerts", f"{alerts:,}  (injected so far: {sum(1 for f in labels.values() if f):,})")
    table.add_row("event -> verdict p50 / p99", f"{lat['p50']:.1f} ms / {lat['p99']:.1f} ms")
    table.add_row("errors", f"{stats.errors}")
    for reason, n in collector.reason_counts.most_common(4):
        table.add_row(f"  reason: {reason}", f"{n:,}")
    return table


def write_png(path: Path, verdicts: dict[str, Seen], labels: dict[str, str | None], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    lat = [v.latency_s * 1000 for v in verdicts.values() if v.latency_s is not None]
    axes[0].hist(lat, bins=60, color="#3572a5")
    axes[0].set(title="event -> verdict latency", xlabel="ms", ylabel="transactions")
    arrivals = np.asarray(sorted(v.seen_at for v in verdicts.values()))
    if len(arrivals):
        secs = np.floor(arrivals - arrivals[0]).astype(int)
        axes[1].plot(np.bincount(secs), color="#2a9d8f")
    axes[1].set(title="verdicts per second", xlabel="s since first verdict", ylabel="verdicts/s")
    normal = [v.score for k, v in verdicts.items() if not labels.get(k)]
    fraud = [v.score for k, v in verdicts.items() if labels.get(k)]
    bins = np.logspace(np.log10(max(min(normal + fraud or [1e-3]), 1e-4)), np.log10(max(normal + fraud or [1.0])), 60)
    axes[2].hist(normal, bins=bins, alpha=0.6, label="normal", color="#457b9d")
    axes[2].hist(fraud, bins=bins, alpha=0.6, label="injected fraud", color="#e63946")
    axes[2].set(title="anomaly scores", xscale="log", xlabel="score", ylabel="transactions")
    axes[2].legend()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_demo(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    settings = StackSettings(stack_prometheus=not args.no_prometheus)
    with Stack(settings) as stack:
        console.print(
            f"[bold]stack up[/]: gateway {stack.gateway_url}"
            + (f", prometheus {stack.prometheus_url}" if not args.no_prometheus else "")
        )
        trips = LabelledTrips(trip_source(args.data, args.seed), args.fraud_rate, seed=args.seed)
        collector = VerdictCollector(stack.bootstrap, settings.topic_verdicts, prefix=trips.run_id).start()
        stats = ReplayStats()
        batches = batches_for(trips, args.batch, None, args.duration, args.rate)
        sender = threading.Thread(
            target=lambda: asyncio.run(send_http(batches, stack.gateway_url, args.rate, args.concurrency, stats)),
            name="replay",
        )
        progress = Progress(
            TextColumn("replaying"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
            TimeRemainingColumn(),
        )
        task = progress.add_task("replay", total=args.duration)
        sender.start()
        with Live(console=console, refresh_per_second=4) as live:
            while sender.is_alive():
                progress.update(task, completed=min(time.monotonic() - stats.started, args.duration))
                grid = Table.grid()
                grid.add_row(progress)
                grid.add_row(live_table(stats, collector, trips.labels))
                live.update(grid)
                time.sleep(0.25)
            sender.join()
            missing = collector.wait_for({k for k in trips.labels}, timeout=60)
            grid = Table.grid()
            grid.add_row(live_table(stats, collector, trips.labels))
            live.update(grid)
        collector.stop()
    verdicts = collector.snapshot()
    quality, families = judge(trips.labels, verdicts)
    elapsed = max(stats.finished - stats.started, 1e-9)
    lat = percentiles([v.latency_s for v in verdicts.values() if v.latency_s is not None])
    png = Path(args.report_dir) / "demo-report.png"
    write_png(png, verdicts, trips.labels, f"demo: {len(verdicts):,} verdicts at {args.rate:.0f}/s offered")
    return {
        "offered_rate": args.rate,
        "accepted": stats.accepted,
        "errors": stats.errors,
        "throughput_in": stats.accepted / elapsed,
        "verdicts": len(verdicts),
        "missing_verdicts": len(missing),
        "duplicates": collector.duplicates,
        "latency_ms": lat,
        "quality": quality,
        "families": families,
        "top_reasons": collector.reason_counts.most_common(5),
        "png": png,
    }


def print_report(r: dict[str, Any], console: Console) -> None:
    q: Quality = r["quality"]
    table = Table(title="demo report", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("accepted / verdicts", f"{r['accepted']:,} / {r['verdicts']:,}")
    table.add_row("missing verdicts / duplicates", f"{r['missing_verdicts']} / {r['duplicates']}")
    table.add_row("ingest throughput", f"{r['throughput_in']:,.0f} tx/s (offered {r['offered_rate']:,.0f})")
    lat = r["latency_ms"]
    table.add_row("event -> verdict p50/p95/p99", f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} ms")
    table.add_row("precision / recall / FPR", f"{q.precision:.3f} / {q.recall:.3f} / {q.fpr:.4f}")
    table.add_row("confusion tp/fp/fn/tn", f"{q.tp}/{q.fp}/{q.fn}/{q.tn}")
    for family, (caught, total) in r["families"].items():
        table.add_row(f"  recall {family}", f"{caught}/{total}")
    for reason, n in r["top_reasons"]:
        table.add_row(f"  top reason: {reason}", f"{n:,}")
    console.print(table)
    console.print(f"PNG report: {r['png']}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxifraud demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of replay (default 60)")
    parser.add_argument("--rate", type=float, default=1000.0, help="offered transactions/s")
    parser.add_argument("--fraud-rate", type=float, default=0.05)
    parser.add_argument("--data", nargs="*", help="TLC trip files (CSV/Parquet); default: calibrated generator")
    parser.add_argument("--batch", type=int, default=20, help="transactions per HTTP request")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-prometheus", action="store_true")
    parser.add_argument("--report-dir", default=str(REPO_ROOT / "run"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    report = run_demo(args, console)
    print_report(report, console)
    return 0 if report["missing_verdicts"] == 0 and report["errors"] == 0 else 1
