"""Hand-written trips the end-to-end tests send: one real ordinary 2019 trip (the
warm-up's, so both send the same), the seed's body, a fraud."""

from __future__ import annotations

from operations.embedded.warmup import TRIP

NORMAL_FULL = TRIP
SEED_BODY = {"trip_distance": 2.5, "fare_amount": 12.50, "duration_minutes": 15}
FRAUD = {"trip_distance": 1.0, "fare_amount": 400.0, "duration_minutes": 8}
