"""Consumer-only throughput benchmark (part of ``make bench``), and the trips and processes it is made of.

:func:`consumer_only_throughput` pre-fills a fresh topic with ``n`` realistic transactions (TLC sample
rows from ``shared/data``), starts a real consumer *process* and times it draining the topic into
acknowledged verdicts, read from its own Prometheus endpoint (reading the verdict topic as well would
steal CPU from the thing being measured on a 2-core machine). ``python -m operations.benchmarks.consumer_only N``
runs it alone. The consumer's integration tests reuse its building blocks (``tests/consumer/harness.py``).
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
import random
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
import orjson
from confluent_kafka import Message, Producer

from operations.embedded.broker import BrokerOptions, start_broker
from operations.embedded.process import ManagedProcess, free_port, port_open
from operations.embedded.triton import start_triton
from taxifraud.click_main import run_command
from taxifraud.config import DEFAULT_MODEL_REPOSITORY, REPO_ROOT, KafkaSettings
from taxifraud.kafka import ensure_topics
from taxifraud.verdicts import utc_now_rfc3339

log = logging.getLogger(__name__)

#: TLC sample CSVs whose columns already carry the wire field names.
SAMPLES_DIR = REPO_ROOT.parent / "shared" / "data" / "yellow_tripdata_samples_10k"
_TEXT_FIELDS = {"pickup_datetime", "dropoff_datetime", "store_and_fwd_flag"}


def sample_files() -> list[Path]:
    files = sorted(SAMPLES_DIR.glob("*.csv"))
    if files:
        return files
    raise FileNotFoundError(f"no TLC sample CSVs in {SAMPLES_DIR}")


def _convert(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value == "" or value is None:
            continue
        if key in _TEXT_FIELDS:
            out[key] = value
            continue
        try:
            number = float(value)
        except ValueError:
            out[key] = value
            continue
        out[key] = int(number) if number.is_integer() and "." not in value else number
    return out


def synthetic_transactions(seed: int = 7) -> Iterator[dict[str, Any]]:
    """Plausible trips from a seeded RNG: the stand-in when the TLC samples are not on this machine."""
    rng = random.Random(seed)
    start = datetime(2019, 3, 1)
    while True:
        distance = round(rng.lognormvariate(0.5, 0.8), 2)
        minutes = max(1.0, distance * rng.uniform(2.5, 6.0))
        pickup = start + timedelta(seconds=rng.randrange(0, 30 * 86400))
        fare = round(2.5 + 2.5 * distance + 0.5 * minutes / 2, 1)
        tip = round(fare * rng.choice((0.0, 0.15, 0.2, 0.25)), 2)
        yield {
            "vendor_id": rng.choice((1, 2)),
            "pickup_datetime": pickup.strftime("%Y-%m-%d %H:%M:%S"),
            "dropoff_datetime": (pickup + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S"),
            "passenger_count": rng.choice((1, 1, 1, 2, 3)),
            "trip_distance": distance,
            "rate_code_id": 1,
            "pickup_location_id": rng.randrange(1, 264),
            "dropoff_location_id": rng.randrange(1, 264),
            "payment_type": 1 if tip else rng.choice((1, 2)),
            "fare_amount": fare,
            "extra": rng.choice((0.0, 0.5, 1.0)),
            "mta_tax": 0.5,
            "tip_amount": tip,
            "tolls_amount": 0.0,
            "improvement_surcharge": 0.3,
            "total_amount": round(fare + tip + 0.8 + 2.5, 2),
            "congestion_surcharge": 2.5,
        }


def iter_transactions() -> Iterator[dict[str, Any]]:
    """Sample trips as gateway-shaped transactions (without id and stamp), forever.

    Round-robin over the monthly files, so even a small sample spans every month (as live traffic would
    against a model trained on many months) instead of being all January 2018.
    """
    try:
        files = sample_files()
    except FileNotFoundError:
        log.warning("TLC samples not found; using synthetic trips")
        yield from synthetic_transactions()
        return
    while True:
        with ExitStack() as stack:
            readers = [csv.DictReader(stack.enter_context(path.open(newline=""))) for path in files]
            for row in itertools.zip_longest(*readers):
                for raw in row:
                    if raw is None:
                        continue
                    tx = _convert(raw)
                    if "trip_distance" in tx and "fare_amount" in tx:
                        yield tx


def make_transactions(n: int) -> list[dict[str, Any]]:
    """``n`` transactions with fresh ``transaction_id`` and ``ingested_at``, as the gateway produces them."""
    stamp = utc_now_rfc3339()
    out = []
    for tx in itertools.islice(iter_transactions(), n):
        tx = dict(tx)
        tx["transaction_id"] = uuid.uuid4().hex
        tx["ingested_at"] = stamp
        out.append(tx)
    return out


def batch_producer(bootstrap: str) -> Producer:
    return Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20, "batch.num.messages": 10000}
    )


def send(
    producer: Producer,
    topic: str,
    values: Sequence[bytes | None],
    keys: Sequence[bytes | None] | None,
    failures: list[str],
) -> None:
    def report(err: Any, _msg: Message) -> None:
        if err is not None:
            failures.append(str(err))

    for i, value in enumerate(values):
        key = keys[i] if keys is not None else None
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
    producer.poll(0)


def produce(
    bootstrap: str,
    topic: str,
    values: Sequence[bytes | None],
    keys: Sequence[bytes | None] | None = None,
    timeout: float = 60.0,
) -> None:
    """Produce raw bytes with a plain client (batched, idempotent), waiting for every acknowledgement."""
    producer = batch_producer(bootstrap)
    failures: list[str] = []
    send(producer, topic, values, keys, failures)
    left = producer.flush(timeout)
    if left or failures:
        raise RuntimeError(f"produce to {topic}: {left} unacknowledged, failures: {failures[:3]}")


def produce_transactions(bootstrap: str, topic: str, txs: Sequence[dict[str, Any]]) -> None:
    produce(bootstrap, topic, [orjson.dumps(tx) for tx in txs], [tx["transaction_id"].encode() for tx in txs])


def metric_value(port: int, name: str, labels: str = "") -> float:
    """Sum of the samples ``name{labels...}`` on a local Prometheus endpoint (0 if absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {") and labels in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def consumer_env(
    bootstrap: str, triton_grpc: str, topics: dict[str, str], group: str, metrics_port: int, **extra: Any
) -> dict[str, str]:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "TRITON_GRPC_URL": triton_grpc,
        "CONSUMER_GROUP_ID": group,
        "CONSUMER_METRICS_PORT": str(metrics_port),
        "CONSUMER_METRICS_HOST": "127.0.0.1",
        **{k.upper(): v for k, v in topics.items()},
    }
    env.update({k.upper(): str(v) for k, v in extra.items()})
    return env


