"""The feature graph on hand-made trips: known speed, fare per mile, totals, and missing fields."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from export.features import FEATURE_INDEX, FEATURE_NAMES, FEATURES, FeatureGraph, group_hides
from taxifraud.wire import COLUMN_INDEX, N_INPUT_COLUMNS, encode_rows
from tests.model.conftest import NORMAL_TRIP, trip


def features(*txs: dict) -> tuple[np.ndarray, np.ndarray]:
    graph = FeatureGraph()
    graph.set_zone_boroughs({161: "Manhattan", 237: "Manhattan", 132: "Queens"})
    feats, mask, _ = graph(torch.from_numpy(encode_rows(list(txs))))
    return feats.numpy(), mask.numpy()


def slog(x: float) -> float:
    return math.copysign(math.log1p(abs(x)), x)


def test_known_speed_and_fare_per_mile() -> None:
    f, m = features(trip(trip_distance=10.0, dropoff_datetime="2019-06-05 14:40:00", fare_amount=30.0))
    assert m[0].all(), "every feature is computable from a full trip"
    assert f[0, FEATURE_INDEX["speed_mph"]] == pytest.approx(math.log1p(20.0), rel=1e-5)  # 10 mi in 30 min
    assert f[0, FEATURE_INDEX["fare_per_mile"]] == pytest.approx(slog(3.0), rel=1e-5)
    assert f[0, FEATURE_INDEX["fare_per_minute"]] == pytest.approx(slog(1.0), rel=1e-5)
    assert f[0, FEATURE_INDEX["distance"]] == pytest.approx(slog(10.0), rel=1e-5)


def test_total_gap_accepts_both_vendor_conventions_and_sees_padding() -> None:
    f, _ = features(
        NORMAL_TRIP,
        trip(total_amount=15.3),  # vendor 1: congestion surcharge left out of the total
        trip(total_amount=55.8),  # $38 more than the parts
    )
    gap = f[:, FEATURE_INDEX["total_gap"]]
    assert gap[0] == pytest.approx(0.0, abs=1e-5)
    assert gap[1] == pytest.approx(0.0, abs=1e-5)
    assert gap[2] == pytest.approx(slog(38.0), rel=1e-4)


def test_zero_and_negative_duration_make_speed_explode_not_nan() -> None:
    f, _ = features(
        {"trip_distance": 5.0, "fare_amount": 18.0, "duration_minutes": 0.0},
        {"trip_distance": 5.0, "fare_amount": 18.0, "duration_minutes": -3.0},
    )
    speed = f[:, FEATURE_INDEX["speed_mph"]]
    assert np.isfinite(f).all()
    assert (speed > math.log1p(1000.0)).all()


def test_missing_fields_mask_exactly_the_features_that_need_them() -> None:
    f, m = features(trip(trip_distance=None), {"trip_distance": 2.5, "fare_amount": 12.5, "duration_minutes": 15})
    needs_distance = {spec.name for spec in FEATURES if "trip_distance" in spec.inputs}
    for k, name in enumerate(FEATURE_NAMES):
        assert m[0, k] == (name not in needs_distance), name
    assert (f[0, ~m[0]] == 0).all(), "masked features are zeroed"
    seed_computable = {
        spec.name for spec in FEATURES if set(spec.inputs) <= {"trip_distance", "fare_amount", "duration_minutes"}
    }
    assert {FEATURE_NAMES[k] for k in np.flatnonzero(m[1])} == seed_computable
    assert seed_computable == {"distance", "duration", "speed_mph", "fare", "fare_per_mile", "fare_per_minute"}


def test_inf_counts_as_missing_and_all_nan_row_is_finite() -> None:
    graph = FeatureGraph()
    raw = torch.full((2, N_INPUT_COLUMNS), float("nan"))
    raw[1, COLUMN_INDEX["fare_amount"]] = float("inf")
    f, m, present = graph(raw)
    assert not m.any() and not present.any()
    assert torch.isfinite(f).all() and (f == 0).all()


def test_group_hiding_covers_every_feature_once_as_primary() -> None:
    hides = group_hides()
    assert hides.any(dim=0).all(), "every feature is hidden by at least one group"
    for spec in FEATURES:
        assert spec.group in {"money", "distance", "duration", "place", "time", "meta"}
