"""How far past its zone pair's usual route a long haul must run before the model catches it, beside how many
ordinary trips run as far: the model card's reading of why the long-hauling family's recall stays short.

A trip's reach is the smaller of its distance and its minutes as a multiple of the pair's usual (the route
table's median, the minutes at the pickup hour of the week): a long way round stretches both, so the smaller one
says how far the trip went round. Trips with no route (an unknown end, one zone, a pair seen too rarely) have
none.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from export.feature_specs import MIN_ROUTE_TRIPS
from export.features import ZONE_FLAGS, FeatureGraph, zone_slot
from taxifraud.wire import COLUMN_INDEX

#: Reach bins shown on the card (lower edges; the last is open).
REACH_EDGES: tuple[float, ...] = (1.5, 2.0, 3.0, 4.0, 6.0)


@torch.no_grad()
def reach(graph: FeatureGraph, rows: np.ndarray) -> np.ndarray:
    """[n] each trip's reach (NaN where it has no route or lacks a field the reach needs)."""
    t = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))

    def col(name: str) -> torch.Tensor:
        return t[:, COLUMN_INDEX[name] : COLUMN_INDEX[name] + 1]

    def given(name: str) -> torch.Tensor:
        return torch.isfinite(col(name))

    pu = zone_slot(col("pickup_location_id"), given("pickup_location_id"))
    do = zone_slot(col("dropoff_location_id"), given("dropoff_location_id"))
    known_time = given("pickup_hour") & given("pickup_weekday")
    on_pair, log_miles, log_minutes = graph.usual_route(pu, do, col("pickup_hour"), col("pickup_weekday"), known_time)
    usual_miles, usual_minutes = torch.expm1(log_miles), torch.expm1(log_minutes)
    out = torch.minimum(col("trip_distance") / usual_miles, col("duration_minutes") / usual_minutes)
    unknown = graph.zone_table()[:, ZONE_FLAGS.index("unknown")]
    routed = (pu != do) & ~unknown[pu] & ~unknown[do] & (on_pair["route_trips"] >= MIN_ROUTE_TRIPS)
    return torch.where(routed & (usual_miles > 0) & (usual_minutes > 0), out, torch.nan).squeeze(1).numpy()


def reach_table(graph: FeatureGraph, negatives: np.ndarray, planted: np.ndarray, caught: np.ndarray) -> dict[str, Any]:
    """Per reach bin: the planted long hauls in it, the share the model caught, and the share of ordinary trips
    (with a route) that reach as far."""
    planted_reach, ordinary_reach = reach(graph, planted), reach(graph, negatives)
    ordinary_reach = ordinary_reach[np.isfinite(ordinary_reach)]
    lows = (0.0, *REACH_EDGES)
    highs = (*REACH_EDGES, np.inf)
    bins = []
    for low, high in zip(lows, highs, strict=True):
        inside = (planted_reach >= low) & (planted_reach < high)
        bins.append(
            {
                "low": low,
                "high": None if np.isinf(high) else high,
                "planted": int(inside.sum()),
                "recall": round(float(caught[inside].mean()), 4) if inside.any() else None,
                "ordinary_share": round(float((ordinary_reach >= low).mean()), 5) if len(ordinary_reach) else None,
            }
        )
    return {"no_route": int((~np.isfinite(planted_reach)).sum()), "bins": bins}
