"""``taxifraud bench`` (``make bench``): every performance figure we publish, measured in one run.

Writes ``bench/results.json`` (all figures, the command and the machine), ``bench/results.md`` (a
table beside the seed's withdrawn claims, with our goals) and ``bench/results.png``. Nothing here is
a pass/fail test: goals are compared and reported, misses included, with the bottleneck where known.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import orjson
from click.core import ParameterSource

from operations.benchmarks import (
    broker_floor,
    broker_startup,
    chaos,
    cost_floor,
    floors,
    ingest,
    latency_states,
    machine,
    model_cost,
    model_throughput,
    pipeline,
    promtext,
    report,
    report_plot,
    scale_out,
    score_rates,
)
from operations.benchmarks import ledger as cost_ledger
from operations.stack import Stack, StackSettings, free_ports
from operations.traffic import TripGenerator
from taxifraud.config import REPO_ROOT

log = logging.getLogger(__name__)


def run(args: Any) -> dict[str, Any]:
    results: dict[str, Any] = {
        "command": "make bench  (taxifraud bench " + " ".join(args.argv) + ")",
        "machine": machine.describe(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    settings = StackSettings(
        stack_run_dir=REPO_ROOT / "run" / "bench",
        stack_prometheus=False,
        stack_consumers=args.consumers,
        stack_gateway_workers=args.gateway_workers,
        **free_ports(),
    )
    trips = list(TripGenerator.from_file(seed=3).trips(1024))
    log.info("bench: single-event ingest vs no-op FastAPI (wrk), gateway + broker only")
    alone = settings.model_copy(update={**free_ports(), "stack_run_dir": settings.stack_run_dir / "ingest"})
    results["ingest_vs_noop"] = ingest.ingest_vs_noop(alone, int(args.step_seconds / 2), rounds=2)
    with Stack(settings, extra_env={"CONSUMER_BATCH_MAX": str(args.consumer_batch)}) as stack:
        # Ready means warm, as for `taxifraud up` and `make demo`: "cold" is the first request after that.
        results["warmup_seconds"] = stack.warm_up()
        ready_at = time.monotonic()
        log.info("bench: event -> verdict at %.0f/s, cold (from ready) and warm (30 s after)", args.latency_rate)
        results["latency_states"] = latency_states.cold_and_warm(stack, ready_at, args.latency_rate, args.step_seconds)
        log.info("bench: model throughput, Triton vs in-process ONNX Runtime")
        results["model_throughput"] = model_throughput.measure(
            settings.model_repository, stack.triton_grpc, trips, seconds=args.step_seconds / 3
        )
        log.info("bench: broker floor")
        kafka = settings.model_copy(update={"kafka_bootstrap_servers": stack.bootstrap})
        results["broker_floor"] = {str(r): broker_floor.hop_latency(kafka, r, args.step_seconds) for r in args.rates}
        log.info("bench: single-event ingest while the pipeline scores it (wrk)")
        results["ingest_with_pipeline"] = ingest.ingest_with_pipeline(stack, int(args.step_seconds / 2))
        log.info("bench: offered loads")
        results["offered_load"] = {
            str(r): pipeline.offered_load(stack, r, args.step_seconds, batch=max(1, int(r // 100))) for r in args.rates
        }
        log.info("bench: peak end-to-end throughput (%d transactions)", args.max_count)
        peak = pipeline.max_throughput(stack, args.max_count, batch=args.http_batch, concurrency=args.concurrency)
        log.info("bench: the cost floor (bare Kafka hop, ONNX Runtime row, orjson) on the same broker")
        results["cost_floor"] = cost_floor.measure(
            kafka,
            _pid(stack, "broker"),
            settings.model_repository,
            trips,
            batch=args.consumer_batch,
            kafka_messages=args.floor_messages,
        )
        peak["ledger"] = cost_ledger.with_floor(peak["ledger"], results["cost_floor"]["total_us"])
        peak["projection"] = scale_out.projection(peak["ledger"], results["machine"].get("cores") or 2)
        results["max_throughput"] = peak
        _latency_after_load(stack, args, trips, results)
        # /score is measured on a broker that already carries the history above (>= 1M messages by default):
        # the embedded broker's latency must not depend on how much it has stored.
        before = _broker_messages_in(stack)
        log.info("bench: POST /score latency, after %s messages through the broker", before)
        results["score"] = {
            **pipeline.score_latency(stack, args.score_rate, args.step_seconds),
            "broker_messages_before": before,
        }
        if args.soak_minutes > 0:
            log.info("bench: soak for %.0f min at %.0f/s", args.soak_minutes, args.soak_rate)
            results["soak"] = pipeline.soak(stack, args.soak_rate, args.soak_minutes * 60)
        if args.scale_count > 0:
            layouts = scale_out.default_layouts(args.http_batch, args.consumer_batch, batch_sizes=not args.quick)
            log.info("bench: scale-out over %d layouts", len(layouts))
            results["scale_out"] = scale_out.measure(stack, layouts, args.scale_count)
        results["broker_jvm"] = _broker_jvm(stack)
    if settings.stack_embedded_broker:
        log.info("bench: embedded broker start-up time, idle CPU and memory")
        results["broker"] = broker_startup.measure(
            settings.stack_run_dir / "broker-startup", settings.stack_broker_heap_mb
        )
    log.info("bench: consumer-only throughput from a pre-filled topic")
    results["consumer_only"] = _consumer_only(args.consumer_only_count)
    if args.chaos:
        log.info("bench: kill -9 of each service under a stream (make chaos)")
        kills = chaos.run_kills(REPO_ROOT / "run" / "bench-chaos")
        results["chaos"] = [asdict(k) for k in kills]
        log.info("bench: chaos\n%s", chaos.render(kills))
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return results


def _latency_after_load(stack: Stack, args: Any, trips: list[Any], results: dict[str, Any]) -> None:
    """Issue 24's latency figures that need a loaded stack: post-burst, after history, /score rates, floors."""
    rate, seconds = args.latency_rate, args.step_seconds
    states = results["latency_states"]
    states["scaled_down"] = {k: getattr(args, k) for k, full in QUICK_UNSCALED.items() if getattr(args, k) != full}
    log.info("bench: event -> verdict right after a burst of %d", args.burst)
    states["post-burst"] = latency_states.post_burst(
        stack, rate, seconds, args.burst, args.http_batch, args.concurrency
    )
    log.info("bench: event -> verdict after %d transactions of history", args.history)
    states["after-history"] = latency_states.after_history(
        stack, _broker_messages_in(stack), args.history, rate, seconds, args.http_batch, args.concurrency
    )
    log.info("bench: POST /score at %s/s", ", ".join(f"{r:,.0f}" for r in args.score_rates))
    results["score_rates"] = score_rates.measure(stack, tuple(args.score_rates), seconds)
    log.info("bench: the two-hop Kafka floor at %.0f/s on the same broker", rate)
    kafka = stack.settings.model_copy(update={"kafka_bootstrap_servers": stack.bootstrap})
    hop = floors.two_hop(kafka, rate, seconds)
    call = floors.triton_call(results.get("model_throughput") or {})
    results["latency_floors"] = {
        "kafka_two_hop": hop,
        "triton_call": call,
        "versus": {
            name: floors.versus_floor(
                (states.get(name) or {}).get("event_to_verdict", {}).get("p99_ms"), hop["p99_ms"], call["p99_ms"]
            )
            for name in ("cold", "warm", "post-burst", "after-history")
        },
    }
    log.info("bench: model cost per row and per call, committed and previous model")
    results["model_cost"] = model_cost.measure(stack.settings.model_repository, trips)


