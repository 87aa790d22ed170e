"""The consumer's Prometheus metrics, named exactly as in docs/architecture.md (dashboards depend on them).

Per-message histograms (processing time, event-to-verdict, score) are :class:`BulkHistogram`: one numpy
``searchsorted`` per batch instead of one locked ``observe()`` per message, which would cost more than
decoding the message. They expose the same Prometheus histogram (``_bucket``/``_sum``/``_count``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString

#: Latency buckets, 0.5 ms .. 5 s: fine at the low end where a healthy pipeline lives.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
)
BATCH_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)


def score_buckets(threshold: float) -> tuple[float, ...]:
    """Score buckets around the decision threshold (which is itself a bound, so fraud rate is exact)."""
    t = threshold if threshold > 0 else 1.0
    factors = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.85, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0)
    return tuple(round(t * f, 6) for f in factors)


class BulkHistogram:
    """A Prometheus histogram fed with whole numpy arrays (NaN values are skipped)."""

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry | None = REGISTRY
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = np.asarray(sorted(buckets), dtype=np.float64)
        self._counts = np.zeros(len(self.bounds) + 1, dtype=np.int64)
        self._sum = 0.0
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    def observe_many(self, values: np.ndarray) -> None:
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        v = v[~np.isnan(v)]
        if not len(v):
            return
        counts = np.bincount(np.searchsorted(self.bounds, v, side="left"), minlength=len(self.bounds) + 1)
        with self._lock:
            self._counts += counts
            self._sum += float(v.sum())

    def observe(self, value: float, n: int = 1) -> None:
        """``n`` observations of the same value (a batch whose messages share a latency)."""
        if n <= 0 or value != value:  # NaN
            return
        i = int(np.searchsorted(self.bounds, value, side="left"))
        with self._lock:
            self._counts[i] += n
            self._sum += value * n

    def snapshot(self) -> tuple[list[tuple[str, float]], float]:
        with self._lock:
            cumulative = np.cumsum(self._counts)
            total = self._sum
        buckets = [(floatToGoString(b), float(c)) for b, c in zip(self.bounds, cumulative[:-1], strict=True)]
        buckets.append(("+Inf", float(cumulative[-1])))
        return buckets, total

    def collect(self) -> list[HistogramMetricFamily]:
        buckets, total = self.snapshot()
        return [HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=total)]

    def describe(self) -> list[HistogramMetricFamily]:
        return [HistogramMetricFamily(self.name, self.documentation)]


#: The spans of one transaction's way through the consumer, in order (``consumer_span_seconds{span}``).
SPANS: tuple[str, ...] = (
    "broker_hop",
    "decode",
    "consumer_wait",
    "triton_call",
    "verdict_build",
    "verdict_produce_ack",
)


class SpanHistogram:
    """``consumer_span_seconds{span}``: one :class:`BulkHistogram` per span, exposed as one labelled family."""

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry | None = REGISTRY) -> None:
        self.name = name
        self.documentation = documentation
        self.spans = {span: BulkHistogram(name, documentation, LATENCY_BUCKETS, registry=None) for span in SPANS}
        if registry is not None:
            registry.register(self)

    def collect(self) -> list[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=["span"])
        for span, hist in self.spans.items():
            buckets, total = hist.snapshot()
            family.add_metric([span], buckets, total)
        return [family]

    def describe(self) -> list[HistogramMetricFamily]:
        return [HistogramMetricFamily(self.name, self.documentation, labels=["span"])]


class ConsumerMetrics:
    """All consumer metrics in one object, so tests can build them on a private registry."""

    def __init__(self, threshold: float, registry: CollectorRegistry | None = REGISTRY) -> None:
        reg = registry if registry is not None else CollectorRegistry()
        self.consumed = Counter("consumer_messages_consumed", "messages received from Kafka", registry=reg)
        self.verdicts = Counter("consumer_verdicts", "verdicts acknowledged by the broker", ["is_fraud"], registry=reg)
        self.alerts = Counter("consumer_alerts", "alerts acknowledged, by reason family", ["reason"], registry=reg)
        self.dlq = Counter("consumer_dlq_messages", "messages sent to the DLQ, by error kind", ["error"], registry=reg)
        self.batch_size = Histogram(
            "consumer_batch_size", "messages per Triton request", buckets=BATCH_BUCKETS, registry=reg
        )
        self.triton_duration = Histogram(
            "consumer_triton_request_duration_seconds",
            "one Triton inference call (a whole consumed batch, split by max_batch_size)",
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.triton_errors = Counter("consumer_triton_errors", "failed Triton calls (retried)", registry=reg)
        self.processing = BulkHistogram(
            "consumer_processing_seconds", "message received -> its verdict acked", LATENCY_BUCKETS, reg
        )
        self.event_to_verdict = BulkHistogram(
            "consumer_event_to_verdict_seconds", "gateway ingested_at -> verdict acked", LATENCY_BUCKETS, reg
        )
        self.lag = Gauge("consumer_lag_messages", "high watermark - position", ["topic", "partition"], registry=reg)
        self.paused = Gauge("consumer_paused", "1 while partitions are paused (Triton unavailable)", registry=reg)
        self.score = BulkHistogram("consumer_score", "anomaly scores", score_buckets(threshold), reg)
        self.feature_psi = Gauge(
            "model_feature_psi", "PSI of a feature vs. the training baseline", ["feature"], registry=reg
        )
        self.score_psi = Gauge("model_score_psi", "PSI of the anomaly score vs. the training baseline", registry=reg)
        self.shadow_verdicts = Counter(
            "consumer_shadow_verdicts",
            "shadow verdicts acknowledged, by agreement with the live verdict of the same transaction",
            ["live_version", "shadow_version", "agreement"],
            registry=reg,
        )
        self.shadow_errors = Counter(
            "consumer_shadow_errors", "shadow Triton calls that failed (the live verdicts went out)", registry=reg
        )
        self.model_version = Gauge(
            "consumer_model_version",
            "1 for the model version in each role (live, shadow)",
            ["role", "version"],
            registry=reg,
        )
        self.model_fallback = Counter(
            "consumer_model_fallback",
            "control records naming a version that cannot be served (kept the last good live / no shadow)",
            ["role", "version"],
            registry=reg,
        )
        self.spans = SpanHistogram(
            "consumer_span_seconds",
            "per transaction, the time spent in each span: broker_hop (ingested_at -> received), decode,"
            " consumer_wait (decoded -> submitted to Triton), triton_call, verdict_build (Triton answered ->"
            " outputs handed to the producer), verdict_produce_ack (-> every output acknowledged)",
            reg,
        )
        for flag in ("true", "false"):
            self.verdicts.labels(is_fraud=flag)
