"""Drift and lag: the two gauges refreshed on a timer, not per batch.

* Drift: the rolling distribution of each feature the training baseline has bins for (and of the score)
  against that baseline, as PSI (``model_feature_psi{feature}``, ``model_score_psi``).
* Lag: high watermark minus position per assigned partition (``consumer_lag_messages``), read from the
  client's cached watermarks, so it costs no broker round trip per refresh.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from confluent_kafka import Consumer, KafkaException

from consumer.drift import RollingBins, baseline_bins, psi
from consumer.metrics import ConsumerMetrics
from taxifraud import wire

log = logging.getLogger(__name__)

#: Rows a window needs before its PSI means anything.
MIN_ROWS_FOR_PSI = 100


class DriftMonitor:
    """Rolling windows for the features (and ``score``) that the baseline gives bins for."""

    def __init__(self, baseline: dict[str, Any] | None, window: int) -> None:
        self.windows: dict[str, tuple[RollingBins, np.ndarray, int | None]] = {}
        for name, edges, expected in baseline_bins(baseline):
            column = None if name == "score" else wire.COLUMN_INDEX.get(name)
            if name != "score" and column is None:
                continue
            self.windows[name] = (RollingBins(edges, window), expected, column)

    def observe(self, rows: np.ndarray, scores: np.ndarray) -> None:
        for window, _expected, column in self.windows.values():
            window.add(scores if column is None else rows[:, column])

    def values(self) -> dict[str, float]:
        """PSI per window with enough rows (``score`` included)."""
        return {
            name: psi(expected, window.counts())
            for name, (window, expected, _column) in self.windows.items()
            if window.count >= MIN_ROWS_FOR_PSI
        }

    def publish(self, metrics: ConsumerMetrics) -> None:
        for name, value in self.values().items():
            if name == "score":
                metrics.score_psi.set(value)
            else:
                metrics.feature_psi.labels(feature=name).set(value)


def update_lag(consumer: Consumer, metrics: ConsumerMetrics) -> None:
    """Refresh ``consumer_lag_messages`` for the assigned partitions (best effort)."""
    try:
        assignment = consumer.assignment()
        if not assignment:
            return
        for tp in consumer.position(assignment):
            low, high = consumer.get_watermark_offsets(tp, timeout=1.0, cached=True)
            if high < 0:
                low, high = consumer.get_watermark_offsets(tp, timeout=1.0, cached=False)
            position = tp.offset if tp.offset >= 0 else low
            metrics.lag.labels(topic=tp.topic, partition=str(tp.partition)).set(max(0, high - position))
    except KafkaException as exc:
        log.debug("lag update failed: %s", exc)