def _pid(stack: Stack, name: str) -> int | None:
    try:
        return stack.service(name).pid
    except KeyError:  # an external broker: its CPU is not ours to read
        return None


def _broker_metrics(stack: Stack) -> str:
    url = stack.broker_metrics_url
    return promtext.scrape(url) if url else ""


def _broker_messages_in(stack: Stack) -> int | None:
    """Transactions appended to the transactions topic since the broker started, by its own JMX counter."""
    text = _broker_metrics(stack)
    values = promtext.samples(text, "kafka_broker_topic_messagesin_total", topic=stack.settings.topic_transactions)
    return int(sum(values)) if values else None


def _broker_jvm(stack: Stack) -> dict[str, Any]:
    """The broker's heap in use and its GC time so far, after all the load (is the heap big enough?)."""
    text = _broker_metrics(stack)
    heap = promtext.samples(text, "jvm_memory_used_bytes", area="heap")
    gc = promtext.samples(text, "jvm_gc_collection_seconds_sum")
    return {
        "heap_used_mib": round(sum(heap) / (1 << 20), 1) if heap else None,
        "gc_seconds_total": round(sum(gc), 2) if gc else None,
        "heap_mb": stack.settings.stack_broker_heap_mb,
    }


def _consumer_only(count: int) -> dict[str, Any]:
    try:
        from operations.benchmarks.consumer_only import consumer_only_throughput
    except ImportError as exc:
        return {"error": f"operations.benchmarks.consumer_only not available: {exc}"}
    return dict(consumer_only_throughput(count))


