"""Pure: precision, recall and false-positive rate of flag-or-not decisions, defined once for every reader
(analyst labels, the review page and its gauges, the demo's judgement against injected fraud).

A figure whose denominator is empty is ``None`` ("undefined"), never 0 or NaN: no flagged transaction
means no precision, not a precision of zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def share(part: float, whole: float) -> float | None:
    """``part / whole``, or None when ``whole`` is 0."""
    return part / whole if whole else None


def precision(true_positives: float, false_positives: float) -> float | None:
    """The share of flagged transactions that were fraud; None when nothing was flagged. Counts may be
    weighted (the evaluation weighs them to a stated fraud prevalence)."""
    return share(true_positives, true_positives + false_positives)


@dataclass(frozen=True)
class Confusion:
    """The four counts of flagged / not flagged against fraud / not fraud."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @classmethod
    def count(cls, decisions: Iterable[tuple[bool, bool]]) -> Confusion:
        """From (flagged, fraud) pairs."""
        tp = fp = fn = tn = 0
        for flagged, fraud in decisions:
            if flagged and fraud:
                tp += 1
            elif flagged:
                fp += 1
            elif fraud:
                fn += 1
            else:
                tn += 1
        return cls(tp, fp, fn, tn)

    @property
    def precision(self) -> float | None:
        return precision(self.tp, self.fp)

    @property
    def recall(self) -> float | None:
        return share(self.tp, self.tp + self.fn)

    @property
    def fpr(self) -> float | None:
        return share(self.fp, self.fp + self.tn)
