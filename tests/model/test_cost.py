"""The model card's cost figures: both models measured in turns on the same trips, each with its graph shape."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from export import cost
from export.evaluate import PREVIOUS_MODEL_DIR
from taxifraud.wire import COLUMN_INDEX, encode_rows
from tests.model.conftest import NORMAL_TRIP, REPOSITORY


def test_both_models_are_measured_in_turns_with_their_graphs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cost, "SECONDS_PER_ROUND", 0.05)
    monkeypatch.setattr(cost, "SPACED_CALLS", 3)
    calls: list[str] = []
    measure = cost.cpu_us_per_row

    def counted(session, rows, batch, seconds):  # type: ignore[no-untyped-def]
        calls.append(f"{rows.shape[1]}@{batch}")
        return measure(session, rows, batch, seconds)

    monkeypatch.setattr(cost, "cpu_us_per_row", counted)
    rows = encode_rows([NORMAL_TRIP] * 8)
    previous_columns = json.loads((PREVIOUS_MODEL_DIR / "model_meta.json").read_text())["input_columns"]
    previous_rows = np.ascontiguousarray(rows[:, [COLUMN_INDEX[c] for c in previous_columns]])
    current = REPOSITORY / "fraud_autoencoder" / "1" / "model.onnx"
    got = cost.compare(current, PREVIOUS_MODEL_DIR / "model.onnx", rows, previous_rows, rounds=2)
    width, old = rows.shape[1], previous_rows.shape[1]
    one_round = [f"{width}@1024", f"{width}@1", f"{old}@1024", f"{old}@1"]
    assert calls == one_round * 2
    for name in ("current", "previous"):
        assert got[name]["per_row_us_batch_1024"] > 0 and got[name]["per_call_us_batch_1"] > 0
        assert got[name]["per_call_us_batch_1_spaced"] > 0
        assert got[name]["nodes"] > 0 and got[name]["layers"]
    assert got["goals"] == {"per_row_us_batch_1024": cost.GOAL_ROW_US, "per_call_us_batch_1": cost.GOAL_CALL_US}


class CountingSession:
    """Stands in for an ONNX Runtime session: records each feed's shape and when the call came."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []
        self.times: list[float] = []

    def get_inputs(self) -> list[Any]:
        return [SimpleNamespace(name="trip_fields")]

    def run(self, _outputs: Any, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.shapes.append(feed["trip_fields"].shape)
        self.times.append(time.monotonic())
        return [feed["trip_fields"]]


def test_spaced_calls_are_single_rows_a_spacing_apart() -> None:
    session = CountingSession()
    rows = encode_rows([NORMAL_TRIP] * 8)
    got = cost.cpu_us_per_spaced_call(session, rows, spacing_s=0.02, calls=4)
    assert got >= 0
    assert session.shapes == [(1, rows.shape[1])] * 5  # one call to settle, then the measured ones
    gaps = np.diff(session.times[1:])
    assert (gaps >= 0.02).all()