#: ``taxifraud bench``'s options (each also a key of the ``args`` :func:`run` reads).
OPTIONS = (
    click.option("--out", default=str(REPO_ROOT / "bench"), help="where results.{json,md,png} go"),
    click.option("--step-seconds", type=float, default=20.0, help="length of each measured step"),
    click.option("--rates", type=float, multiple=True, default=[1000.0, 5000.0], help="offered loads, tx/s (repeat)"),
    click.option("--score-rate", type=float, default=1000.0),
    click.option("--latency-rate", type=float, default=1000.0, help="single-trip POSTs/s of the latency states"),
    click.option("--burst", type=int, default=500_000, help="transactions at full speed before post-burst"),
    click.option("--history", type=int, default=1_000_000, help="broker history before the after-history state"),
    click.option(
        "--score-rates", type=float, multiple=True, default=list(score_rates.RATES), help="/score rates (repeat)"
    ),
    click.option("--max-count", type=int, default=1_000_000, help="transactions for the peak run (before /score)"),
    click.option("--consumer-only-count", type=int, default=200_000),
    click.option("--soak-minutes", type=float, default=10.0, help="0 skips the soak"),
    click.option("--soak-rate", type=float, default=2000.0),
    click.option("--consumers", type=int, default=1),
    click.option("--gateway-workers", type=int, default=1),
    click.option("--http-batch", type=int, default=1000, help="transactions per HTTP request in peak runs"),
    click.option("--concurrency", type=int, default=2, help="HTTP requests in flight in peak runs"),
    click.option("--consumer-batch", type=int, default=1024, help="CONSUMER_BATCH_MAX of the stack and of the floor"),
    click.option("--floor-messages", type=int, default=200_000, help="messages of the bare Kafka hop"),
    click.option(
        "--scale-count", type=int, default=200_000, help="transactions per scale-out layout; 0 skips the scale-out"
    ),
    click.option("--no-chaos", "chaos", flag_value=False, default=True, help="skip the kill -9 section (make chaos)"),
    click.option(
        "--quick",
        is_flag=True,
        help="a few minutes instead of ~25: short steps, 200k peak, no soak, scale-out over process counts only",
    ),
)


#: What ``--quick`` changes (explicit flags given beside it still win over these).
QUICK = {
    "step_seconds": 6.0,
    "max_count": 200_000,
    "soak_minutes": 0.0,
    "consumer_only_count": 50_000,
    "floor_messages": 100_000,
    "scale_count": 60_000,
    "burst": 50_000,
    "history": 200_000,
}
#: The full run's burst and history, which ``--quick`` scales down (the report says so).
QUICK_UNSCALED = {"burst": 500_000, "history": 1_000_000}


def _options(command: Callable[..., int]) -> Callable[..., int]:
    for option in reversed(OPTIONS):
        command = option(command)
    return command


def _given(ctx: click.Context) -> list[str]:
    """The options given on the command line, written back as flags (the report names the command)."""
    argv: list[str] = []
    for param in ctx.command.params:
        name = param.name or ""
        if not isinstance(param, click.Option) or name not in ctx.params:
            continue
        if ctx.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
            continue
        if param.is_flag:
            argv.append(param.opts[0])
            continue
        for value in ctx.params[name] if param.multiple else (ctx.params[name],):
            argv += [param.opts[0], f"{value:g}" if isinstance(value, float) else str(value)]
    return argv


@click.command("bench", help=__doc__.split("\n\n")[0])
@_options
@click.pass_context
def command(ctx: click.Context, **options: Any) -> int:
    """``taxifraud bench``: measure, then write and print the report."""
    if options["quick"]:
        for key, value in QUICK.items():
            if ctx.get_parameter_source(key) is ParameterSource.DEFAULT:
                options[key] = value
    options["rates"], options["score_rates"] = list(options["rates"]), list(options["score_rates"])
    args = SimpleNamespace(**options, argv=_given(ctx))
    results = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    (out / "results.md").write_text(report.markdown(results))
    report_plot.plot(results, out / "results.png")
    print(report.markdown(results))
    print(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'results.png'}")
    return 0
