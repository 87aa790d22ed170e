"""Reading a model-input row and its tariff period into the words every reason sentence uses.

Kept apart from the sentences themselves so the meter and the charge reasons quote a field, an amount
and a tariff period the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from taxifraud import tariff
from taxifraud.congestion_passes import META_KEY, CongestionPasses, PassesError
from taxifraud.model_meta import ModelMeta
from taxifraud.wire import COLUMN_INDEX

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: Average speed above which a trip's distance or duration cannot be what was recorded (no NYC taxi averages
#: it over a trip); the feature graph's ``speed_over_limit`` rule check uses the same constant.
IMPOSSIBLE_MPH = 80.0
#: A reconstructed speed outside this range is not quoted as "usual" (NYC taxis: walking pace to highway).
PLAUSIBLE_MPH = (1.0, 60.0)
#: Cents of rounding between a fare and the meter bound are not a finding.
METER_SLACK = 0.5

#: Per scored family: the column groups its reconstruction hides (so they are *not* evidence), and the
#: words for the groups that are.
_FAMILY_GROUP = {"fare": "money", "distance": "distance", "duration": "duration", "speed": "duration", "tolls": "money"}
_EVIDENCE_WORDS = {
    "trip_distance": "distance",
    "duration_minutes": "duration",
    "fare_amount": "fare",
    "pickup_location_id": "zones",
    "pickup_hour": "time",
    "rate_code_id": "rate code",
}
_GROUP_OF_COLUMN = {
    "trip_distance": "distance",
    "duration_minutes": "duration",
    "fare_amount": "money",
    "pickup_location_id": "place",
    "pickup_hour": "time",
    "rate_code_id": "meta",
}


def unslog(y: float) -> float:
    """Inverse of the graph's signed log1p (dollar, unit and distance features)."""
    return math.copysign(math.expm1(abs(y)), y)


def value_of(row: np.ndarray, col: str) -> float | None:
    v = float(row[COLUMN_INDEX[col]])
    return v if math.isfinite(v) else None


def money(v: float) -> str:
    return f"-${-v:,.2f}" if v < 0 else f"${v:,.2f}"


def trip_context(row: np.ndarray) -> str:
    parts = []
    dist, dur = value_of(row, "trip_distance"), value_of(row, "duration_minutes")
    if dist is not None:
        parts.append(f"{dist:.1f} mi")
    if dur is not None:
        parts.append(f"{dur:.0f} min")
    return " in ".join(parts) if parts else "this trip"


def zone_pair(row: np.ndarray) -> str:
    pu, do = value_of(row, "pickup_location_id"), value_of(row, "dropoff_location_id")
    return f"zones {pu:.0f} -> {do:.0f}" if pu is not None and do is not None else "zones unknown"


def pickup_time(row: np.ndarray) -> str | None:
    hour, wd = value_of(row, "pickup_hour"), value_of(row, "pickup_weekday")
    if hour is None:
        return None
    text = f"{int(hour) % 24:02d}:{round((hour % 1) * 60) % 60:02d}"
    return f"{text} {_WEEKDAYS[int(wd) % 7]}" if wd is not None else text


def fields_seen(row: np.ndarray, family: str) -> str:
    """The present fields that the family's reconstruction saw: 'distance, fare, zones and time'."""
    hidden = _FAMILY_GROUP.get(family)
    words = [
        word
        for col, word in _EVIDENCE_WORDS.items()
        if value_of(row, col) is not None
        and _GROUP_OF_COLUMN[col] != hidden
        and not (family == "speed" and col == "trip_distance")
    ]
    if not words:
        return "no other fields"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


@dataclass(frozen=True)
class Priced:
    """The tariff period a row is judged by, and how to name it in a sentence."""

    period: tariff.Period
    label: str


_TARIFF_CACHE: dict[str, tariff.Tariff | None] = {}


def tariff_of(meta: ModelMeta) -> tariff.Tariff | None:
    key = meta.model_version
    if key not in _TARIFF_CACHE:
        doc = meta.raw.get("tariff")
        try:
            _TARIFF_CACHE[key] = tariff.parse(doc) if isinstance(doc, dict) else None
        except tariff.TariffError:
            _TARIFF_CACHE[key] = None
    return _TARIFF_CACHE[key]


_PASSES_CACHE: dict[str, CongestionPasses | None] = {}


def congestion_passes_of(meta: ModelMeta) -> CongestionPasses | None:
    """The zone pairs the model lets pass through the congestion zone; None for metadata without them."""
    key = meta.model_version
    if key not in _PASSES_CACHE:
        doc = meta.raw.get(META_KEY)
        try:
            _PASSES_CACHE[key] = CongestionPasses.from_doc(doc) if doc is not None else None
        except PassesError:
            _PASSES_CACHE[key] = None
    return _PASSES_CACHE[key]


def priced_by(row: np.ndarray, t: tariff.Tariff) -> Priced:
    day = value_of(row, "pickup_day")
    if day is None:
        period = t.current()
        return Priced(period, f"the current tariff (since {period.effective_from})")
    on = tariff.EPOCH + timedelta(days=int(day))
    period = t.period_on(on)
    return Priced(period, f"the tariff of {on} (in force since {period.effective_from})")


def ratio_words(actual: float, usual: float) -> str:
    if usual <= 0:
        return "far from"
    r = actual / usual
    if r >= 1.95:
        return f"{r:.0f}x" if r >= 10 else f"{r:.1f}x"
    if r <= 0.5:
        return f"{r:.2f}x"
    return "unlike"


def metered(row: np.ndarray) -> bool:
    rate = value_of(row, "rate_code_id")
    return rate is None or round(rate) == 1
