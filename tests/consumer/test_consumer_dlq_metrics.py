"""DLQ headers, drift (PSI) maths, the bulk histograms and the settings keys."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from consumer.dlq import MAX_ERROR_CHARS, dlq_headers, headers_dict
from consumer.drift import RollingBins, baseline_bins, bin_counts, percentile_bins, psi
from consumer.metrics import LATENCY_BUCKETS, BulkHistogram, ConsumerMetrics
from consumer.monitoring import MIN_ROWS_FOR_PSI, DriftMonitor
from consumer.settings import Settings
from taxifraud import wire


def test_dlq_headers_carry_where_and_why() -> None:
    when = datetime(2026, 11, 28, 11, 50, 0, 123456, tzinfo=timezone.utc)
    headers = dlq_headers("not JSON: unexpected character", "decode", "transactions", 3, 1234, when)
    assert [k for k, _ in headers] == [
        "dlq.error",
        "dlq.stage",
        "dlq.topic",
        "dlq.partition",
        "dlq.offset",
        "dlq.failed_at",
    ]
    assert all(isinstance(v, bytes) for _, v in headers)
    assert headers_dict(headers) == {
        "dlq.error": "not JSON: unexpected character",
        "dlq.stage": "decode",
        "dlq.topic": "transactions",
        "dlq.partition": "3",
        "dlq.offset": "1234",
        "dlq.failed_at": "2026-11-28T11:50:00.123456Z",
    }


def test_dlq_error_is_bounded_and_failed_at_defaults_to_now() -> None:
    h = headers_dict(dlq_headers("x" * 5000, "decode", "t", 0, 0))
    assert len(h["dlq.error"]) == MAX_ERROR_CHARS
    assert h["dlq.failed_at"].endswith("Z") and h["dlq.failed_at"].startswith(str(datetime.now(timezone.utc).year))


def test_psi_is_zero_for_the_same_distribution_and_grows_with_shift() -> None:
    rng = np.random.default_rng(1)
    edges = np.linspace(-4, 4, 11)
    base = bin_counts(rng.normal(size=50_000), edges)
    same = bin_counts(rng.normal(size=50_000), edges)
    shifted = bin_counts(rng.normal(1.0, size=50_000), edges)
    assert psi(base, same) < 0.01
    assert psi(base, shifted) > 0.25
    assert np.isnan(psi(base, np.zeros_like(base)))


def _drift_baseline() -> dict[str, object]:
    return {
        "score": {"edges": [0.0, 0.5, 1.0, 2.0], "fractions": [0.5, 0.3, 0.2]},
        "input_columns": {"trip_distance": {"percentiles": [float(x) for x in np.linspace(0.0, 10.0, 101)]}},
    }


def test_drift_binned_in_chunks_matches_binning_every_batch() -> None:
    """One row at a time (a batch at moderate load) gives the same gauges as binning each batch at once."""
    rng = np.random.default_rng(3)
    rows = np.full((700, wire.N_INPUT_COLUMNS), np.nan, dtype=np.float32)
    rows[:, wire.COLUMN_INDEX["trip_distance"]] = rng.gamma(2.0, 2.0, 700)
    scores = rng.exponential(0.4, 700)
    chunked = DriftMonitor(_drift_baseline(), window=10_000, chunk_rows=256)
    every = DriftMonitor(_drift_baseline(), window=10_000, chunk_rows=1)
    for i in range(len(rows)):
        chunked.observe(rows[i : i + 1], scores[i : i + 1])
        every.observe(rows[i : i + 1], scores[i : i + 1])
    assert chunked.windows["score"][0].count == 512  # two chunks binned, 188 rows pending
    assert every.windows["score"][0].count == 700
    assert chunked.values() == every.values()  # the gauges flush what is pending first
    assert chunked.windows["score"][0].count == 700
    assert set(chunked.values()) == {"score", "trip_distance"}


def test_drift_gauges_wait_for_enough_rows() -> None:
    monitor = DriftMonitor(_drift_baseline(), window=10_000)
    n = MIN_ROWS_FOR_PSI - 1
    monitor.observe(np.zeros((n, wire.N_INPUT_COLUMNS), dtype=np.float32), np.zeros(n))
    assert monitor.values() == {}


def test_out_of_range_values_count_in_the_edge_bins() -> None:
    assert bin_counts(np.array([-10.0, 0.5, 99.0, np.nan]), np.array([0.0, 1.0, 2.0])).tolist() == [2, 1]


def test_percentile_bins_merge_point_masses() -> None:
    pct = [0.0] + [0.5] * 99 + [1.57]
    edges, expected = percentile_bins(pct) or (None, None)
    assert edges is not None and expected is not None
    assert edges.tolist() == pytest.approx([0.0, 0.5, 1.57])
    assert expected.sum() == pytest.approx(1.0)
    assert expected[1] == pytest.approx(0.99)
    live = bin_counts(np.full(1000, 0.5), edges)
    assert psi(expected, live) < 0.05
    assert percentile_bins([1.0] * 101) is None


def test_float32_live_values_land_on_their_point_mass() -> None:
    """A live float32 0.7 is 0.69999999: the edges must be on the same grid or the mass shifts a bin."""
    edges, expected = percentile_bins([0.5] + [0.7] * 99 + [0.9]) or (None, None)
    assert edges is not None and expected is not None
    live = bin_counts(np.full(1000, np.float32(0.7)).astype(np.float64), edges)
    assert psi(expected, live) < 0.05


def test_baseline_bins_reads_model_meta_shapes() -> None:
    baseline = {
        "score": {"edges": [0.0, 1.0, 2.0, 3.0], "fractions": [0.5, 0.3, 0.2]},
        "input_columns": {"trip_distance": {"missing_share": 0.0, "percentiles": list(np.linspace(0, 10, 101))}},
        "features": {"distance": {"edges": [0, 1, 2], "fractions": [0.5, 0.5]}},
    }
    names = [n for n, _, _ in baseline_bins(baseline)]
    assert names == ["score", "trip_distance"]
    assert baseline_bins(None) == [] and baseline_bins({"score": {"edges": "bad"}}) == []


def test_rolling_bins_forget_old_batches() -> None:
    window = RollingBins(np.array([0.0, 1.0, 2.0]), window=100)
    window.add(np.full(100, 0.5))
    window.add(np.full(100, 1.5))
    assert window.counts().tolist() == [0, 100]
    assert window.count == 100


def test_bulk_histogram_exposes_a_prometheus_histogram() -> None:
    reg = CollectorRegistry()
    h = BulkHistogram("consumer_processing_seconds", "doc", LATENCY_BUCKETS, reg)
    h.observe_many(np.array([0.0004, 0.001, 0.004, 10.0, np.nan]))
    h.observe(0.002, n=3)
    text = generate_latest(reg).decode()
    assert 'consumer_processing_seconds_bucket{le="0.0005"} 1.0' in text
    assert 'consumer_processing_seconds_bucket{le="0.001"} 2.0' in text  # le is inclusive
    assert 'consumer_processing_seconds_bucket{le="0.002"} 5.0' in text
    assert 'consumer_processing_seconds_bucket{le="+Inf"} 7.0' in text
    assert "consumer_processing_seconds_count 7.0" in text


def test_all_contract_metric_names_are_exposed() -> None:
    reg = CollectorRegistry()
    m = ConsumerMetrics(threshold=10.8, registry=reg)
    m.lag.labels(topic="transactions", partition="0").set(3)
    m.alerts.labels(reason="fare").inc()
    m.dlq.labels(error="not_json").inc()
    m.feature_psi.labels(feature="trip_distance").set(0.01)
    m.model_fallback.labels(role="live", version="2").inc()
    m.spans.spans["triton_call"].observe(0.004, 2)
    text = generate_latest(reg).decode()
    for name in (
        "consumer_messages_consumed_total",
        'consumer_verdicts_total{is_fraud="true"}',
        "consumer_alerts_total",
        "consumer_dlq_messages_total",
        "consumer_batch_size_bucket",
        "consumer_triton_request_duration_seconds_bucket",
        "consumer_triton_errors_total",
        "consumer_processing_seconds_bucket",
        "consumer_event_to_verdict_seconds_bucket",
        "consumer_lag_messages",
        "consumer_paused",
        "consumer_score_bucket",
        "model_feature_psi",
        "model_score_psi",
        'consumer_model_fallback_total{role="live",version="2"} 1.0',
        'consumer_span_seconds_bucket{le="0.005",span="triton_call"} 2.0',
        'consumer_span_seconds_count{span="broker_hop"} 0.0',
    ):
        assert name in text, name
    assert 'consumer_score_bucket{le="10.8"}' in text  # the threshold itself is a bucket bound


def test_settings_keys_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSUMER_BATCH_MAX", "256")
    monkeypatch.setenv("CONSUMER_GROUP_ID", "g2")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    s = Settings()
    assert (s.consumer_batch_max, s.consumer_group_id, s.kafka_bootstrap_servers) == (256, "g2", "broker:9092")
    assert s.consumer_metrics_port == 9101
    monkeypatch.setenv("CONSUMER_BATCH_MAX", "0")
    with pytest.raises(ValueError, match="consumer_batch_max"):
        Settings()
