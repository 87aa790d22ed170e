"""Shared fixtures for the model tests: the committed model, its metadata, and a wire-row builder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from taxifraud.wire import encode_rows

REPO_ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = REPO_ROOT / "model_repository"
ONNX_PATH = REPOSITORY / "fraud_autoencoder" / "1" / "model.onnx"

#: An ordinary Midtown trip, every field present (2.5 mi, 15 min, $12.50).
NORMAL_TRIP: dict[str, Any] = {
    "pickup_datetime": "2019-06-05 14:10:00",
    "dropoff_datetime": "2019-06-05 14:25:00",
    "passenger_count": 1,
    "trip_distance": 2.5,
    "rate_code_id": 1,
    "pickup_location_id": 161,
    "dropoff_location_id": 237,
    "payment_type": 1,
    "fare_amount": 12.5,
    "extra": 0.0,
    "mta_tax": 0.5,
    "tip_amount": 2.0,
    "tolls_amount": 0.0,
    "improvement_surcharge": 0.3,
    "congestion_surcharge": 2.5,
    "airport_fee": 0.0,
    "cbd_congestion_fee": 0.0,
    "vendor_id": 2,
    "total_amount": 17.8,
}
SEED_NORMAL = {"trip_distance": 2.5, "fare_amount": 12.5, "duration_minutes": 15}
#: The features the seed's 3 fields (distance, fare, duration) can compute.
SEED_COMPUTABLE = {
    "distance",
    "duration",
    "speed_mph",
    "speed_over_limit",
    "fare_units",
    "units_per_mile",
    "units_per_minute",
    "fare_above_meter",
    "fare_without_distance",
}


def trip(**changes: Any) -> dict[str, Any]:
    """The normal trip with some fields changed (None removes a field)."""
    out = {**NORMAL_TRIP, **changes}
    return {k: v for k, v in out.items() if v is not None}


def itemising_trip(pickup: int, dropoff: int, start: str, minutes: int, extra: float, **changes: Any) -> dict[str, Any]:
    """A vendor 2 trip (it itemises every charge) between two zones on 2019-07-10, a Wednesday, starting at
    ``start`` (HH:MM), with no congestion surcharge in its column and ``extra`` as given."""
    begin = datetime.strptime(f"2019-07-10 {start}", "%Y-%m-%d %H:%M")
    return trip(
        vendor_id=2,
        pickup_datetime=f"{begin:%Y-%m-%d %H:%M:%S}",
        dropoff_datetime=f"{begin + timedelta(minutes=minutes):%Y-%m-%d %H:%M:%S}",
        pickup_location_id=pickup,
        dropoff_location_id=dropoff,
        congestion_surcharge=0.0,
        extra=extra,
        **changes,
    )


@pytest.fixture(scope="session")
def rows_of() -> Callable[..., np.ndarray]:
    return lambda *txs: encode_rows(list(txs))


@pytest.fixture(scope="session")
def scorer():  # -> OnnxScorer
    if not ONNX_PATH.exists():
        pytest.skip("model not exported yet (taxifraud export)")
    from taxifraud.onnx_scorer import OnnxScorer

    return OnnxScorer(REPOSITORY)


@pytest.fixture(scope="session")
def meta():  # -> ModelMeta
    if not ONNX_PATH.exists():
        pytest.skip("model not exported yet (taxifraud export)")
    from taxifraud.model_meta import ModelMeta

    return ModelMeta.load(REPOSITORY)
