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
#: Scored rows binned at once (see :class:`DriftMonitor`).
DEFAULT_CHUNK_ROWS = 512


class DriftMonitor:
    """Rolling windows for the features (and ``score``) that the baseline gives bins for.

    Scored rows are binned in chunks of ``chunk_rows``, not per batch: at moderate load a batch is one
    row, and twenty histogram passes over one row cost more CPU than the row's whole Triton call. The
    gauges flush the pending rows first, so what they publish is as current as before.
    """

    def __init__(self, baseline: dict[str, Any] | None, window: int, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self.windows: dict[str, tuple[RollingBins, np.ndarray, int | None]] = {}
        for name, edges, expected in baseline_bins(baseline):
            column = None if name == "score" else wire.COLUMN_INDEX.get(name)
            if name != "score" and column is None:
                continue
            self.windows[name] = (RollingBins(edges, window), expected, column)
        self.chunk_rows = max(1, chunk_rows)
        self._rows: list[np.ndarray] = []
        self._scores: list[np.ndarray] = []
        self._pending = 0

    def observe(self, rows: np.ndarray, scores: np.ndarray) -> None:
        if not self.windows:
            return
        self._rows.append(rows)
        self._scores.append(scores)
        self._pending += len(rows)
        if self._pending >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        """Bin the rows observed since the last flush."""
        if not self._pending:
            return
        rows, scores = np.concatenate(self._rows), np.concatenate(self._scores)
        self._rows, self._scores, self._pending = [], [], 0
        for window, _expected, column in self.windows.values():
            window.add(scores if column is None else rows[:, column])

    def values(self) -> dict[str, float]:
        """PSI per window with enough rows (``score`` included)."""
        self.flush()
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
