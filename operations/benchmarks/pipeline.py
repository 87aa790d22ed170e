"""End-to-end figures on a running embedded stack: offered-load latency spans, peak throughput, soak.

The load generator is ``taxifraud replay`` in its own process; this process only reads verdicts and
scrapes the services' metrics, so it measures the system rather than competing with it for the GIL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from operations.benchmarks import ledger, profile, promtext
from operations.stack import Stack


def _pct(values_s: list[float]) -> dict[str, float]:
    if not values_s:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    arr = np.asarray(values_s) * 1e3
    return {f"p{q}_ms": float(np.percentile(arr, q)) for q in (50, 95, 99)}


def replay_process(
    stack: Stack,
    run_id: str,
    rate: float,
    *,
    seconds: float | None = None,
    count: int | None = None,
    batch: int = 50,
    concurrency: int = 8,
    fraud_rate: float = 0.05,
) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        "-m",
        "operations.cli",
        "replay",
        "--gateway",
        stack.gateway_url,
        "--rate",
        str(rate),
        "--batch",
        str(batch),
        "--concurrency",
        str(concurrency),
        "--fraud-rate",
        str(fraud_rate),
        "--run-id",
        run_id,
    ]
    argv += ["--duration", str(seconds)] if seconds else ["--count", str(count)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _consumer_histograms(stack: Stack, names: tuple[str, ...]) -> dict[str, promtext.Buckets]:
    out: dict[str, promtext.Buckets] = {n: {} for n in names}
    for i in range(stack.settings.stack_consumers):
        text = promtext.scrape(f"http://{stack.settings.stack_host}:{stack.consumer_metrics_port(i)}/metrics")
        for name in names:
            for le, value in promtext.histogram_buckets(text, name).items():
                out[name][le] = out[name].get(le, 0.0) + value
    return out


SPANS = ("consumer_processing_seconds", "consumer_event_to_verdict_seconds", "consumer_triton_request_duration_seconds")


def offered_load(stack: Stack, rate: float, seconds: float, batch: int) -> dict[str, Any]:
    """Latency spans at a steady offered rate, measured over the whole window."""
    run_id = f"load{int(rate)}-{uuid.uuid4().hex[:6]}"
    collector = stack.verdict_collector(prefix=run_id).start()
    before = _consumer_histograms(stack, SPANS)
    proc = replay_process(stack, run_id, rate, seconds=seconds, batch=batch)
    out, _ = proc.communicate(timeout=seconds + 120)
    accepted = _accepted(out)
    missing = collector.wait_for({f"{run_id}-{i}" for i in range(accepted)}, timeout=60)
    after = _consumer_histograms(stack, SPANS)
    collector.stop()
    seen = collector.snapshot()
    spans = {}
    for name in SPANS:
        d = promtext.delta(after[name], before[name])
        spans[name] = {f"p{int(q * 100)}_ms": promtext.quantile(d, q) * 1e3 for q in (0.5, 0.95, 0.99)}
    return {
        "offered_rate": rate,
        "seconds": seconds,
        "accepted": accepted,
        "verdicts": len(seen),
        "missing": len(missing),
        "duplicates": collector.duplicates,
        "replay_output": out.strip().splitlines()[-1] if out.strip() else "",
        "event_to_verdict_read": _pct([v.latency_s for v in seen.values() if v.latency_s is not None]),
        "event_to_scored": _pct([v.scored_latency_s for v in seen.values() if v.scored_latency_s is not None]),
        "consumer_histograms": spans,
    }


def _sending(replay_output: str) -> tuple[float, float] | None:
    """(CPU seconds, epoch time of the first request) of the replay's sending, its start-up apart.

    Its start-up (imports, building the trip pool: seconds) is neither a cost per verdict nor part of the
    time the system had to produce them, so rates and the ledger both start at its first request.
    """
    for line in replay_output.splitlines():
        if line.startswith("sent ") and " s CPU sending from " in line:
            cpu, _, started = line.rsplit("; ", 1)[1].partition(" s CPU sending from ")
            return float(cpu), float(started)
    return None


def _broker_requests(stack: Stack) -> dict[str, float]:
    """Requests the embedded broker has served, by kind (its JMX counters); empty for an external broker."""
    url = stack.broker_metrics_url
    return promtext.by_label(promtext.scrape(url), "kafka_broker_requests_total", "request") if url else {}


def _accepted(replay_output: str) -> int:
    for line in replay_output.splitlines():
        if line.startswith("sent "):
            return int(line.split("accepted ")[1].split(",")[0])
    raise RuntimeError(f"replay printed no summary:\n{replay_output}")


def max_throughput(
    stack: Stack, count: int, batch: int = 500, concurrency: int = 4, profile_seconds: float = 8.0
) -> dict[str, Any]:
    """As fast as possible: HTTP batch ingestion -> verdicts topic; every id must get exactly one verdict.

    Beside the rates, the run's cost ledger: CPU seconds of every process (services, the load generator,
    this process reading the verdicts) from the first request to the last verdict, per verdict
    (:mod:`operations.benchmarks.ledger`). ``profile_seconds`` > 0 also samples the Python services
    with py-spy for that long (its own CPU is shown apart, not in the total).
    """
    run_id = f"max-{uuid.uuid4().hex[:6]}"
    collector = stack.verdict_collector(prefix=run_id).start()
    pids = {p.name: p.pid for p in stack.services if p.alive()}
    meter = profile.CpuMeter(pids).start()
    before = _consumer_histograms(stack, SPANS)
    requests0 = _broker_requests(stack)
    self_cpu0 = time.process_time()
    t0 = time.time()
    proc = replay_process(stack, run_id, 0, count=count, batch=batch, concurrency=concurrency)
    spies: dict[str, Any] = {}
    if profile_seconds > 0:
        time.sleep(2.0)  # profile the steady state, not start-up
        spies = {
            name: profile.py_spy(pid, profile_seconds)
            for name, pid in pids.items()
            if name.startswith(("consumer", "gateway"))
        }
    out = proc.stdout.read() if proc.stdout else ""
    replay_cpu = profile.reap(proc)
    ingest_done = time.time()
    ingest_cores = meter.stop()
    accepted = _accepted(out)
    missing = collector.wait_for({f"{run_id}-{i}" for i in range(accepted)}, timeout=120)
    cpu = meter.seconds()
    self_cpu = time.process_time() - self_cpu0
    after = _consumer_histograms(stack, SPANS)
    requests = {k: v - requests0.get(k, 0.0) for k, v in _broker_requests(stack).items()}
    time.sleep(1.0)  # let late duplicates show up
    collector.stop()
    seen = collector.snapshot()
    last = max((v.seen_at for v in seen.values()), default=t0)
    ingest_cores["load generator (replay)"] = round(replay_cpu / max(ingest_done - t0, 1e-9), 2)
    sending = _sending(out)
    cpu["load generator (replay)"] = replay_cpu if sending is None else sending[0]
    if sending is not None:  # start-up (imports, the pre-generated trip pool) is no cost per verdict
        cpu["load generator start-up (not counted)"] = replay_cpu - sending[0]
        t0 = max(t0, sending[1])
    cpu["verdict reader (bench process)"] = self_cpu
    spy_results = {name: profile.py_spy_result(spy) for name, spy in spies.items()}
    for name, result in spy_results.items():
        if result.get("cpu_seconds") is not None:
            cpu[f"py-spy on {name}"] = result["cpu_seconds"]
    processing = promtext.delta(after[SPANS[0]], before[SPANS[0]])
    return {
        "transactions": count,
        "http_batch": batch,
        "concurrency": concurrency,
        "accepted": accepted,
        "verdicts": len(seen),
        "missing": len(missing),
        "duplicates": collector.duplicates,
        "exactly_one_verdict_each": not missing and collector.duplicates == 0 and accepted == count,
        "ingest_rate": accepted / max(ingest_done - t0, 1e-9),
        "end_to_end_rate": len(seen) / max(last - t0, 1e-9),
        "seconds": last - t0,
        "processing_p99_ms": promtext.quantile(processing, 0.99) * 1e3,
        "cpu_cores_busy": ingest_cores,
        "ledger": ledger.ledger(cpu, len(seen)),
        # What the broker's CPU per verdict is made of: requests of each kind it served per 1,000 verdicts.
        "broker_requests_per_1000_verdicts": {
            k: round(v * 1000 / len(seen), 2) for k, v in sorted(requests.items(), key=lambda kv: -kv[1]) if v > 0
        }
        if seen
        else {},
        "py_spy": spy_results,
    }


def score_latency(stack: Stack, rate: float, seconds: float) -> dict[str, Any]:
    """Synchronous ``POST /score`` round trips (one trip each) at a steady rate, from another process."""
    proc = subprocess.run(
        [sys.executable, "-m", "operations.benchmarks.score_load", stack.gateway_url, str(rate), str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
    )
    return dict(orjson.loads(proc.stdout.strip().splitlines()[-1]))


def _rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants (uvicorn workers, Triton's stubs)."""
    total = 0.0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
            for task in os.listdir(f"/proc/{p}/task"):
                children = Path(f"/proc/{p}/task/{task}/children").read_text().split()
                stack.extend(int(c) for c in children)
        except (OSError, ValueError):
            continue
    return total


