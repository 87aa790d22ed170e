"""Reasons for planted anomalies: the right family first, readable numbers, nothing for normal trips."""

from __future__ import annotations

import numpy as np
import pytest

from export.features import FEATURE_NAMES
from taxifraud.model_meta import ModelMeta
from taxifraud.reasons import FAMILIES, explain_batch, reason_family
from taxifraud.wire import encode_rows
from tests.model.conftest import NORMAL_TRIP, trip


def explain(scorer, meta, *txs):
    rows = encode_rows(list(txs))
    out = scorer.infer(rows)
    return explain_batch(rows, out["feature_errors"], out["feature_expected"], meta), out


@pytest.mark.parametrize(
    ("tx", "family", "fragment"),
    [
        ({"trip_distance": 1.0, "fare_amount": 400.0, "duration_minutes": 8}, "fare", "fare $400.00 is"),
        (trip(total_amount=55.8), "total", "total exceeds its parts by $38.00"),
        ({"trip_distance": 30.0, "fare_amount": 80.0, "duration_minutes": 10}, "speed", "180 mph is impossible"),
        (trip(tip_amount=40.0, total_amount=55.8), "tip", "tip $40.00 is 320% of the $12.50 fare"),
        (trip(tolls_amount=500.0, total_amount=517.8), None, "tolls $500.00"),
    ],
    ids=["fare", "total", "speed", "tip", "tolls"],
)
def test_planted_anomaly_reasons(scorer, meta, tx, family, fragment) -> None:
    reasons, out = explain(scorer, meta, tx)
    assert out["is_fraud"][0, 0]
    assert 1 <= len(reasons[0]) <= 3
    assert any(fragment in r for r in reasons[0]), reasons[0]
    if family is not None:
        assert reason_family(reasons[0][0]) == family, reasons[0]


def test_normal_trip_has_no_reasons(scorer, meta) -> None:
    reasons, _ = explain(scorer, meta, NORMAL_TRIP)
    assert reasons == [[]]


def test_one_reason_per_family_and_max_reasons(meta) -> None:
    """Pure: fare, fare_per_mile and fare_per_minute all high make one 'fare' reason, not three."""
    rows = encode_rows([{"trip_distance": 1.0, "fare_amount": 400.0, "duration_minutes": 8}])
    errors = np.zeros((1, len(FEATURE_NAMES)), dtype=np.float32)
    expected = np.zeros_like(errors)
    for name, z in (("fare", 30.0), ("fare_per_mile", 29.0), ("fare_per_minute", 28.0), ("speed_mph", 12.0)):
        errors[0, FEATURE_NAMES.index(name)] = z
    expected[0, FEATURE_NAMES.index("fare")] = np.log1p(12.0)
    expected[0, FEATURE_NAMES.index("speed_mph")] = np.log1p(10.0)
    reasons = explain_batch(rows, errors, expected, meta)[0]
    assert [reason_family(r) for r in reasons] == ["fare", "speed"]
    assert reasons[0] == "fare $400.00 is 33x the usual $12.00 for 1.0 mi in 8 min"
    assert explain_batch(rows, errors, expected, meta, max_reasons=1)[0] == reasons[:1]
    errors[0, FEATURE_NAMES.index("speed_mph")] = 6.0  # under a third of the fare's z: a side effect, not a finding
    assert [reason_family(r) for r in explain_batch(rows, errors, expected, meta)[0]] == ["fare"]
    errors[:] = meta.reason_min_z - 1e-3  # below the cut-off: nothing to say
    assert explain_batch(rows, errors, expected, meta) == [[]]


def test_reason_family_labels() -> None:
    assert reason_family("speed 140 mph is impossible") == "speed"
    assert reason_family("total exceeds its parts by $38.00") == "total"
    assert reason_family("something else entirely") == "other"
    assert set(FAMILIES) >= {"fare", "speed", "total", "tip", "tolls", "duration", "distance", "zone", "time", "other"}


def test_shape_mismatch_is_an_error() -> None:
    meta = ModelMeta("v", 1.0, list(FEATURE_NAMES), 4.0, {})
    with pytest.raises(ValueError):
        explain_batch(np.zeros((2, 17)), np.zeros((1, len(FEATURE_NAMES))), np.zeros((1, len(FEATURE_NAMES))), meta)


def test_context_reasons_come_after_scored_ones() -> None:
    """A rare rate code explains, but never leads, a flagged trip's reasons."""
    names = list(FEATURE_NAMES)
    meta = ModelMeta("v", 1.0, names, 4.0, {}, scored_features=[n for n in names if not n.startswith("rate_")])
    rows = encode_rows([{"trip_distance": 2.0, "fare_amount": 60.0, "duration_minutes": 10, "rate_code_id": 4}])
    errors = np.zeros((1, len(names)), dtype=np.float32)
    errors[0, names.index("rate_out_of_city")] = 40.0
    errors[0, names.index("fare")] = 8.0
    reasons = explain_batch(rows, errors, np.zeros_like(errors), meta)[0]
    assert [reason_family(r) for r in reasons] == ["fare", "other"]
    assert reasons[1] == "rate code 4 is unusual for this trip"


def test_every_flagged_row_gets_a_reason(scorer, meta) -> None:
    """reason_min_z is calibrated below every field count's flag level, so no alert is unexplained."""
    rng = np.random.default_rng(5)
    base = np.array([[2.5, 15, 12.5, 0, 0.5, 2, 0, 0.3, 2.5, 17.8, 1, 1, 1, 161, 237, 14.2, 2]], dtype=np.float32)
    rows = base * rng.lognormal(0, 0.7, size=(3000, 17)).astype(np.float32)
    rows[1500:, 3:] = np.nan  # the seed's 3-field body (distance, duration, fare)
    rows[1500:, 1] = base[0, 1] * rng.lognormal(0, 0.7, 1500)
    out = scorer.infer(rows)
    flagged = np.flatnonzero(out["is_fraud"][:, 0])
    assert len(flagged) > 50 and (flagged >= 1500).any()
    reasons = explain_batch(rows[flagged], out["feature_errors"][flagged], out["feature_expected"][flagged], meta)
    assert all(1 <= len(r) <= 3 for r in reasons)
