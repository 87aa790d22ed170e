"""``taxifraud bench`` (``make bench``): every performance figure we publish, measured in one run.

Writes ``bench/results.json`` (all figures, the command and the machine), ``bench/results.md`` (a
table beside the seed's withdrawn claims, with our goals) and ``bench/results.png``. Nothing here is
a pass/fail test: goals are compared and reported, misses included, with the bottleneck where known.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from taxifraud.benchmarks import broker_floor, machine, model_throughput, pipeline, report
from taxifraud.benchmarks.wrk import run_wrk
from taxifraud.config import REPO_ROOT
from taxifraud.embedded.process import ManagedProcess, free_port, port_open
from taxifraud.stack import Stack, StackSettings
from taxifraud.traffic import TripGenerator

log = logging.getLogger(__name__)

#: Enough connections that both servers are CPU-bound rather than waiting on round trips: the
#: gateway's answer waits for the broker's ack, which a closed loop of few connections would turn
#: into an idle server and measure latency instead of cost.
WRK_CONNECTIONS = 64
SEED_BODY = {"trip_distance": 2.5, "fare_amount": 12.50, "duration_minutes": 15}


def _noop_gateway(settings: StackSettings, port: int) -> ManagedProcess:
    """The same route on a FastAPI app that does nothing: the ceiling our gateway is compared with."""
    argv = [sys.executable, "-m", "uvicorn", "gateway.noop:app", "--host", settings.stack_host, "--port", str(port),
            "--workers", str(settings.stack_gateway_workers), "--no-access-log", "--log-level", "warning"]
    proc = ManagedProcess("noop-gateway", argv, settings.stack_run_dir / "noop-gateway.log").start()
    proc.wait_ready(lambda: port_open(settings.stack_host, port), 30, what="serving")
    return proc


def ingest_vs_noop(stack: Stack, seconds: int) -> dict[str, Any]:
    body = json.dumps(SEED_BODY)
    s = stack.settings
    port = free_port()
    noop = _noop_gateway(s, port)
    try:
        noop_fig = run_wrk(f"http://{s.stack_host}:{port}/transactions", body, seconds=seconds,
                           connections=WRK_CONNECTIONS)
    finally:
        noop.stop()
    ours = run_wrk(f"{stack.gateway_url}/transactions", body, seconds=seconds, connections=WRK_CONNECTIONS)
    return {"ours": ours, "noop": noop_fig, "ratio": ours["requests_per_s"] / noop_fig["requests_per_s"],
            "wrk": f"wrk -t1 -c{WRK_CONNECTIONS} -d{seconds}s --latency (POST seed body)"}


def run(args: argparse.Namespace) -> dict[str, Any]:
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
        **_free_ports(),
    )
    trips = list(TripGenerator.from_file(seed=3).trips(1024))
    with Stack(settings) as stack:
        log.info("bench: model throughput, Triton vs in-process ONNX Runtime")
        results["model_throughput"] = model_throughput.measure(settings.model_repository, stack.triton_grpc, trips,
                                                               seconds=args.step_seconds / 3)
        log.info("bench: broker floor")
        kafka = settings.model_copy(update={"kafka_bootstrap_servers": stack.bootstrap})
        results["broker_floor"] = {str(r): broker_floor.hop_latency(kafka, r, args.step_seconds) for r in args.rates}
        log.info("bench: single-event ingest vs no-op FastAPI (wrk)")
        results["ingest_vs_noop"] = ingest_vs_noop(stack, int(args.step_seconds))
        log.info("bench: offered loads")
        results["offered_load"] = {
            str(r): pipeline.offered_load(stack, r, args.step_seconds, batch=max(1, int(r // 100)))
            for r in args.rates
        }
        log.info("bench: POST /score latency")
        results["score"] = pipeline.score_latency(stack, args.score_rate, args.step_seconds)
        log.info("bench: peak end-to-end throughput")
        results["max_throughput"] = pipeline.max_throughput(stack, args.max_count)
        if args.soak_minutes > 0:
            log.info("bench: soak for %.0f min at %.0f/s", args.soak_minutes, args.soak_rate)
            results["soak"] = pipeline.soak(stack, args.soak_rate, args.soak_minutes * 60)
    log.info("bench: consumer-only throughput from a pre-filled topic")
    results["consumer_only"] = _consumer_only(args.consumer_only_count)
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return results


def _consumer_only(count: int) -> dict[str, Any]:
    try:
        from consumer.bench import consumer_only_throughput
    except ImportError as exc:
        return {"error": f"consumer.bench not available: {exc}"}
    return dict(consumer_only_throughput(count))


def _free_ports() -> dict[str, Any]:
    keys = ("stack_broker_port", "stack_triton_http_port", "stack_triton_grpc_port", "stack_triton_metrics_port",
            "stack_gateway_port", "stack_consumer_metrics_port")
    return {k: free_port() for k in keys}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxifraud bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO_ROOT / "bench"), help="where results.{json,md,png} go")
    parser.add_argument("--step-seconds", type=float, default=20.0, help="length of each measured step")
    parser.add_argument("--rates", type=float, nargs="+", default=[1000.0, 5000.0], help="offered loads, tx/s")
    parser.add_argument("--score-rate", type=float, default=1000.0)
    parser.add_argument("--max-count", type=int, default=200_000, help="transactions for the peak run")
    parser.add_argument("--consumer-only-count", type=int, default=200_000)
    parser.add_argument("--soak-minutes", type=float, default=10.0, help="0 skips the soak")
    parser.add_argument("--soak-rate", type=float, default=2000.0)
    parser.add_argument("--consumers", type=int, default=1)
    parser.add_argument("--gateway-workers", type=int, default=1)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    results = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    (out / "results.md").write_text(report.markdown(results))
    report.plot(results, out / "results.png")
    print(report.markdown(results))
    print(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'results.png'}")
    return 0
