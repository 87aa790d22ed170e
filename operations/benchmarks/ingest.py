"""Single-event ``POST /transactions`` against a no-op FastAPI app with the same body, both driven by ``wrk``.

What is compared
----------------
The question is what the gateway's own work (validate, stamp, produce, wait for the broker's ack) costs
over FastAPI itself, so the two servers are measured in the same conditions:

* the same worker count, the same ``wrk`` load (connections, body), in alternating rounds (no-op, ours,
  no-op, ours, ...) so that a noisy minute on the machine hits both sides;
* the gateway with its broker running and nothing else: it is configured exactly as the embedded stack
  runs it (same linger), with ``/score`` off since this endpoint never touches Triton. The consumer and
  Triton are *not* running, because on a small machine they would take cores from the gateway that the
  no-op app gets to itself; that case is measured separately (``with_pipeline``) and reported beside.

CPU per request (from ``/proc``) is reported for each side and the broker, so that a ratio can be read
against what each request actually burned.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
from typing import Any

from operations.benchmarks import promtext
from operations.benchmarks.profile import CpuMeter
from operations.benchmarks.wrk import run_wrk
from operations.embedded.process import ManagedProcess, free_port, port_open
from operations.stack import Stack, StackSettings

log = logging.getLogger(__name__)

#: Enough connections that both servers are CPU-bound rather than waiting on round trips: the
#: gateway's answer waits for the broker's ack, which a closed loop of few connections would turn
#: into an idle server and measure latency instead of cost.
WRK_CONNECTIONS = 64
SEED_BODY = {"trip_distance": 2.5, "fare_amount": 12.50, "duration_minutes": 15}


def noop_gateway(settings: StackSettings, port: int) -> ManagedProcess:
    """The same route on a FastAPI app that does nothing: the ceiling our gateway is compared with."""
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "operations.benchmarks.noop:app",
        "--host",
        settings.stack_host,
        "--port",
        str(port),
        "--workers",
        str(settings.stack_gateway_workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    proc = ManagedProcess("noop-gateway", argv, settings.stack_run_dir / "noop-gateway.log").start()
    proc.wait_ready(lambda: port_open(settings.stack_host, port), 30, what="serving")
    return proc


def _round(url: str, seconds: int, pids: dict[str, int]) -> dict[str, Any]:
    meter = CpuMeter(pids).start()
    fig = run_wrk(url, json.dumps(SEED_BODY), seconds=seconds, connections=WRK_CONNECTIONS)
    cores = meter.stop()
    rate = fig["requests_per_s"]
    fig["cores"] = cores
    fig["cpu_us_per_request"] = {name: round(c / rate * 1e6, 1) if rate else None for name, c in cores.items()}
    return fig


def _summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of the rounds, figure by figure; the rounds themselves are kept too."""
    out: dict[str, Any] = {"rounds": rounds}
    for key in ("requests_per_s", "p50_ms", "p99_ms"):
        values = [r[key] for r in rounds if r.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    out["non_2xx"] = sum(r.get("non_2xx", 0) for r in rounds)
    names = rounds[0]["cpu_us_per_request"].keys() if rounds else ()
    out["cpu_us_per_request"] = {
        n: statistics.median(r["cpu_us_per_request"][n] for r in rounds if r["cpu_us_per_request"][n] is not None)
        for n in names
    }
    return out


def ingest_vs_noop(settings: StackSettings, seconds: int, rounds: int = 2) -> dict[str, Any]:
    """Alternate ``rounds`` wrk runs on each side (``seconds`` each); broker + gateway only on our side."""
    stack = Stack(settings, extra_env={"GATEWAY_SCORE_ENABLED": "false"})
    noop_port = free_port()
    ours: list[dict[str, Any]] = []
    noop: list[dict[str, Any]] = []
    stack.start_ingest_only()
    try:
        broker, gateway = stack.services[0], stack.services[-1]
        noop_proc = noop_gateway(settings, noop_port)
        try:
            # warm both up (connections, producer id, first batches) before anything is counted
            run_wrk(f"http://{settings.stack_host}:{noop_port}/transactions", json.dumps(SEED_BODY), seconds=2)
            run_wrk(f"{stack.gateway_url}/transactions", json.dumps(SEED_BODY), seconds=2)
            for i in range(rounds):
                log.info("ingest vs no-op: round %d of %d", i + 1, rounds)
                noop.append(
                    _round(f"http://{settings.stack_host}:{noop_port}/transactions", seconds, {"server": noop_proc.pid})
                )
                ours.append(
                    _round(f"{stack.gateway_url}/transactions", seconds, {"server": gateway.pid, "broker": broker.pid})
                )
        finally:
            noop_proc.stop()
    finally:
        stack.stop()
    ours_fig, noop_fig = _summary(ours), _summary(noop)
    return {
        "ours": ours_fig,
        "noop": noop_fig,
        "ratio": ours_fig["requests_per_s"] / noop_fig["requests_per_s"],
        "rounds": rounds,
        "workers": settings.stack_gateway_workers,
        "wrk": f"wrk -t1 -c{WRK_CONNECTIONS} -d{seconds}s --latency (POST seed body), {rounds} alternating rounds",
        "setup": "gateway + embedded broker only (as `make run` configures them, /score off); no-op alone",
    }


def ingest_with_pipeline(stack: Stack, seconds: int, drain_timeout_s: float = 120.0) -> dict[str, Any]:
    """The same wrk load on the full running stack: consumer and Triton score it on the same cores.

    Returns once the consumers have verdicted all of it (or after ``drain_timeout_s``), so that the next
    measurement does not start behind a backlog.
    """
    pids = {p.name: p.pid for p in stack.services if p.alive()}
    fig = _round(f"{stack.gateway_url}/transactions", seconds, pids)
    fig["drained_s"] = _wait_until_verdicted(stack, drain_timeout_s)
    return fig


def _wait_until_verdicted(stack: Stack, timeout_s: float) -> float | None:
    """Seconds until the consumers' verdict count caught up with the gateway's accepted count."""
    host = stack.settings.stack_host
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        accepted = promtext.counter_value(
            promtext.scrape(f"{stack.gateway_url}/metrics"), "gateway_transactions_accepted"
        )
        verdicts = sum(
            promtext.counter_value(
                promtext.scrape(f"http://{host}:{stack.consumer_metrics_port(i)}/metrics"), "consumer_verdicts"
            )
            for i in range(stack.settings.stack_consumers)
        )
        if verdicts >= accepted:
            return round(time.monotonic() - t0, 1)
        time.sleep(0.5)
    log.warning("backlog not verdicted within %.0fs; later figures start behind it", timeout_s)
    return None
