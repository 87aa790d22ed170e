"""Pure: population stability index (PSI) of live traffic against the training baseline.

PSI = sum((a - e) * ln(a / e)) over bins, with ``e`` the baseline fraction and ``a`` the live fraction
in each bin. Rule of thumb: < 0.1 stable, 0.1-0.25 drifting, > 0.25 shifted. The live side is a rolling
window of the last N scored rows (a ring of per-batch bin counts), so the gauge follows the traffic
rather than averaging it since start-up.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

#: Fractions are floored at this so an empty bin contributes a large but finite term.
EPSILON = 1e-4


def psi(expected: np.ndarray, actual_counts: np.ndarray) -> float:
    """PSI of ``actual_counts`` (raw counts) against ``expected`` (counts or fractions) over the same bins."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual_counts, dtype=np.float64)
    if e.shape != a.shape or e.sum() <= 0 or a.sum() <= 0:
        return float("nan")
    e = np.maximum(e / e.sum(), EPSILON)
    a = np.maximum(a / a.sum(), EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of ``values`` in the ``len(edges) - 1`` bins; out-of-range values join the edge bins; NaN is ignored.

    Clipping into the outer bins matches how a baseline built with ``np.histogram`` over the training range
    must be compared: live values beyond the range are the most drifted, so they must count somewhere.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    n_bins = len(edges) - 1
    idx = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, n_bins - 1)
    return np.bincount(idx, minlength=n_bins).astype(np.int64)


class RollingBins:
    """Bin counts over (about) the last ``window`` values, kept as a ring of per-batch counts."""

    def __init__(self, edges: np.ndarray, window: int) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        self.window = window
        self._chunks: deque[tuple[int, np.ndarray]] = deque()
        self._total = np.zeros(len(self.edges) - 1, dtype=np.int64)
        self._n = 0

    def add(self, values: np.ndarray) -> None:
        counts = bin_counts(values, self.edges)
        n = int(counts.sum())
        if n == 0:
            return
        self._chunks.append((n, counts))
        self._total += counts
        self._n += n
        while self._chunks and self._n - self._chunks[0][0] >= self.window:
            old_n, old = self._chunks.popleft()
            self._total -= old
            self._n -= old_n

    @property
    def count(self) -> int:
        return self._n

    def counts(self) -> np.ndarray:
        return self._total.copy()


def _as_float32_grid(values: Any) -> np.ndarray:
    """Edges rounded to float32, the precision of the live values (model input and output tensors).

    Without it a point mass sits on the wrong side of its edge: the float32 of a fare of 0.7 is
    0.69999999, just below the float64 edge 0.7, and the whole mass would count in the bin before.
    """
    return np.asarray(values, dtype=np.float64).astype(np.float32).astype(np.float64)


def percentile_bins(percentiles: list[float]) -> tuple[np.ndarray, np.ndarray] | None:
    """Bins from training percentiles: distinct values are edges, each percentile step is 1/(n-1) mass.

    Repeated percentiles (a point mass, e.g. ``mta_tax`` = 0.5 for 98% of trips) merge into the bin that
    starts at that value, which is where :func:`bin_counts` puts live values equal to it.
    """
    p = np.sort(_as_float32_grid(percentiles))
    p = p[np.isfinite(p)]
    edges = np.unique(p)
    if len(edges) < 3:
        return None
    expected = np.zeros(len(edges) - 1, dtype=np.float64)
    step = 1.0 / (len(p) - 1)
    for lo in p[:-1]:
        j = min(int(np.searchsorted(edges, lo, side="right")) - 1, len(expected) - 1)
        expected[j] += step
    return edges, expected


def baseline_bins(baseline: dict[str, Any] | None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, edges, expected)`` per distribution the consumer can observe: ``score`` and input columns.

    ``model_meta.json`` holds ``baseline.score`` as ``{edges, fractions}`` and ``baseline.input_columns``
    as 101 percentiles per raw column. (``baseline.features`` describes the graph's engineered features,
    which the consumer never sees, so it is not used here.) Anything malformed is skipped: no gauge
    rather than a wrong one.
    """
    if not isinstance(baseline, dict):
        return []
    out: list[tuple[str, np.ndarray, np.ndarray]] = []
    score = baseline.get("score")
    if isinstance(score, dict):
        try:
            edges = _as_float32_grid(score["edges"])
            fractions = np.asarray(score["fractions"], dtype=np.float64)
            if len(edges) == len(fractions) + 1 and len(fractions) >= 2 and np.all(np.diff(edges) > 0):
                out.append(("score", edges, fractions))
        except (KeyError, TypeError, ValueError):
            pass
    columns = baseline.get("input_columns")
    if isinstance(columns, dict):
        for name, spec in columns.items():
            if not isinstance(spec, dict) or not isinstance(spec.get("percentiles"), list):
                continue
            try:
                bins = percentile_bins(spec["percentiles"])
            except (TypeError, ValueError):
                continue
            if bins is not None:
                out.append((str(name), bins[0], bins[1]))
    return out
