"""The reasons for the total and for `extra` state the amounts the graph judged: the reason text mirrors the
graph's vendor conventions, surcharge windows and missing-column bands by hand, so any record must give both
the same number. The zone pairs the graph lets pass through the congestion zone reach the reasons through the
model's metadata, as in service."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from export.data import TARIFF_PATH
from export.feature_specs import FEATURE_INDEX, N_ZONE_SLOTS, PASS_RATE_FLOOR
from export.features import FeatureGraph
from taxifraud import tariff
from taxifraud.charge_reasons import surcharge_reason, total_gap, total_reason
from taxifraud.congestion_passes import CongestionPasses
from taxifraud.reason_row import unslog
from taxifraud.wire import encode_rows
from tests.model.conftest import itemising_trip, trip

TARIFF = tariff.load(TARIFF_PATH)
GRAPH = FeatureGraph()
GRAPH.set_tariff(TARIFF)
#: Pass rates drawn at random around the floor, in one era or the other, so some pairs with no end in the zone
#: pass through it and others do not; the reasons get the set the export writes into the metadata.
_rates = np.random.default_rng(5).choice([0.0, PASS_RATE_FLOOR / 2, PASS_RATE_FLOOR, 0.05], size=(2, N_ZONE_SLOTS**2))
GRAPH.congestion_pass_rate.copy_(torch.from_numpy(_rates[0]))
GRAPH.congestion_pass_rate_before.copy_(torch.from_numpy(_rates[1]))
PASSES = CongestionPasses.from_doc(
    json.loads(json.dumps(CongestionPasses.from_flat(GRAPH.may_pass_congestion_zone().numpy()).to_doc()))
)
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


def judged(record: dict[str, Any], feature: str) -> tuple[np.ndarray, float | None]:
    """The record's wire row, and the graph's value of one feature in dollars (None where not computable)."""
    rows = encode_rows([record])
    with torch.no_grad():
        feats, mask, _ = GRAPH(torch.from_numpy(rows))
    k = FEATURE_INDEX[feature]
    return rows[0], unslog(float(feats[0, k])) if bool(mask[0, k]) else None


@settings(max_examples=300, deadline=None)
@given(records())
def test_the_reason_states_the_gap_the_graph_judged(record: dict[str, Any]) -> None:
    row, gap = judged(record, "total_gap")
    found = total_gap(row, TARIFF)
    assert (gap is None) == (found is None)
    if found is not None and gap is not None:
        assert abs(found.gap - gap) < 0.011


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


@st.composite
def extras(draw: st.DrawFn) -> dict[str, Any]:
    start = datetime(2018, 6, 4) + timedelta(
        days=draw(st.sampled_from((0, 367, 370, 2101, 2437))), minutes=draw(st.integers(0, 24 * 60 - 1))
    )
    end = start + timedelta(minutes=draw(st.integers(2, 90)))
    record = trip(
        pickup_datetime=f"{start:%Y-%m-%d %H:%M:%S}",
        dropoff_datetime=f"{end:%Y-%m-%d %H:%M:%S}",
        pickup_location_id=draw(st.sampled_from((*PICKUPS, 237))),
        dropoff_location_id=draw(st.sampled_from((237, 7, 161, 138, 82, 265))),
        vendor_id=draw(st.sampled_from((1, 2, None))),
        rate_code_id=draw(st.sampled_from((1, 1, 2))),
        congestion_surcharge=draw(st.sampled_from((0.0, 2.5))),
        airport_fee=draw(st.sampled_from((0.0, 1.75))),
        cbd_congestion_fee=draw(st.sampled_from((0.0, 0.75))),
        extra=draw(st.sampled_from((0.0, 0.5, 1.0, 2.5, 3.5, 5.0, 6.0, 7.75, 9.25, 12.0))),
    )
    for column in draw(st.sets(st.sampled_from(("congestion_surcharge", "airport_fee", "cbd_congestion_fee")))):
        record.pop(column, None)
    return record


@settings(max_examples=400, deadline=None)
@given(extras())
def test_the_extra_reason_states_what_the_graph_left_unexplained(record: dict[str, Any]) -> None:
    """Whatever no combination of the surcharges explains, above or below the nearest one, the reason states
    the graph's residual; where a combination explains `extra` exactly, it names no amount."""
    row, residual = judged(record, "extra_vs_tariff")
    assert residual is not None
    text = surcharge_reason(row, {}, "extra_vs_tariff", TARIFF, PASSES)
    stated = re.search(r"is \$([\d,.]+) (more|less) than the tariff's surcharges", text)
    if abs(residual) <= 0.005:
        assert stated is None, text
        return
    assert stated is not None, (residual, text)
    sign = 1.0 if stated.group(2) == "more" else -1.0
    assert abs(sign * float(stated.group(1)) - residual) < 0.011, (residual, text)


def test_the_extra_reason_counts_the_surcharge_on_a_pair_that_passes_through_the_zone() -> None:
    """Vendor 2, $3.50 on a weekday afternoon between two zones outside the congestion zone: where their trips
    pass through it, $2.50 is the surcharge billed in `extra` and $1.00 is left; where they do not, all of it."""
    outside = [(pu, do) for pu in (7, 82, 138) for do in (7, 82, 138, 65) if pu != do]
    through = next(pair for pair in outside if PASSES.passes(*pair))
    apart = next(pair for pair in outside if not PASSES.passes(*pair))
    texts = []
    for pu, do in (through, apart):
        record = itemising_trip(pu, do, "11:10", 20, extra=3.5)
        texts.append(surcharge_reason(encode_rows([record])[0], {}, "extra_vs_tariff", TARIFF, PASSES))
    assert "is $1.00 more than" in texts[0] and "congestion surcharge billed in extra $2.50" in texts[0], texts[0]
    assert "is $3.50 more than" in texts[1] and "none apply" in texts[1], texts[1]


def test_a_rush_hour_pickup_billed_the_night_amount_is_named_as_such() -> None:
    """A weekday 5 pm pickup billing $0.50 in 2019 pays the night amount in the rush window, which the graph
    allows; $1.50 is the rush hour surcharge with $0.50 more."""
    texts = []
    for extra in (0.5, 1.5):
        record = itemising_trip(7, 82, "17:10", 15, extra=extra)
        texts.append(surcharge_reason(encode_rows([record])[0], {}, "extra_vs_tariff", TARIFF, PASSES))
    assert texts[0].startswith("extra $0.50 is unusual for a pickup at 17:10 Wed"), texts[0]
    assert "is $0.50 more than" in texts[1] and "($1.00: rush hour $1.00;" in texts[1], texts[1]


def test_a_congestion_surcharge_folded_into_extra_is_named_among_what_extra_may_hold() -> None:
    """Vendor 1 folds the congestion surcharge into `extra` (and lists it in its column too): of $3.50 on a
    Sunday afternoon, only $1.00 is beyond what the tariff allows."""
    record = trip(
        vendor_id=1,
        pickup_datetime="2019-07-14 15:39:00",
        dropoff_datetime="2019-07-14 15:48:00",
        extra=3.5,
        total_amount=19.3,
    )
    text = surcharge_reason(encode_rows([record])[0], {}, "extra_vs_tariff", TARIFF)
    assert text.startswith(
        "extra $3.50 is $1.00 more than the tariff's surcharges for a pickup at 15:39 Sun "
        "($2.50: congestion surcharge folded in $2.50; the tariff of 2019-07-14"
    ), text
