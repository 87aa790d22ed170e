"""Reasons for planted anomalies: the right family first, readable numbers, nothing for normal trips."""

from __future__ import annotations

import numpy as np
import pytest

from export.feature_specs import FEATURE_NAMES
from taxifraud.model_meta import ModelMeta
from taxifraud.reason_row import congestion_passes_of
from taxifraud.reasons import FAMILIES, Reason, explain_batch
from taxifraud.wire import COLUMN_INDEX, N_INPUT_COLUMNS, encode_rows
from tests.model.conftest import NORMAL_TRIP, itemising_trip, trip


def explain(scorer, meta, *txs):
    rows = encode_rows(list(txs))
    out = scorer.infer(rows)
    return explain_batch(rows, out["feature_errors"], out["feature_expected"], meta), out


def texts(reasons: list[Reason]) -> list[str]:
    return [r.text for r in reasons]


def families(reasons: list[Reason]) -> list[str]:
    return [r.family for r in reasons]


@pytest.mark.parametrize(
    ("tx", "family", "fragment"),
    [
        ({"trip_distance": 1.0, "fare_amount": 400.0, "duration_minutes": 8}, "fare", "fare $400.00 is"),
        (trip(total_amount=55.8), "total", "total exceeds its parts by $38.00 (itemised charges $17.80)"),
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
    assert any(fragment in r.text for r in reasons[0]), reasons[0]
    if family is not None:
        assert reasons[0][0].family == family, reasons[0]


def test_normal_trip_has_no_reasons(scorer, meta) -> None:
    reasons, _ = explain(scorer, meta, NORMAL_TRIP)
    assert reasons == [[]]


def _pure(meta, tx, **zs):
    """Reasons from hand-set errors (no model): ``feature=z`` pairs, expected values left at 0."""
    rows = encode_rows([tx])
    errors = np.zeros((1, len(FEATURE_NAMES)), dtype=np.float32)
    expected = np.zeros_like(errors)
    for name, z in zs.items():
        errors[0, FEATURE_NAMES.index(name)] = z
    return rows, errors, expected


def test_one_reason_per_family_and_one_for_the_meter_relation(meta) -> None:
    """Fare units, units per mile and duration all high make one reason: they describe one relation."""
    tx = {"trip_distance": 1.0, "fare_amount": 400.0, "duration_minutes": 8, "pickup_datetime": "2025-02-04 14:00:00"}
    rows, errors, expected = _pure(
        meta, tx, fare_units=30.0, units_per_mile=29.0, fare_above_meter=28.0, duration=20.0, tip_units=12.0
    )
    reasons = explain_batch(rows, errors, expected, meta)[0]
    assert families(reasons) == ["fare", "tip"], reasons
    assert reasons[0].text == (
        "fare $400.00 is above the most the meter can charge for 1.0 mi in 8 min under the tariff of 2025-02-04 "
        "(in force since 2025-01-05): $12.10 ($3.00 + $0.70 per 1/5 mile and per minute)"
    )
    assert explain_batch(rows, errors, expected, meta, max_reasons=1)[0] == reasons[:1]
    errors[0, FEATURE_NAMES.index("tip_units")] = 6.0  # under a third of the fare's z: a side effect, not a finding
    assert families(explain_batch(rows, errors, expected, meta)[0]) == ["fare"]
    errors[:] = meta.reason_min_z - 1e-3  # below the cut-off: nothing to say
    assert explain_batch(rows, errors, expected, meta) == [[]]


def test_a_reason_never_quotes_an_implausible_usual_value(meta) -> None:
    """The seed's example trip: a reconstructed 0-minute 'usual' duration is not quoted; the evidence is named."""
    tx = {"trip_distance": 2.58, "fare_amount": 24.18, "duration_minutes": 11}
    rows, errors, expected = _pure(meta, tx, duration=9.0)
    expected[0, FEATURE_NAMES.index("duration")] = 0.0  # "usual ~0 min": not usual for 2.58 mi
    (reason,) = texts(explain_batch(rows, errors, expected, meta)[0])
    assert "usual" not in reason
    assert reason == "duration 11.0 min is implausible for trips with this distance and fare"
    expected[0, FEATURE_NAMES.index("duration")] = np.log1p(25.0)
    (reason,) = texts(explain_batch(rows, errors, expected, meta)[0])
    assert reason == "duration 11.0 min is implausible for trips with this distance and fare (usual ~25 min)"


def test_charges_are_explained_by_the_tariff_rule_they_break(meta) -> None:
    base = {**trip(), "pickup_datetime": "2025-02-04 14:10:00", "dropoff_datetime": "2025-02-04 14:25:00"}
    cases = [
        (
            {**base, "improvement_surcharge": 0.3},
            {"improvement_vs_tariff": 9.0},
            "improvement surcharge $0.30 is not an amount the tariff bills: $1.00 (TLC rule in force since "
            "2022-12-19, the tariff of 2025-02-04 (in force since 2025-01-05))",
        ),
        (
            {**base, "extra": 1.0},
            {"extra_vs_tariff": 9.0},
            "extra $1.00 is $1.00 more than the tariff's surcharges for a pickup at 14:10 Tue ($0.00: none apply; "
            "the tariff of 2025-02-04 (in force since 2025-01-05))",
        ),
        (
            {**base, "pickup_location_id": 7, "dropoff_location_id": 82},
            {"congestion_unexpected": 9.0},
            "congestion surcharge $2.50 on a trip that neither starts nor ends in Manhattan south of 96th Street "
            "(zones 7 -> 82; the surcharge applies to trips that begin, end or pass through it)",
        ),
        (
            {**base, "airport_fee": 1.75},
            {"airport_fee_unexpected": 9.0},
            "airport fee $1.75 on a pickup that was not at an airport (zone 161; the fee is for airport pickups)",
        ),
        (
            {**trip(), "cbd_congestion_fee": 0.75},
            {"cbd_fee_vs_tariff": 9.0},
            "congestion relief zone fee $0.75 is not billed under the tariff of 2019-06-05 (in force since "
            "2019-02-02); it starts on 2025-01-05",
        ),
    ]
    for tx, zs, text in cases:
        rows, errors, expected = _pure(meta, tx, **zs)
        (reason,) = explain_batch(rows, errors, expected, meta)[0]
        assert reason.text == text
        assert reason.family == "surcharge"
        assert reason.evidence["feature"] == next(iter(zs))


def test_the_extra_reason_reads_the_committed_model_s_pass_through_pairs(scorer, meta) -> None:
    """The committed metadata carries the zone pairs the graph lets pass through the congestion zone, and the
    served reason reads them: vendor 2's $3.50 on a weekday morning between two zones outside the zone, the
    surcharge not itemised, is $1.00 beyond the surcharge billed in `extra` where the pair passes through, and
    $3.50 beyond nothing where it does not; both flagged, each reason stating what the graph judged."""
    passes = congestion_passes_of(meta)
    assert passes is not None
    # Queens and Brooklyn pairs; the committed tables let most pass through, not Park Slope -> Boerum Hill.
    outside = [(pu, do) for pu in (7, 82, 181) for do in (7, 82, 25, 33) if pu != do]
    through = next(pair for pair in outside if passes.passes(*pair))
    apart = next(pair for pair in outside if not passes.passes(*pair))
    txs = [itemising_trip(pu, do, "11:10", 20, extra=3.5, total_amount=19.3) for pu, do in (through, apart)]
    reasons, out = explain(scorer, meta, *txs)
    assert out["is_fraud"][:, 0].all()
    (first,) = [r.text for r in reasons[0] if r.text.startswith("extra $3.50")]
    (second,) = [r.text for r in reasons[1] if r.text.startswith("extra $3.50")]
    assert "is $1.00 more than" in first and "congestion surcharge billed in extra $2.50" in first, first
    assert "is $3.50 more than" in second and "none apply" in second, second


def test_a_reason_carries_its_family_and_evidence(meta) -> None:
    """The family is the feature's, never read back from the words; the evidence holds the fields it used."""
    rows, errors, expected = _pure(meta, trip(total_amount=55.8), total_gap=30.0)
    (reason,) = explain_batch(rows, errors, expected, meta)[0]
    assert reason.family == "total" and reason.family in FAMILIES
    assert reason.evidence["feature"] == "total_gap"
    assert reason.evidence["rarity"] == 30.0
    assert reason.evidence["total_amount"] == pytest.approx(55.8)
    assert reason.as_dict()["text"] == reason.text
    assert set(FAMILIES) >= {"fare", "speed", "total", "tip", "tolls", "route", "rate", "surcharge", "other"}


def test_shape_mismatch_is_an_error() -> None:
    meta = ModelMeta("v", 1.0, list(FEATURE_NAMES), 4.0, {})
    with pytest.raises(ValueError):
        explain_batch(
            np.zeros((2, N_INPUT_COLUMNS)), np.zeros((1, len(FEATURE_NAMES))), np.zeros((1, len(FEATURE_NAMES))), meta
        )


def test_context_reasons_come_after_scored_ones() -> None:
    """A rare rate code explains, but never leads, a flagged trip's reasons."""
    names = list(FEATURE_NAMES)
    meta = ModelMeta("v", 1.0, names, 4.0, {}, scored_features=[n for n in names if not n.startswith("rate_")])
    rows = encode_rows([{"trip_distance": 2.0, "fare_amount": 60.0, "duration_minutes": 10, "rate_code_id": 4}])
    errors = np.zeros((1, len(names)), dtype=np.float32)
    errors[0, names.index("rate_out_of_city")] = 40.0
    errors[0, names.index("fare_units")] = 8.0
    reasons = explain_batch(rows, errors, np.zeros_like(errors), meta)[0]
    assert families(reasons) == ["fare", "other"]
    assert reasons[1].text == "rate code 4 is unusual for this trip"


def test_every_flagged_row_gets_a_reason(scorer, meta) -> None:
    """reason_min_z is calibrated below every field count's flag level, so no alert is unexplained."""
    rng = np.random.default_rng(5)
    base = encode_rows([NORMAL_TRIP, {**NORMAL_TRIP, "pickup_datetime": "2025-02-04 14:10:00"}])
    rows = base[rng.integers(0, 2, 3000)] * rng.lognormal(0, 0.7, size=(3000, N_INPUT_COLUMNS)).astype(np.float32)
    seed_cols = [COLUMN_INDEX[c] for c in ("trip_distance", "duration_minutes", "fare_amount")]
    other = [j for j in range(N_INPUT_COLUMNS) if j not in seed_cols]
    rows[np.ix_(np.arange(1500, 3000), np.array(other))] = np.nan  # the seed's 3-field body (distance, duration, fare)
    out = scorer.infer(rows)
    flagged = np.flatnonzero(out["is_fraud"][:, 0])
    assert len(flagged) > 50 and (flagged >= 1500).any()
    reasons = explain_batch(rows[flagged], out["feature_errors"][flagged], out["feature_expected"][flagged], meta)
    assert all(1 <= len(r) <= 3 for r in reasons)
