"""Where a transaction's time goes at low load: a measuring script, not a test (speed belongs in ``make bench``).

Starts a broker, Triton and one consumer process (``CONSUMER_*`` overrides as ``KEY=VALUE`` arguments),
warms them up, then produces single transactions at ``--rate`` per second, each stamped with
``ingested_at`` when it is produced (as the gateway does), and reads the consumer's own histograms:
``consumer_span_seconds{span}`` and ``consumer_event_to_verdict_seconds``, as the difference between
the end and the end of the warm-up, at p50/p99 (Prometheus' linear interpolation within a bucket).

    python -m tests.consumer.span_probe --rate 200 --seconds 30
"""

from __future__ import annotations

import logging
import re
import sys
import tempfile
import time
import urllib.request
import uuid
from contextlib import ExitStack
from pathlib import Path

import click
import orjson
from confluent_kafka import Producer

from operations.benchmarks.ab import parse_changes
from operations.benchmarks.consumer_only import (
    consumer_env,
    consumer_process,
    create_topics,
    make_transactions,
    metric_value,
    topic_names,
)
from operations.embedded.process import free_port, port_open
from operations.embedded.triton import start_triton
from taxifraud.click_main import run_command
from taxifraud.config import DEFAULT_MODEL_REPOSITORY, KafkaSettings
from taxifraud.kafka import producer_config
from taxifraud.verdicts import utc_now_rfc3339
from tests.kafka_broker import start_test_broker

log = logging.getLogger("span_probe")

_BUCKET = re.compile(r'^(consumer_\w+)_bucket\{(?:le="([^"]+)",?)?(?:span="(\w+)",?)?(?:le="([^"]+)")?\} (\S+)$')


def histograms(port: int) -> dict[str, list[tuple[float, float]]]:
    """Cumulative buckets of the span and event-to-verdict histograms, keyed by span (or "event_to_verdict")."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        text = resp.read().decode()
    out: dict[str, list[tuple[float, float]]] = {}
    for line in text.splitlines():
        m = _BUCKET.match(line)
        if m is None:
            continue
        name, le1, span, le2, value = m.groups()
        if name == "consumer_span_seconds":
            key = span
        elif name == "consumer_event_to_verdict_seconds":
            key = "event_to_verdict"
        else:
            continue
        le = le1 or le2
        out.setdefault(key, []).append((float("inf") if le == "+Inf" else float(le), float(value)))
    return out


def quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' histogram_quantile over cumulative ``(le, count)`` buckets."""
    buckets = sorted(buckets)
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return float("nan")
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_c) / (c - prev_c) if c > prev_c else 0.0)
        prev_le, prev_c = le, c
    return prev_le


def delta(after: dict[str, list[tuple[float, float]]], before: dict[str, list[tuple[float, float]]]) -> dict:
    out = {}
    for key, buckets in after.items():
        old = dict(before.get(key, []))
        out[key] = [(le, c - old.get(le, 0.0)) for le, c in buckets]
    return out


def stream(producer: Producer, topic: str, txs: list[dict], rate: float) -> None:
    started = time.monotonic()
    for i, tx in enumerate(txs):
        ahead = started + i / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        tx["ingested_at"] = utc_now_rfc3339()
        producer.produce(topic, orjson.dumps(tx), tx["transaction_id"].encode())
        producer.poll(0)
    producer.flush(30)


@click.command(name="span-probe", help=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1])
@click.option("--rate", type=float, default=200.0, show_default=True, help="transactions per second")
@click.option("--seconds", type=float, default=30.0, show_default=True, help="measured stream after the warm-up")
@click.option("--warmup", type=float, default=10.0, show_default=True, help="stream before the measurement")
@click.argument("overrides", nargs=-1, metavar="[CONSUMER_KEY=VALUE]...")
def command(rate: float, seconds: float, warmup: float, overrides: tuple[str, ...]) -> int:
    extra = parse_changes(overrides, "CONSUMER_KEY=VALUE")
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="span-probe-")))
        broker, options = start_test_broker(work / "broker")
        stack.callback(broker.stop)
        http, grpc, metrics = free_port(), free_port(), free_port()
        triton = start_triton(
            DEFAULT_MODEL_REPOSITORY, work / "triton", "127.0.0.1", http, grpc, metrics, work / "t.log"
        )
        stack.callback(triton.stop)
        topics = topic_names(f"probe-{uuid.uuid4().hex[:8]}")
        create_topics(options.bootstrap, topics, 6)
        port = free_port()
        env = consumer_env(
            options.bootstrap,
            f"127.0.0.1:{grpc}",
            topics,
            f"probe-{uuid.uuid4().hex[:8]}",
            port,
            model_repository=str(DEFAULT_MODEL_REPOSITORY),
            consumer_log_level="WARNING",
            **extra,
        )
        proc = consumer_process(env, work / "consumer.log")
        stack.callback(proc.stop)
        proc.wait_ready(lambda: port_open("127.0.0.1", port), 60, what="serving metrics")
        settings = KafkaSettings.model_validate({"kafka_bootstrap_servers": options.bootstrap, **topics})
        producer = Producer(producer_config(settings))
        txs = make_transactions(int(rate * (warmup + seconds)))
        warm = int(rate * warmup)
        stream(producer, topics["topic_transactions"], txs[:warm], rate)
        while metric_value(port, "consumer_verdicts_total") < warm:
            time.sleep(0.1)
        before = histograms(port)
        stream(producer, topics["topic_transactions"], txs[warm:], rate)
        while metric_value(port, "consumer_verdicts_total") < len(txs):
            time.sleep(0.1)
        measured = delta(histograms(port), before)
    order = ["event_to_verdict", "broker_hop", "decode", "consumer_wait", "triton_call", "verdict_build"]
    order.append("verdict_produce_ack")
    sys.stdout.write(f"rate {rate:.0f}/s for {seconds:.0f}s after {warmup:.0f}s warm-up; {extra}\n")
    sys.stdout.write(f"{'span':<22}{'n':>8}{'p50 ms':>10}{'p99 ms':>10}\n")
    for key in order:
        b = measured.get(key, [])
        n = max((c for _, c in b), default=0)
        sys.stdout.write(f"{key:<22}{n:>8.0f}{quantile(0.5, b) * 1e3:>10.2f}{quantile(0.99, b) * 1e3:>10.2f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(command, prog_name="python -m tests.consumer.span_probe"))