def consumer_process(env: dict[str, str], log_path: Path, name: str = "consumer") -> ManagedProcess:
    """``python -m consumer`` as a real process (kill -9 and SIGTERM in tests are real)."""
    return ManagedProcess(name, [sys.executable, "-m", "consumer"], log_path, env=env, cwd=REPO_ROOT).start()


def topic_names(prefix: str) -> dict[str, str]:
    """Fresh topic names (env keys of KafkaSettings), so runs on one broker never see each other's data."""
    return {
        "topic_transactions": f"{prefix}.transactions",
        "topic_verdicts": f"{prefix}.verdicts",
        "topic_alerts": f"{prefix}.alerts",
        "topic_dlq": f"{prefix}.dlq",
        "topic_labels": f"{prefix}.labels",
        "topic_verdicts_shadow": f"{prefix}.verdicts-shadow",
        "topic_model_control": f"{prefix}.model-control",
    }


def create_topics(bootstrap: str, topics: dict[str, str], partitions: int) -> None:
    settings = KafkaSettings.model_validate(
        {"kafka_bootstrap_servers": bootstrap, "topic_partitions": partitions, **topics}
    )
    ensure_topics(settings)


def consumer_only_throughput(
    n: int = 100_000,
    *,
    bootstrap: str | None = None,
    triton_grpc: str | None = None,
    model_repository: Path | None = None,
    partitions: int = 6,
    batch_max: int = 1024,
    work_dir: Path | None = None,
    timeout: float = 300.0,
    consumer_settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Pre-fill a topic with ``n`` transactions, then time one consumer process draining it to verdicts.

    Starts an embedded broker and Triton unless ``bootstrap`` / ``triton_grpc`` are given. Returns
    ``{"n", "seconds", "tx_per_s", "startup_s", "total_s", ...}``; ``tx_per_s`` counts from the first
    acknowledged verdict to the last (group join and Triton connect excluded, reported as ``startup_s``).
    """
    repo = model_repository or Path(os.environ.get("MODEL_REPOSITORY", DEFAULT_MODEL_REPOSITORY))
    with ExitStack() as stack:
        work = work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="consumer-bench-")))
        if bootstrap is None:
            options = BrokerOptions(
                host="127.0.0.1",
                port=free_port(),
                controller_port=free_port(),
                data_dir=work / "kafka-data",
                log_path=work / "broker.log",
                partitions=partitions,
            )
            broker = start_broker(options)
            stack.callback(broker.stop)
            bootstrap = options.bootstrap
        if triton_grpc is None:
            http, grpc, metrics = free_port(), free_port(), free_port()
            triton = start_triton(repo, work / "triton", "127.0.0.1", http, grpc, metrics, work / "triton.log")
            stack.callback(triton.stop)
            triton_grpc = f"127.0.0.1:{grpc}"
        topics = topic_names(f"bench-{uuid.uuid4().hex[:8]}")
        create_topics(bootstrap, topics, partitions)
        txs = make_transactions(n)
        t_fill = time.monotonic()
        produce_transactions(bootstrap, topics["topic_transactions"], txs)
        fill_s = time.monotonic() - t_fill
        del txs
        metrics_port = free_port()
        own = {"consumer_batch_max": batch_max, "model_repository": str(repo), "consumer_log_level": "WARNING"}
        own.update(consumer_settings or {})
        env = consumer_env(bootstrap, triton_grpc, topics, f"bench-{uuid.uuid4().hex[:8]}", metrics_port, **own)
        started = time.monotonic()
        proc = consumer_process(env, work / "consumer.log")
        stack.callback(proc.stop)
        first_t: float | None = None
        first_n = 0.0
        done = 0.0
        deadline = started + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"consumer exited:\n{proc.log_tail()}")
            if port_open("127.0.0.1", metrics_port):
                done = metric_value(metrics_port, "consumer_verdicts_total")
                if done > 0 and first_t is None:
                    first_t, first_n = time.monotonic(), done
                if done >= n:
                    break
            time.sleep(0.05)
        end = time.monotonic()
        if done < n or first_t is None:
            raise RuntimeError(f"only {done:.0f}/{n} verdicts after {timeout:.0f}s:\n{proc.log_tail()}")
        seconds = end - first_t
        result = {
            "n": n,
            "partitions": partitions,
            "batch_max": own["consumer_batch_max"],
            "seconds": round(seconds, 3),
            "tx_per_s": round((n - first_n) / seconds) if seconds > 0 else None,
            "startup_s": round(first_t - started, 3),
            "total_s": round(end - started, 3),
            "prefill_tx_per_s": round(n / fill_s) if fill_s > 0 else None,
        }
        log.info("consumer-only throughput: %s", result)
        return result


@click.command(name="consumer-only")
@click.argument("n", type=int, default=100_000)
def command(n: int) -> int:
    """Consumer-only throughput: N transactions prefilled on the broker, then read by one consumer process."""
    click.echo(orjson.dumps(consumer_only_throughput(n)).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(run_command(command, prog_name="python -m operations.benchmarks.consumer_only"))
