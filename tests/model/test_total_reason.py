"""The total's reason states the gap the graph judged: the reason text mirrors the graph's vendor conventions
and missing-column bands by hand, so any record must give both the same number."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from export.data import TARIFF_PATH
from export.feature_specs import FEATURE_INDEX
from export.features import FeatureGraph
from taxifraud import tariff
from taxifraud.charge_reasons import total_gap, total_reason
from taxifraud.reason_row import unslog
from taxifraud.wire import encode_rows
from tests.model.conftest import trip

TARIFF = tariff.load(TARIFF_PATH)
GRAPH = FeatureGraph()
GRAPH.set_tariff(TARIFF)
K = FEATURE_INDEX["total_gap"]
#: Midtown, Astoria, JFK, LaGuardia, an unknown place: airport fee owed at two of them, maybe at the last.
PICKUPS = (161, 7, 132, 138, 264)
DAYS = ("2018-06-05", "2019-06-05", "2024-03-05", "2025-02-05")
OPTIONAL = ("congestion_surcharge", "airport_fee", "cbd_congestion_fee", "extra", "mta_tax", "improvement_surcharge")


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    day = draw(st.sampled_from(DAYS))
    charges = {
        "congestion_surcharge": draw(st.sampled_from((0.0, 2.5))),
        "airport_fee": draw(st.sampled_from((0.0, 1.25, 1.75))),
        "cbd_congestion_fee": draw(st.sampled_from((0.0, 0.75))),
        "extra": draw(st.sampled_from((0.0, 0.5, 1.0, 2.5, 5.0))),
    }
    parts = 12.5 + 0.5 + 2.0 + 0.3 + sum(charges.values())
    off = draw(st.one_of(st.sampled_from((0.0, -2.5, -1.75, -0.75, 0.75, 1.75, 3.0, 47.0)), st.floats(-5.0, 60.0)))
    record = trip(
        pickup_datetime=f"{day} 14:10:00",
        dropoff_datetime=f"{day} 14:25:00",
        pickup_location_id=draw(st.sampled_from(PICKUPS)),
        vendor_id=draw(st.sampled_from((1, 2, None))),
        total_amount=round(parts + off, 2),
        **charges,
    )
    for column in draw(st.sets(st.sampled_from(OPTIONAL), max_size=3)):
        record.pop(column, None)
    return record


@settings(max_examples=300, deadline=None)
@given(records())
def test_the_reason_states_the_gap_the_graph_judged(record: dict[str, Any]) -> None:
    rows = encode_rows([record])
    with torch.no_grad():
        feats, mask, _ = GRAPH(torch.from_numpy(rows))
    found = total_gap(rows[0], TARIFF)
    assert bool(mask[0, K]) == (found is not None)
    if found is not None:
        assert abs(found.gap - unslog(float(feats[0, K]))) < 0.011


def test_a_missing_airport_fee_widens_the_band_only_where_the_pickup_may_owe_it() -> None:
    """$47 above its parts without the airport fee column: $47 from Midtown (no fee is billed there), $45.25
    from LaGuardia (the record may have left out the $1.75 fee)."""
    midtown, laguardia = (
        trip(
            pickup_datetime="2024-03-05 14:10:00",
            dropoff_datetime="2024-03-05 14:25:00",
            pickup_location_id=pickup,
            airport_fee=None,
            total_amount=17.8 + 47.0,
        )
        for pickup in (161, 138)
    )
    rows = encode_rows([midtown, laguardia])
    assert total_reason(rows[0], TARIFF).startswith("total exceeds its parts by $47.00 (itemised charges")
    assert total_reason(rows[1], TARIFF).startswith(
        "total exceeds its parts by $45.25 even with the missing airport fee at the most"
    )
