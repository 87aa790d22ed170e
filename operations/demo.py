"""``taxifraud demo`` (``make demo``): the whole system on this machine, watched live, then judged.

Starts the embedded stack, replays trips with labelled injected fraud through the HTTP gateway at a
target rate, shows a live view (rate in and out, verdicts, alerts, top reasons, latency), then stops
everything and prints a report: throughput, latency percentiles, and precision / recall / FPR against
the injected labels. It also writes a PNG with the latency histogram, throughput over time and the
score distributions, and the report as ``demo-report.md`` and ``demo-report.json`` next to it.

Threads: the replay (HTTP sender) and the verdict collector each own what they write, behind a lock;
the live view only ever sees :class:`LiveSnapshot`, built from their locked accessors
(:meth:`ReplayStats.snapshot`, :meth:`LabelledTrips.counts`, :meth:`VerdictCollector.view`), never
their live dicts and counters (iterating a dict another thread is filling raises ``RuntimeError``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from operations.demo_review import DemoReviewer, review_precision
from operations.replay import LabelledTrips, ReplayStats, batches_for, send_http, trip_source
from operations.stack import Stack, StackSettings
from operations.verdict_collector import Seen, VerdictCollector
from taxifraud.config import REPO_ROOT
from taxifraud.confusion import Confusion

log = logging.getLogger(__name__)


def judge(labels: dict[str, str | None], verdicts: dict[str, Seen]) -> tuple[Confusion, dict[str, tuple[int, int]]]:
    """Confusion counts against the injected labels over ids that got a verdict, and (caught, injected) per
    fraud family."""
    judged = [(family, verdicts[tx_id].is_fraud) for tx_id, family in labels.items() if tx_id in verdicts]
    per_family: dict[str, list[int]] = {}
    for family, flagged in judged:
        if family:
            counts = per_family.setdefault(family, [0, 0])
            counts[0] += flagged
            counts[1] += 1
    confusion = Confusion.count((flagged, bool(family)) for family, flagged in judged)
    return confusion, {k: (v[0], v[1]) for k, v in sorted(per_family.items())}


def fig(value: float | None, digits: int = 3) -> str:
    """A figure for the report: ``-`` where it is undefined (nothing to divide by)."""
    return "-" if value is None else f"{value:.{digits}f}"


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    arr = np.asarray(values) * 1000.0
    return {f"p{q}": float(np.percentile(arr, q)) for q in (50, 95, 99)}


@dataclass(frozen=True)
class LiveSnapshot:
    """What the live view shows, read once from each owner under its lock; immutable afterwards."""

    elapsed_s: float
    accepted: int
    errors: int
    taken: int
    injected: int
    verdicts: int
    alerts: int
    latency_p50_ms: float
    latency_p99_ms: float
    top_reasons: tuple[tuple[str, int], ...]
    #: with --review: (alerts labelled, their precision by the labels, the review service's labelled precision)
    review: tuple[int, float | None, float | None] | None = None


def take_snapshot(
    stats: ReplayStats,
    trips: LabelledTrips,
    collector: VerdictCollector,
    reviewer: DemoReviewer | None = None,
    review_url: str | None = None,
) -> LiveSnapshot:
    """The only way the live view reads the other threads' state: each owner's locked accessor."""
    counts = stats.snapshot()
    taken, injected = trips.counts()
    view = collector.view(top=4)
    lat = percentiles(list(view.recent_latencies_s))
    return LiveSnapshot(
        elapsed_s=max(time.monotonic() - counts.started, 1e-9),
        accepted=counts.accepted,
        errors=counts.errors,
        taken=taken,
        injected=injected,
        verdicts=view.verdicts,
        alerts=view.alerts,
        latency_p50_ms=lat["p50"],
        latency_p99_ms=lat["p99"],
        top_reasons=view.top_reasons,
        review=_review_figures(reviewer, review_url),
    )


def _review_figures(
    reviewer: DemoReviewer | None, review_url: str | None
) -> tuple[int, float | None, float | None] | None:
    if reviewer is None or review_url is None:
        return None
    counts = reviewer.counts()
    try:
        service, _ = review_precision(review_url)
    except httpx.HTTPError:
        service = None
    return counts.labelled, counts.precision, service


def live_table(snap: LiveSnapshot) -> Table:
    elapsed = snap.elapsed_s
    table = Table(title="taxi-fraud pipeline, live", show_header=False, expand=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("accepted by gateway", f"{snap.accepted:,}  ({snap.accepted / elapsed:,.0f}/s)")
    table.add_row("verdicts out", f"{snap.verdicts:,}  ({snap.verdicts / elapsed:,.0f}/s)")
    table.add_row("alerts", f"{snap.alerts:,}  (injected so far: {snap.injected:,} of {snap.taken:,})")
    table.add_row("event -> verdict p50 / p99", f"{snap.latency_p50_ms:.1f} ms / {snap.latency_p99_ms:.1f} ms")
    table.add_row("errors", f"{snap.errors}")
    for reason, n in snap.top_reasons:
        table.add_row(f"  reason: {reason}", f"{n:,}")
    if snap.review is not None:
        labelled, truth, service = snap.review
        table.add_row("alerts labelled (demo reviewer)", f"{labelled:,}")
        table.add_row("labelled precision: review page / labels", f"{fig(service)} / {fig(truth)}")
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


@dataclass(frozen=True)
class DemoOptions:
    """What ``taxifraud demo`` can be told (its options, same names)."""

    duration: float = 60.0
    wait: float = 60.0
    rate: float = 1000.0
    fraud_rate: float = 0.05
    data: tuple[str, ...] = ()
    batch: int = 20
    concurrency: int = 8
    seed: int = 0
    no_prometheus: bool = False
    review: bool = False
    review_share: float = 0.5
    report_dir: str = str(REPO_ROOT / "run")


def run_demo(args: DemoOptions, console: Console) -> dict[str, Any]:
    # Only an explicit --no-prometheus overrides STACK_PROMETHEUS; otherwise the environment decides.
    overrides: dict[str, Any] = {"stack_prometheus": False} if args.no_prometheus else {}
    settings = StackSettings(**overrides)
    failures: list[str] = []
    with Stack(settings) as stack:
        console.print(
            f"[bold]stack up[/]: gateway {stack.gateway_url}"
            + (f", prometheus {stack.prometheus_url}" if settings.stack_prometheus else "")
        )
        if settings.stack_warmup_transactions:
            console.print(f"warming up: {settings.stack_warmup_transactions:,} trips end to end (ready means warm)")
            console.print(f"warm after {stack.warm_up():.1f}s")
        trips = LabelledTrips(trip_source(list(args.data), args.seed), args.fraud_rate, seed=args.seed)
        collector = stack.verdict_collector(prefix=trips.run_id).start()
        reviewer = (
            DemoReviewer(collector, trips, stack.gateway_url, args.review_share, seed=args.seed).start()
            if args.review
            else None
        )
        review_url = stack.review_url if args.review else None
        stats = ReplayStats()
        batches = batches_for(trips, args.batch, None, args.duration, args.rate)

        def replay() -> None:
            try:
                asyncio.run(
                    send_http(
                        batches, stack.gateway_url, args.rate, args.concurrency, stats, on_accepted=trips.mark_accepted
                    )
                )
            except Exception as exc:  # reported, and the demo fails, instead of a silently dead thread
                log.exception("replay failed")
                failures.append(f"replay failed: {type(exc).__name__}: {exc}")
                stats.finish()

        sender = threading.Thread(target=replay, name="replay", daemon=True)  # Ctrl-C must not wait for it
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
                snap = take_snapshot(stats, trips, collector, reviewer, review_url)
                progress.update(task, completed=min(snap.elapsed_s, args.duration))
                grid = Table.grid()
                grid.add_row(progress)
                grid.add_row(live_table(snap))
                live.update(grid)
                time.sleep(0.25)
            sender.join()
            missing = collector.wait_for(trips.accepted_ids(), timeout=args.wait)
            review = _finish_review(reviewer, review_url)
            grid = Table.grid()
            grid.add_row(live_table(take_snapshot(stats, trips, collector, reviewer, review_url)))
            live.update(grid)
        if not console.is_terminal:
            console.line()  # Live leaves its last frame unterminated when output is not a terminal
        collector.stop()
    verdicts = collector.snapshot()
    labels = trips.labels
    counts = stats.snapshot()
    quality, families = judge(labels, verdicts)
    elapsed = max(counts.finished - counts.started, 1e-9)
    # Every first verdict of the run, from the very first transaction: no warm-up is left out.
    latencies = [v.latency_s for v in verdicts.values() if v.latency_s is not None]
    lat = percentiles(latencies)
    report_dir = Path(args.report_dir)
    png = report_dir / "demo-report.png"
    write_png(png, verdicts, labels, f"demo: {len(verdicts):,} verdicts at {args.rate:.0f}/s offered")
    return {
        "duration_s": args.duration,
        "offered_rate": args.rate,
        "sent": counts.sent,
        "accepted": counts.accepted,
        "errors": counts.errors,
        "error_samples": list(counts.error_samples),
        "failures": failures,
        "throughput_in": counts.accepted / elapsed,
        "verdicts": len(verdicts),
        "alerts": sum(1 for v in verdicts.values() if v.is_fraud),
        "injected": sum(1 for family in labels.values() if family),
        "missing_verdicts": len(missing),
        "duplicates": collector.duplicates,
        "latency_ms": lat,
        "latency_samples": len(latencies),
        "quality": quality,
        "families": families,
        "top_reasons": collector.top_reasons(5),
        "review": review,
        "png": png,
        "report_md": report_dir / "demo-report.md",
        "report_json": report_dir / "demo-report.json",
    }


def _finish_review(
    reviewer: DemoReviewer | None, review_url: str | None, timeout: float = 30.0
) -> dict[str, Any] | None:
    """Label the last alerts, wait until the review service counts every label, and read its precision."""
    if reviewer is None or review_url is None:
        return None
    reviewer.stop()
    counts = reviewer.counts()
    deadline = time.monotonic() + timeout
    service, counted = review_precision(review_url)
    while counted < counts.labelled and time.monotonic() < deadline:
        time.sleep(0.5)
        service, counted = review_precision(review_url)
    return {
        "labelled": counts.labelled,
        "label_errors": counts.errors,
        "labelled_fraud": counts.labelled_fraud,
        "precision_by_labels": counts.precision,
        "review_service_precision": service,
        "review_service_labelled": counted,
    }


def succeeded(r: dict[str, Any]) -> bool:
    """Exit 0 only for a clean run: trips accepted, no errors, every accepted trip got its verdict (and, with
    --review, every label was stored)."""
    review_ok = r.get("review") is None or r["review"]["label_errors"] == 0
    return not r["failures"] and r["errors"] == 0 and r["accepted"] > 0 and r["missing_verdicts"] == 0 and review_ok


def report_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    """The report as (what, value) rows: the console table and ``demo-report.md`` both show these."""
    q: Confusion = r["quality"]
    lat = r["latency_ms"]
    rows = [
        ("result", "ok" if succeeded(r) else "FAILED"),
        ("replay", f"{r['duration_s']:g} s at {r['offered_rate']:,.0f} tx/s offered"),
        ("accepted / verdicts", f"{r['accepted']:,} / {r['verdicts']:,}"),
        ("alerts / injected fraud", f"{r['alerts']:,} / {r['injected']:,}"),
        ("missing verdicts / duplicates", f"{r['missing_verdicts']} / {r['duplicates']}"),
        ("errors", f"{r['errors']}"),
        ("ingest throughput", f"{r['throughput_in']:,.0f} tx/s (offered {r['offered_rate']:,.0f})"),
        (
            "event -> verdict p50/p95/p99",
            f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} ms"
            f" (over all {r['latency_samples']:,} verdicts, from the first)",
        ),
        ("precision / recall / FPR", f"{fig(q.precision)} / {fig(q.recall)} / {fig(q.fpr, 4)}"),
        ("confusion tp/fp/fn/tn", f"{q.tp}/{q.fp}/{q.fn}/{q.tn}"),
    ]
    review = r.get("review")
    if review is not None:
        rows += [
            ("alerts labelled (demo reviewer)", f"{review['labelled']:,} (errors {review['label_errors']})"),
            (
                "labelled precision: review page / injected labels",
                f"{fig(review['review_service_precision'])} / {fig(review['precision_by_labels'])}"
                f" (all alerts: {fig(q.precision)})",
            ),
        ]
    rows += [(f"  recall {family}", f"{caught}/{total}") for family, (caught, total) in r["families"].items()]
    rows += [(f"  top reason: {reason}", f"{n:,}") for reason, n in r["top_reasons"]]
    rows += [("  error", text) for text in [*r["failures"], *r["error_samples"]]]
    return rows


def write_report(r: dict[str, Any]) -> None:
    """``demo-report.md`` (the table below, readable) and ``demo-report.json`` (the same figures)."""
    md: Path = r["report_md"]
    md.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# taxifraud demo report", "", "| what | value |", "|---|---|"]
    lines += [f"| {what.strip()} | {value.replace('|', '/')} |" for what, value in report_rows(r)]
    lines += ["", f"Plots: `{r['png'].name}`", ""]
    md.write_text("\n".join(lines))
    q: Confusion = r["quality"]
    figures = {
        **{k: v for k, v in r.items() if k not in ("quality", "png", "report_md", "report_json")},
        "ok": succeeded(r),
        "quality": {
            "tp": q.tp,
            "fp": q.fp,
            "fn": q.fn,
            "tn": q.tn,
            "precision": q.precision,
            "recall": q.recall,
            "fpr": q.fpr,
        },
        "families": {k: {"caught": c, "injected": t} for k, (c, t) in r["families"].items()},
        "png": str(r["png"]),
    }
    r["report_json"].write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))


def print_report(r: dict[str, Any], console: Console) -> None:
    table = Table(title="demo report", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    for what, value in report_rows(r):
        table.add_row(what, value)
    console.print(table)
    console.print(f"report: {r['report_md']} (figures: {r['report_json'].name})", soft_wrap=True)
    console.print(f"PNG: {r['png']}", soft_wrap=True)


def demo(options: DemoOptions) -> int:
    """``taxifraud demo``: run, write and print the report; exit status 0 only for a clean run."""
    console = Console()
    report = run_demo(options, console)
    write_report(report)
    print_report(report, console)
    return 0 if succeeded(report) else 1
