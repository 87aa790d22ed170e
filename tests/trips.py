"""Hand-written trips the end-to-end tests send: one real ordinary 2019 trip, the seed's body, a fraud."""

from __future__ import annotations

SEED_BODY = {"trip_distance": 2.5, "fare_amount": 12.50, "duration_minutes": 15}
NORMAL_FULL = {
    "vendor_id": 2,
    "pickup_datetime": "2019-03-20 16:30:11",
    "dropoff_datetime": "2019-03-20 16:44:49",
    "passenger_count": 1,
    "trip_distance": 2.63,
    "rate_code_id": 1,
    "store_and_fwd_flag": "N",
    "pickup_location_id": 231,
    "dropoff_location_id": 88,
    "payment_type": 1,
    "fare_amount": 12.5,
    "extra": 1.0,
    "mta_tax": 0.5,
    "tip_amount": 3.36,
    "tolls_amount": 0.0,
    "improvement_surcharge": 0.3,
    "total_amount": 20.16,
    "congestion_surcharge": 2.5,
}
FRAUD = {"trip_distance": 1.0, "fare_amount": 400.0, "duration_minutes": 8}
