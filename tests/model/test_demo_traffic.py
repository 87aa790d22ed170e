"""The demo's ordinary traffic is ordinary to the detector, so `make demo`'s precision measures the detector and
not the generator: its trips run at the speeds, distances and charges real trips of their zone pair do."""

from __future__ import annotations

from operations.traffic import TripGenerator
from taxifraud.wire import encode_rows


def test_generated_ordinary_trips_are_rarely_flagged(scorer) -> None:
    # 5,000 trips; the committed model flags about 0.1% of them. A generator drawing city-wide speeds for every
    # zone pair (a Midtown hop at 29 mph) made 0.7% of them GPS jumps.
    out = scorer.infer(encode_rows(list(TripGenerator.from_file(seed=7).trips(5000))))
    flagged = int(out["is_fraud"].sum())
    assert flagged <= 15, f"{flagged} of 5,000 ordinary demo trips flagged"
