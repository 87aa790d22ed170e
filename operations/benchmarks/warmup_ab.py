"""A/B of the warm-up before "ready": the first window of traffic after a short and after a long warm-up.

The cold state is the first request after a fresh start, so each side needs stacks of its own; sides
alternate (A, B, A, B...) so that whatever else runs on the machine meets both alike. Each stack is started
on free ports, warmed with its side's trip count, then measured like the bench's cold state: one window of
single-trip POSTs at a steady rate, every verdict's stamped event -> verdict latency.

``python -m operations.benchmarks.warmup_ab --a 32 --b 10000`` compares 32 warm-up trips with 10,000.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
from pathlib import Path
from typing import Any

import click

from operations.benchmarks.latency_states import measure_window
from operations.stack import Stack, StackSettings, free_ports
from taxifraud.click_main import run_command

log = logging.getLogger(__name__)


def cold_window(run_dir: Path, warmup: int, rate: float, seconds: float) -> dict[str, Any]:
    """Start a stack, warm it with ``warmup`` trips, and measure its first window at ``rate``."""
    settings = StackSettings(
        **free_ports(), stack_prometheus=False, stack_run_dir=run_dir, stack_warmup_transactions=warmup
    )
    with Stack(settings) as stack:
        warmup_s = stack.warm_up()
        window = measure_window(stack, "cold", rate, seconds)
    return {"warmup_trips": warmup, "warmup_s": warmup_s, "window": window}


def run(a: int, b: int, rate: float, seconds: float, rounds: int) -> dict[str, Any]:
    """``rounds`` cold windows per side, sides alternating; per side the median of each percentile."""
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="warmup-ab-") as tmp:
        for i in range(rounds):
            for side, trips in (("A", a), ("B", b)):
                log.info("round %d, side %s: %d warm-up trips", i + 1, side, trips)
                result = cold_window(Path(tmp) / f"{side}{i}", trips, rate, seconds)
                runs.append({"side": side, "round": i + 1, **_summary(result)})
    sides = {}
    for side, n in (("A", a), ("B", b)):
        mine = [r for r in runs if r["side"] == side]
        sides[side] = {"warmup_trips": n, **{k: statistics.median(r[k] for r in mine) for k in PERCENTILES}}
    return {"rate": rate, "seconds": seconds, "rounds": rounds, "runs": runs, **sides}


PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    window = result["window"]
    return {
        "warmup_trips": result["warmup_trips"],
        "warmup_s": round(result["warmup_s"], 1),
        "missing": window.get("missing"),
        **window["event_to_verdict"],
    }


@click.command(name="warmup-ab", help=__doc__.splitlines()[0])
@click.option("--a", "a", type=int, default=32, show_default=True, help="warm-up trips of side A")
@click.option("--b", "b", type=int, default=10_000, show_default=True, help="warm-up trips of side B")
@click.option("--rate", type=float, default=1000.0, show_default=True, help="single-trip POSTs/s of the window")
@click.option("--seconds", type=float, default=10.0, show_default=True, help="length of the cold window")
@click.option("--rounds", type=int, default=2, show_default=True, help="stacks per side, alternating")
def command(a: int, b: int, rate: float, seconds: float, rounds: int) -> int:
    result = run(a, b, rate, seconds, rounds)
    for r in result["runs"]:
        click.echo(
            f"round {r['round']} {r['side']} ({r['warmup_trips']} trips, {r['warmup_s']} s): "
            f"p50 {r['p50_ms']:.1f} / p95 {r['p95_ms']:.1f} / p99 {r['p99_ms']:.1f} ms, missing {r['missing']}"
        )
    for side in ("A", "B"):
        s = result[side]
        click.echo(
            f"{side} ({s['warmup_trips']} warm-up trips), first {seconds:.0f} s at {rate:.0f}/s, median of runs: "
            f"p50 {s['p50_ms']:.1f} / p95 {s['p95_ms']:.1f} / p99 {s['p99_ms']:.1f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_command(command, prog_name="python -m operations.benchmarks.warmup_ab"))
