"""Recalibration from labels (pure part): figures at the live decisions, the threshold meeting a budget."""

from __future__ import annotations

import pytest

from operations.recalibrate import Labelled, recalibrate


def item(tid: str, score: float, label: str, threshold: float = 1.0) -> Labelled:
    return Labelled(tid, score, score > threshold, label, "v1", threshold)


def test_threshold_raised_until_the_precision_budget_is_met() -> None:
    items = [
        item("a", 1.2, "legit"),
        item("b", 1.5, "legit"),
        item("c", 2.0, "fraud"),
        item("d", 3.0, "legit"),
        item("e", 4.0, "fraud"),
        item("f", 5.0, "fraud"),
        item("g", 0.5, "fraud"),  # a missed fraud reported by hand
    ]
    result = recalibrate(items, min_precision=0.75)
    assert result.current_threshold == 1.0
    assert result.at_current["precision"] == pytest.approx(3 / 6)
    assert result.at_current["recall"] == pytest.approx(3 / 4)
    # just below 1.5: 2.0, 3.0, 4.0, 5.0 and 1.5 flagged -> 3/5 (no); just below 2.0: 3/4 (yes)
    assert result.threshold == pytest.approx(2.0, abs=1e-5)
    assert result.at_threshold is not None and result.at_threshold["precision"] == 0.75
    assert result.at_threshold["recall"] == pytest.approx(3 / 4)
    assert recalibrate(items, min_precision=0.9).threshold == pytest.approx(4.0, abs=1e-5)
    assert any("lowest threshold" in line for line in result.lines())


def test_no_threshold_when_no_label_says_fraud() -> None:
    result = recalibrate([item("a", 2.0, "legit"), item("b", 3.0, "legit")], min_precision=0.5)
    assert result.threshold is None and result.at_current["precision"] == 0.0
