"""The relief-zone check of the model card: 2024 trips moved into the fee's era, the fee billed as vendors bill it."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from export.relief_zone import CONVENTIONS, TARGET_MONTH, ends_in, of_year, redated, relief_zone_check
from taxifraud import tariff
from taxifraud.wire import COLUMN_INDEX, encode_rows
from tests.model.conftest import trip

ZONE = (161, 230)


def _rows() -> np.ndarray:
    """Four 2024 trips (Midtown and outside it, vendors 1 and 2) and one of 2019."""
    return encode_rows(
        [
            {**trip(pickup_datetime="2024-06-05 14:10:00", dropoff_datetime="2024-06-05 14:25:00"), "vendor_id": 1},
            {**trip(pickup_datetime="2024-06-08 09:00:00", dropoff_datetime="2024-06-08 09:20:00"), "vendor_id": 2},
            {
                **trip(pickup_datetime="2024-12-30 23:30:00", dropoff_datetime="2024-12-30 23:50:00"),
                "pickup_location_id": 7,
                "dropoff_location_id": 82,
                "vendor_id": 1,
            },
            trip(pickup_datetime="2024-01-01 00:10:00", dropoff_datetime="2024-01-01 00:30:00"),
            trip(),
        ]
    )


def _col(rows: np.ndarray, name: str) -> np.ndarray:
    return rows[:, COLUMN_INDEX[name]]


def test_trips_move_by_whole_weeks_into_the_fee_month_and_bill_it_where_an_end_is_in_the_zone() -> None:
    rows = of_year(_rows(), 2024)
    assert len(rows) == 4, "the 2019 trip is not a 2024 trip"
    out = redated(rows, 0.75, ZONE, CONVENTIONS["fee in its own column"])
    days = [tariff.EPOCH + timedelta(days=int(d)) for d in _col(out, "pickup_day")]
    before = [tariff.EPOCH + timedelta(days=int(d)) for d in _col(rows, "pickup_day")]
    assert all(TARGET_MONTH <= d < date(2025, 3, 1) for d in days), days
    assert [d.weekday() for d in days] == [d.weekday() for d in before]
    in_zone = ends_in(rows, ZONE)
    assert in_zone.tolist() == [True, True, False, True]
    np.testing.assert_allclose(_col(out, "cbd_congestion_fee"), np.where(in_zone, 0.75, 0.0))
    np.testing.assert_allclose(_col(out, "total_amount") - _col(rows, "total_amount"), np.where(in_zone, 0.75, 0.0))
    np.testing.assert_allclose(_col(out, "extra"), _col(rows, "extra"))


def test_folding_adds_the_fee_to_extra_for_every_vendor_but_2_and_vendor_2_always_itemises_it() -> None:
    rows = of_year(_rows(), 2024)
    both = redated(rows, 0.75, ZONE, CONVENTIONS["fee also folded into extra (vendors but 2)"])
    np.testing.assert_allclose(_col(both, "extra") - _col(rows, "extra"), [0.75, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(_col(both, "cbd_congestion_fee"), [0.75, 0.75, 0.0, 0.75])
    alone = redated(rows, 0.75, ZONE, CONVENTIONS["fee in extra alone, its column $0 (vendors but 2)"])
    np.testing.assert_allclose(_col(alone, "extra") - _col(rows, "extra"), [0.75, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(_col(alone, "cbd_congestion_fee"), [0.0, 0.75, 0.0, 0.75])
    np.testing.assert_allclose(_col(alone, "total_amount") - _col(rows, "total_amount"), [0.75, 0.75, 0.0, 0.75])


def test_the_check_counts_trips_each_convention_flags_that_were_not_flagged() -> None:
    """A stand-in score that flags an `extra` off the half-dollar grid (the $0.75 fee in it): only the
    conventions with the fee in `extra` flag, and only the vendor 1 trip with an end in the zone."""

    def score(rows: np.ndarray) -> np.ndarray:
        return (np.abs(np.remainder(_col(rows, "extra"), 0.5)) > 0.01).astype(float) * 2.0

    rates = tariff.load(tariff.DEFAULT_PATH)
    assert rates.period_on(TARGET_MONTH).amounts["cbd_congestion_fee"] == 0.75
    assert set(ZONE) <= set(rates.zones["congestion_relief_zone"])
    out = relief_zone_check(score, _rows(), 1.0, rates)
    assert (out["n"], out["fee"], out["month"], out["fpr_as_they_were"]) == (4, 0.75, "2025-02", 0.0)
    own, folded, alone = out["conventions"].values()
    assert (own["fpr"], own["newly_flagged"]) == (0.0, 0)
    assert (folded["fpr"], folded["newly_flagged"]) == (0.25, 1)
    assert (alone["fpr"], alone["newly_flagged"]) == (0.25, 1)
