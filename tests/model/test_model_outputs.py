"""The committed model on clear cases, with full fields and with the seed's 3 fields; NaN never leaks."""

from __future__ import annotations

import numpy as np
import pytest

from taxifraud.wire import N_INPUT_COLUMNS
from tests.model.conftest import NORMAL_TRIP, SEED_COMPUTABLE, SEED_NORMAL, trip

FRAUD_400 = trip(trip_distance=1.0, dropoff_datetime="2019-06-05 14:18:00", fare_amount=400.0, total_amount=405.3)
SEED_FRAUD_400 = {"trip_distance": 1.0, "fare_amount": 400.0, "duration_minutes": 8}


def test_normal_trip_is_not_fraud_and_400_dollar_fare_is(scorer, rows_of) -> None:
    out = scorer.infer(rows_of(NORMAL_TRIP, FRAUD_400, SEED_NORMAL, SEED_FRAUD_400))
    assert out["is_fraud"][:, 0].tolist() == [False, True, False, True]
    assert out["anomaly_score"].shape == (4, 1) and out["is_fraud"].dtype == np.bool_


@pytest.mark.parametrize(
    "tx",
    [
        trip(total_amount=55.8),  # total $38 above its parts
        trip(trip_distance=35.0),  # 140 mph
        {"trip_distance": 0.0, "fare_amount": 35.0, "duration_minutes": 20},  # charge without distance
        {"trip_distance": 5.0, "fare_amount": 18.0, "duration_minutes": 0.1},  # ride without duration
        trip(tolls_amount=500.0, total_amount=517.8),
    ],
    ids=["total", "speed", "no-distance", "no-duration", "tolls"],
)
def test_planted_anomalies_are_flagged(scorer, rows_of, tx) -> None:
    assert bool(scorer.infer(rows_of(tx))["is_fraud"][0, 0])


def test_more_fields_sharpen_the_score(scorer, rows_of) -> None:
    """The same $38 padding is invisible with 3 fields (no total) and obvious with all of them."""
    padded = trip(total_amount=55.8)
    seed_only = {"trip_distance": 2.5, "fare_amount": 12.5, "duration_minutes": 15}
    out = scorer.infer(rows_of(padded, seed_only))
    assert out["is_fraud"][0, 0] and not out["is_fraud"][1, 0]


def test_garbage_never_produces_nan(scorer) -> None:
    rng = np.random.default_rng(0)
    rows = rng.normal(0, 1e4, size=(256, N_INPUT_COLUMNS)).astype(np.float32)
    rows[rng.random(rows.shape) < 0.4] = np.nan
    rows[0] = np.nan
    rows[1] = np.inf
    rows[2] = -3.0e38
    out = scorer.infer(rows)
    for name in ("anomaly_score", "feature_errors", "feature_expected"):
        assert not np.isnan(out[name]).any(), name
    assert (out["feature_errors"][0] == 0).all() and out["anomaly_score"][0, 0] == 0.0


def test_errors_are_zero_exactly_where_features_cannot_be_computed(scorer, meta, rows_of) -> None:
    out = scorer.infer(rows_of({"fare_amount": 400.0, "trip_distance": 1.0, "duration_minutes": 8}))
    computable = SEED_COMPUTABLE
    for k, name in enumerate(meta.feature_names):
        if name not in computable:
            assert out["feature_errors"][0, k] == 0.0, name
    assert out["feature_errors"][0, meta.feature_index("fare_above_meter")] > meta.reason_min_z


def test_the_usual_route_is_the_zone_pairs_whatever_the_trip_claims(scorer, meta, rows_of) -> None:
    """A reason quotes the zone pair's usual route: it comes from the pair's table, so padded miles and minutes
    cannot drag it towards themselves (the network's own guess put Midtown -> Upper East Side at 8.3 mi for a
    trip padded to 12.5 mi)."""
    out = scorer.infer(rows_of(trip(), trip(trip_distance=12.5), trip(dropoff_datetime="2019-06-05 15:40:00")))
    for name in ("route_distance", "route_duration"):
        usual = out["feature_expected"][:, meta.feature_index(name)]
        assert usual[1] == pytest.approx(usual[0], abs=1e-6), name
    k = meta.feature_index("route_distance")
    assert out["feature_expected"][2, k] == pytest.approx(out["feature_expected"][0, k], abs=1e-6)


def test_bad_width_is_refused(scorer) -> None:
    with pytest.raises(ValueError):
        scorer.infer(np.zeros((2, 16), dtype=np.float32))
