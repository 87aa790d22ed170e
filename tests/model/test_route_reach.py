"""A trip's reach: how far past its zone pair's usual route it ran, the smaller of distance and time."""

from __future__ import annotations

import math

import numpy as np
import torch

from export.features import FeatureGraph
from export.route_reach import REACH_EDGES, reach, reach_table
from taxifraud.wire import encode_rows
from tests.model.conftest import trip


def _graph() -> FeatureGraph:
    """Every zone pair's usual route 2.5 mi and 15 min, seen 100 times; Midtown -> Upper East Side seen twice."""
    graph = FeatureGraph()
    graph.route_log_distance.fill_(math.log1p(2.5))
    graph.route_log_minutes.fill_(math.log1p(15.0))
    graph.route_trips.fill_(100.0)
    graph.route_trips[161 * 266 + 237] = 2.0
    return graph


def _ride(miles: float, minutes: int, pickup: int = 161, dropoff: int = 236) -> dict[str, object]:
    return trip(
        trip_distance=miles,
        pickup_location_id=pickup,
        dropoff_location_id=dropoff,
        dropoff_datetime=f"2019-06-05 {14 + (10 + minutes) // 60:02d}:{(10 + minutes) % 60:02d}:00",
    )


@torch.no_grad()
def test_reach_is_the_smaller_stretch_and_none_without_a_route() -> None:
    rows = encode_rows(
        [
            _ride(7.5, 45),  # 3x in both
            _ride(10.0, 30),  # 4x the distance, 2x the time: went 2x round at most
            _ride(2.5, 15, dropoff=161),  # one zone: no route
            _ride(7.5, 45, dropoff=237),  # a pair seen twice: no route
            _ride(7.5, 45, dropoff=264),  # an unknown end: no route
        ]
    )
    got = reach(_graph(), rows)
    assert np.allclose(got[:2], [3.0, 2.0], rtol=1e-4)
    assert np.isnan(got[2:]).all()


def test_the_table_puts_each_planted_trip_in_its_bin_and_counts_ordinary_trips_as_far_or_further() -> None:
    graph = _graph()
    planted = encode_rows([_ride(7.5, 45), _ride(7.5, 45), _ride(12.5, 75), _ride(2.5, 15, dropoff=161)])
    ordinary = encode_rows([_ride(2.5, 15)] * 8 + [_ride(5.5, 33), _ride(10.0, 60), _ride(2.5, 15, dropoff=161)])
    table = reach_table(graph, ordinary, planted, np.array([True, False, True, True]))
    assert table["no_route"] == 1
    bins = {b["low"]: b for b in table["bins"]}
    assert [b["low"] for b in table["bins"]] == [0.0, *REACH_EDGES]
    assert bins[3.0]["planted"] == 2 and bins[3.0]["recall"] == 0.5, "3x: one of the two caught"
    assert bins[4.0]["planted"] == 1 and bins[4.0]["recall"] == 1.0, "5x sits in 4-6"
    assert bins[6.0]["recall"] is None and bins[6.0]["high"] is None, "an empty, open last bin"
    assert bins[2.0]["ordinary_share"] == 0.2 and bins[3.0]["ordinary_share"] == 0.1, (
        "2 of the 10 with a route reach 2x, 1 reaches 3x"
    )