def soak(stack: Stack, rate: float, seconds: float, sample_every: float = 10.0) -> dict[str, Any]:
    """Steady load for a long time; samples throughput, latency and every process's memory."""
    run_id = f"soak-{uuid.uuid4().hex[:6]}"
    collector = stack.verdict_collector(prefix=run_id).start()
    proc = replay_process(stack, run_id, rate, seconds=seconds, batch=50)
    samples: list[dict[str, Any]] = []
    last_count, last_t = 0, time.time()
    while proc.poll() is None:
        time.sleep(sample_every)
        now = time.time()
        count = collector.count()
        window = np.asarray(collector.take_read_latencies())
        samples.append(
            {
                "t": now,
                "verdicts_per_s": (count - last_count) / (now - last_t),
                "p99_ms": float(np.percentile(window * 1e3, 99)) if window.size else float("nan"),
                "rss_mib": {p.name: round(_rss_mib(p.pid), 1) for p in stack.services if p.alive()},
            }
        )
        last_count, last_t = count, now
    out, _ = proc.communicate()
    accepted = _accepted(out)
    missing = collector.wait_for({f"{run_id}-{i}" for i in range(accepted)}, timeout=60)
    collector.stop()
    return {
        "offered_rate": rate,
        "seconds": seconds,
        "accepted": accepted,
        "missing": len(missing),
        "duplicates": collector.duplicates,
        "samples": samples,
        "drift": soak_drift(samples),
    }


def soak_drift(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """First vs last minute (after a warm-up sample): throughput, p99 and memory per process."""
    if len(samples) < 5:
        return {}
    # The first sample includes start-up and the last one the run-down after the load stopped.
    samples = samples[1:-1]
    per_minute = max(1, round(60 / max(samples[1]["t"] - samples[0]["t"], 1e-9)))
    head, tail = samples[:per_minute], samples[-per_minute:]

    def mean(rows: list[dict[str, Any]], key: str) -> float:
        return float(np.nanmean([r[key] for r in rows]))

    memory = {}
    for name in tail[-1]["rss_mib"]:
        first = float(np.mean([r["rss_mib"].get(name, np.nan) for r in head]))
        last = float(np.mean([r["rss_mib"].get(name, np.nan) for r in tail]))
        memory[name] = {
            "first_mib": round(first, 1),
            "last_mib": round(last, 1),
            "change_pct": round((last - first) / first * 100, 1) if first else None,
        }
    return {
        "throughput_first": mean(head, "verdicts_per_s"),
        "throughput_last": mean(tail, "verdicts_per_s"),
        "p99_ms_first": mean(head, "p99_ms"),
        "p99_ms_last": mean(tail, "p99_ms"),
        "memory": memory,
    }
