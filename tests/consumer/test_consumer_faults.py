"""The consumer against a real Kafka broker and a real Triton, as a real process: faults lose nothing.

Each test streams transactions into fresh topics, injects one fault (kill -9, Triton outage, a
consumer leaving the group, poison messages, SIGTERM), and then checks that every transaction id got
a verdict. Duplicates are allowed by the at-least-once contract; they are counted and logged.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from consumer.dlq import headers_dict
from operations.embedded.process import free_port, port_open
from operations.steady_load import wait_until as wait_for
from taxifraud.config import DEFAULT_MODEL_REPOSITORY
from tests.consumer import harness
from tests.kafka_broker import start_test_broker

pytestmark = pytest.mark.integration
log = logging.getLogger("tests.consumer")


def verdicts_seen(port: int) -> float:
    try:
        return harness.metric_value(port, "consumer_verdicts_total")
    except OSError:
        return 0.0


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        return str(resp.read().decode())


def psi_line(port: int) -> str:
    return next((ln for ln in metrics_text(port).splitlines() if ln.startswith("model_score_psi ")), "NaN")


def stream_in_background(pipe: Any, txs: list[dict[str, Any]], per_second: float) -> threading.Thread:
    thread = threading.Thread(
        target=harness.produce_paced, args=(pipe.bootstrap, pipe.transactions, txs, per_second), daemon=True
    )
    thread.start()
    return thread


def check_all_verdicts(pipe: Any, txs: list[dict[str, Any]], what: str, timeout: float = 90.0) -> int:
    """Every id has a verdict; returns (and logs) the number of duplicate verdicts."""
    wanted = {tx["transaction_id"] for tx in txs}
    records = pipe.read("topic_verdicts", len(wanted), timeout=timeout)
    ids, dupes = harness.count_ids(records)
    missing = wanted - ids
    log.warning(
        "%s: %d transactions, %d verdicts, %d duplicates, %d missing",
        what,
        len(wanted),
        len(records),
        dupes,
        len(missing),
    )
    assert not missing, f"{len(missing)} transactions without a verdict, e.g. {sorted(missing)[:3]}"
    assert ids <= wanted, "verdicts for transactions we never sent"
    for rec in records[:50]:
        verdict = orjson.loads(rec.value())
        assert verdict["transaction_id"] == rec.key().decode()
        assert {"is_fraud", "score", "threshold", "reasons", "model_version", "scored_at"} <= verdict.keys()
    return dupes


def test_kill_9_mid_stream_then_restart_loses_nothing(
    pipeline_factory: Callable[..., Any], record_property: Callable[[str, object], None]
) -> None:
    pipe = pipeline_factory()
    txs = harness.make_transactions(50_000)
    proc, port = pipe.start_consumer("victim")
    wait_for(lambda: "assigned" in proc.log_tail(), 30, "the victim's partition assignment")
    producer = stream_in_background(pipe, txs, per_second=5_000)  # 10 s of live traffic
    wait_for(lambda: verdicts_seen(port) >= 20_000, 60, "20,000 verdicts before the crash")
    done_before = verdicts_seen(port)
    proc.kill()  # SIGKILL: no drain, no commit, no group leave
    log.warning("killed the consumer after %d acknowledged verdicts", done_before)
    pipe.start_consumer("successor")
    producer.join(60)
    dupes = check_all_verdicts(pipe, txs, "kill -9 mid-stream")
    record_property("duplicates", dupes)  # also in the junit XML, for CI dashboards
    assert 0 < done_before < len(txs), "the crash must land mid-stream"
    # Replay is bounded by the uncommitted tail: batches in flight plus one auto-commit period.
    assert dupes <= 10_000


def test_triton_outage_pauses_and_recovers_without_restart(
    pipeline_factory: Callable[..., Any], own_triton: Any
) -> None:
    server = own_triton.start()  # the shared Triton must not go down: this test owns one
    try:
        pipe = pipeline_factory(triton_url=server.url)
        txs = harness.make_transactions(30_000)
        proc, port = pipe.start_consumer("outage", consumer_retry_backoff_max_ms=1000)
        producer = stream_in_background(pipe, txs, per_second=1_000)
        wait_for(lambda: verdicts_seen(port) >= 3_000, 60, "verdicts before the outage")
        server.stop()
        log.warning("Triton stopped for 20 s")
        wait_for(lambda: harness.metric_value(port, "consumer_paused") == 1, 15, "consumer_paused == 1")
        time.sleep(1)  # outputs of calls answered just before the stop may still be acknowledged
        frozen = verdicts_seen(port)
        time.sleep(20)
        assert verdicts_seen(port) == frozen, "no verdicts can be produced while Triton is down"
        assert harness.metric_value(port, "consumer_triton_errors_total") > 0
        server.start()
        log.warning("Triton started again")
        wait_for(lambda: harness.metric_value(port, "consumer_paused") == 0, 60, "consumer resumed")
        # Slow rather than gone: a frozen Triton (SIGSTOP) makes calls miss their deadline; same recovery.
        assert server.proc is not None
        server.proc.signal(signal.SIGSTOP)
        time.sleep(6)
        server.proc.signal(signal.SIGCONT)
        log.warning("Triton frozen for 6 s, then continued")
        producer.join(60)
        dupes = check_all_verdicts(pipe, txs, "Triton outage 20 s")
        assert proc.alive(), "the consumer must recover without a restart"
        # A failed call is retried, never produced twice; with no restart and no rebalance nothing is replayed.
        assert dupes == 0
        assert "paused" in proc.log_tail(200)
    finally:
        server.stop()


def test_two_consumers_one_stops_mid_stream(pipeline_factory: Callable[..., Any]) -> None:
    pipe = pipeline_factory()
    txs = harness.make_transactions(40_000)
    first, first_port = pipe.start_consumer("first")
    second, second_port = pipe.start_consumer("second")
    producer = stream_in_background(pipe, txs, per_second=5_000)
    wait_for(
        lambda: verdicts_seen(first_port) > 0 and verdicts_seen(second_port) > 0,
        60,
        "both consumers producing verdicts (partitions shared)",
    )
    assert second.stop(timeout=30) == 0
    producer.join(60)
    check_all_verdicts(pipe, txs, "two consumers, one stopped")
    assert first.alive()


def test_two_consumers_one_killed_the_other_takes_its_partitions(pipeline_factory: Callable[..., Any]) -> None:
    pipe = pipeline_factory()
    txs = harness.make_transactions(40_000)
    survivor, survivor_port = pipe.start_consumer("survivor")
    victim, victim_port = pipe.start_consumer("victim")
    producer = stream_in_background(pipe, txs, per_second=4_000)
    wait_for(
        lambda: verdicts_seen(survivor_port) > 0 and verdicts_seen(victim_port) > 0,
        60,
        "both consumers producing verdicts (partitions shared)",
    )
    victim.kill()  # SIGKILL: no revoke, no commit; its partitions move after the session timeout
    producer.join(60)
    dupes = check_all_verdicts(pipe, txs, "two consumers, one killed")
    assert survivor.alive()
    assert dupes <= 10_000, "replay is bounded by the victim's uncommitted tail"
    assert verdicts_seen(survivor_port) > 0


def test_poison_messages_go_to_the_dlq_and_the_rest_is_scored(pipeline_factory: Callable[..., Any]) -> None:
    pipe = pipeline_factory()
    good = harness.make_transactions(10_000)
    poison: list[bytes | None] = []
    kinds = [
        b"not json at all",
        b'{"trip_distance": 1.0',  # truncated
        b"[1, 2, 3]",
        b'"just a string"',
        orjson.dumps({"transaction_id": "x", "fare_amount": 5.0, "duration_minutes": 3.0}),  # no distance
        orjson.dumps({"trip_distance": 1.0, "duration_minutes": 3.0}),  # no fare
        orjson.dumps({"trip_distance": 1.0, "fare_amount": 5.0}),  # no duration, no datetimes
        orjson.dumps({"trip_distance": "far", "fare_amount": 5.0, "duration_minutes": 3.0}),
        orjson.dumps({"trip_distance": True, "fare_amount": 5.0, "duration_minutes": 3.0}),
        orjson.dumps({"trip_distance": 1.0, "fare_amount": {"usd": 5}, "duration_minutes": 3.0}),
        orjson.dumps(
            {
                "trip_distance": 1.0,
                "fare_amount": 5.0,
                "pickup_datetime": "yesterday",
                "dropoff_datetime": "2019-01-01 10:00:00",
            }
        ),
        orjson.dumps({"transaction_id": 42, "trip_distance": 1.0, "fare_amount": 5.0, "duration_minutes": 3.0}),
        b"",
    ]
    for i in range(1_000):
        poison.append(kinds[i % len(kinds)])
    # Interleave: one poison message after every tenth good one, in the same partitions.
    values: list[bytes | None] = []
    keys: list[bytes | None] = []
    poison_keys: set[bytes] = set()
    for i, tx in enumerate(good):
        values.append(orjson.dumps(tx))
        keys.append(tx["transaction_id"].encode())
        if i % 10 == 9:
            key = f"poison-{i}".encode()
            poison_keys.add(key)
            values.append(poison[len(poison_keys) - 1])
            keys.append(key)
    harness.produce(pipe.bootstrap, pipe.transactions, values, keys)  # plain client, raw bytes
    _, port = pipe.start_consumer("poison", consumer_lag_interval_s=0.5, consumer_psi_interval_s=0.5)
    check_all_verdicts(pipe, good, "10,000 good + 1,000 poison")
    verdicts = [orjson.loads(r.value()) for r in pipe.read("topic_verdicts", len(good))]
    flagged = {v["transaction_id"] for v in verdicts if v["is_fraud"]}
    alerts = pipe.read("topic_alerts", len(flagged), timeout=30) if flagged else []
    assert {(r.key() or b"").decode() for r in alerts} == flagged, "one alert per flagged verdict"
    for rec in alerts[:20]:
        alert = orjson.loads(rec.value())
        assert (
            alert["is_fraud"] and alert["reasons"] and alert["transaction"]["transaction_id"] == alert["transaction_id"]
        )
    log.warning("poison test: %d of %d flagged, %d alerts", len(flagged), len(good), len(alerts))
    dlq = pipe.read("topic_dlq", len(poison_keys))
    dlq_keys, _ = harness.count_ids(dlq)
    assert dlq_keys == {k.decode() for k in poison_keys}
    originals = dict(zip(keys, values, strict=True))
    for rec in dlq:
        h = headers_dict(rec.headers())
        assert set(h) >= {"dlq.error", "dlq.stage", "dlq.topic", "dlq.partition", "dlq.offset", "dlq.failed_at"}
        assert h["dlq.topic"] == pipe.transactions and h["dlq.stage"] == "decode" and h["dlq.error"]
        assert int(h["dlq.partition"]) >= 0 and int(h["dlq.offset"]) >= 0
        assert (rec.value() or b"") == (originals[rec.key()] or b""), "the DLQ keeps the original bytes"
    wait_for(lambda: harness.metric_value(port, "consumer_dlq_messages_total") >= 1_000, 10, "DLQ metric")
    # The latency histograms, lag and drift gauges are live on the consumer's own /metrics.
    assert harness.metric_value(port, "consumer_event_to_verdict_seconds_count") >= 10_000
    assert harness.metric_value(port, "consumer_processing_seconds_count") >= 11_000
    assert harness.metric_value(port, 'consumer_dlq_messages_total{error="not_json"}') > 0
    wait_for(lambda: "consumer_lag_messages{" in metrics_text(port), 10, "lag gauges")
    wait_for(lambda: "model_score_psi " in metrics_text(port) and "NaN" not in psi_line(port), 10, "PSI gauge")
    wait_for(lambda: harness.metric_value(port, "consumer_lag_messages") == 0, 10, "lag 0: everything consumed")


def test_sigterm_mid_stream_exits_0_and_restart_loses_nothing(pipeline_factory: Callable[..., Any]) -> None:
    pipe = pipeline_factory()
    txs = harness.make_transactions(30_000)
    proc, port = pipe.start_consumer("terminated")
    producer = stream_in_background(pipe, txs, per_second=5_000)
    wait_for(lambda: verdicts_seen(port) >= 5_000, 60, "verdicts before SIGTERM")
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert proc.proc is not None
    code = proc.proc.wait(timeout=30)
    log.warning("SIGTERM -> exit %s after %.2fs", code, time.monotonic() - started)
    assert code == 0
    assert "committed" in proc.log_tail(100)
    producer.join(60)
    pipe.start_consumer("after-sigterm")
    dupes = check_all_verdicts(pipe, txs, "SIGTERM mid-stream")
    assert dupes == 0, "a clean shutdown commits everything it acknowledged"


def test_consumer_waits_for_a_broker_that_is_not_up_yet(triton: Any, tmp_path: Any) -> None:
    """A missing broker is a wait with backoff, not a crash loop; the consumer proceeds once it is up."""
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    topics = harness.topic_names("late")
    metrics_port = free_port()
    env = harness.consumer_env(
        bootstrap, triton.url, topics, "late-group", metrics_port, model_repository=str(DEFAULT_MODEL_REPOSITORY)
    )
    proc = harness.consumer_process(env, tmp_path / "late.log", name="late")
    broker = None
    try:
        time.sleep(4)
        assert proc.alive(), proc.log_tail()
        assert "broker not ready" in proc.log_tail(), proc.log_tail()
        broker, _ = start_test_broker(tmp_path / "late-broker", port)
        txs = harness.make_transactions(2_000)
        wait_for(
            lambda: port_open("127.0.0.1", metrics_port) and verdicts_seen(metrics_port) >= 0,
            30,
            "consumer metrics",
        )
        harness.create_topics(bootstrap, topics, 6)
        harness.produce_transactions(bootstrap, topics["topic_transactions"], txs)
        wait_for(lambda: verdicts_seen(metrics_port) >= len(txs), 60, "verdicts after the broker came up")
        assert proc.stop(timeout=20) == 0
    finally:
        proc.stop(timeout=20)
        if broker is not None:
            broker.stop()
