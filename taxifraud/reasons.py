"""Turn per-feature reconstruction errors into 1-3 sentences a fraud reviewer can act on.

Pure functions of the model outputs and the input rows: no I/O, no model, so the consumer, the
gateway's ``/score`` and the ``score`` CLI all say the same thing about the same transaction.

Several features describe one fact (fare, fare per mile and fare per minute all say "the fare is
wrong"), so errors are grouped into *families* and each family yields at most one reason, led by its
worst feature. Numbers in reasons come from the transaction itself and from ``feature_expected`` (what
the model reconstructed from the other fields), so "33x the usual" is the model's own expectation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from taxifraud.model_meta import ModelMeta
from taxifraud.wire import COLUMN_INDEX

#: feature name -> family label (also the metric label ``consumer_alerts_total{reason}``).
FEATURE_FAMILY: dict[str, str] = {
    "fare": "fare",
    "fare_per_mile": "fare",
    "fare_per_minute": "fare",
    "speed_mph": "speed",
    "distance": "distance",
    "distance_vs_route": "distance",
    "route_distance": "distance",
    "duration": "duration",
    "total": "total",
    "total_gap": "total",
    "tip": "tip",
    "tip_share": "tip",
    "tolls": "tolls",
    "extra": "surcharge",
    "mta_tax": "surcharge",
    "improvement_surcharge": "surcharge",
    "congestion_surcharge": "surcharge",
    "pickup_airport": "zone",
    "dropoff_airport": "zone",
    "pickup_manhattan": "zone",
    "dropoff_manhattan": "zone",
    "pickup_unknown_zone": "zone",
    "dropoff_unknown_zone": "zone",
    "same_zone": "zone",
    "hour_sin": "time",
    "hour_cos": "time",
    "weekday_sin": "time",
    "weekday_cos": "time",
}
FAMILIES = ("fare", "speed", "total", "tip", "tolls", "duration", "distance", "zone", "time", "surcharge", "other")

#: Reason texts start with one of these words; ``reason_family`` maps them back.
_PREFIX_FAMILY = (
    ("fare", "fare"),
    ("speed", "speed"),
    ("average speed", "speed"),
    ("total", "total"),
    ("tip", "tip"),
    ("tolls", "tolls"),
    ("duration", "duration"),
    ("distance", "distance"),
    ("zone", "zone"),
    ("pickup zone", "zone"),
    ("dropoff zone", "zone"),
    ("time", "time"),
    ("surcharge", "surcharge"),
)
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
IMPOSSIBLE_MPH = 80.0
SECONDARY_SHARE = 1.0 / 3.0  # a second or third reason needs at least this share of the strongest z


def reason_family(reason: str) -> str:
    """Short, low-cardinality label for a reason text (for metric labels): ``fare``, ``speed``, ..."""
    text = reason.strip().lower()
    best = ""
    family = "other"
    for prefix, fam in _PREFIX_FAMILY:
        if text.startswith(prefix) and len(prefix) > len(best):
            best, family = prefix, fam
    return family


def _unslog(y: float) -> float:
    """Inverse of the graph's signed log1p (dollar and distance features)."""
    return math.copysign(math.expm1(abs(y)), y)


def _val(row: np.ndarray, col: str) -> float | None:
    v = float(row[COLUMN_INDEX[col]])
    return v if math.isfinite(v) else None


def _money(v: float) -> str:
    return f"-${-v:,.2f}" if v < 0 else f"${v:,.2f}"


def _trip_context(row: np.ndarray) -> str:
    parts = []
    dist, dur = _val(row, "trip_distance"), _val(row, "duration_minutes")
    if dist is not None:
        parts.append(f"{dist:.1f} mi")
    if dur is not None:
        parts.append(f"{dur:.0f} min")
    return " in ".join(parts) if parts else "this trip"


def _ratio(actual: float, usual: float) -> str:
    if usual <= 0:
        return "far from"
    r = actual / usual
    if r >= 1.95:
        return f"{r:.0f}x" if r >= 10 else f"{r:.1f}x"
    if r <= 0.5:
        return f"{r:.2f}x"
    return "unlike"


def _amount_vs_usual(label: str, amount: float, usual_slog: float, row: np.ndarray) -> str:
    """'fare $400.00 is 58x the usual $6.94 for 1.0 mi in 8 min', or 'unusual' when no ratio reads well."""
    usual = max(_unslog(usual_slog), 0.01)
    ratio = _ratio(amount, usual)
    if ratio == "unlike":
        return f"{label} {_money(amount)} is unusual for {_trip_context(row)} (usual ~{_money(usual)})"
    return f"{label} {_money(amount)} is {ratio} the usual {_money(usual)} for {_trip_context(row)}"


def _fare_reason(row: np.ndarray, exp: dict[str, float]) -> str:
    return _amount_vs_usual("fare", _val(row, "fare_amount") or 0.0, exp["fare"], row)


def _speed_reason(row: np.ndarray, exp: dict[str, float]) -> str:
    dist, dur = _val(row, "trip_distance") or 0.0, _val(row, "duration_minutes") or 0.0
    if dur <= 0:
        return f"speed: {dist:.1f} mi in {dur:.1f} min is impossible"
    mph = max(dist, 0.0) / (dur / 60.0)
    if mph > IMPOSSIBLE_MPH:
        return f"speed {mph:.0f} mph is impossible ({dist:.1f} mi in {dur:.1f} min)"
    usual = math.expm1(exp["speed_mph"])
    return f"speed {mph:.1f} mph is unusual for this trip (usual ~{usual:.0f} mph)"


def _distance_reason(row: np.ndarray, exp: dict[str, float], worst: str) -> str:
    dist = _val(row, "trip_distance") or 0.0
    pu, do = _val(row, "pickup_location_id"), _val(row, "dropoff_location_id")
    where = f" between zones {pu:.0f} and {do:.0f}" if pu is not None and do is not None else ""
    if worst in ("route_distance", "distance_vs_route") and where:
        return f"distance {dist:.2f} mi is implausible for the route{where}"
    usual = max(_unslog(exp["distance"]), 0.0)
    fare = _val(row, "fare_amount")
    paid = f" for a {_money(fare)} fare" if fare is not None else ""
    return f"distance {dist:.2f} mi is implausible{paid}{where} (usual ~{usual:.1f} mi)"


def _duration_reason(row: np.ndarray, exp: dict[str, float]) -> str:
    dur = _val(row, "duration_minutes") or 0.0
    usual = max(_unslog(exp["duration"]), 0.0)
    dist = _val(row, "trip_distance")
    over = f" for {dist:.1f} mi" if dist is not None else ""
    return f"duration {dur:.1f} min is implausible{over} (usual ~{usual:.0f} min)"


def _parts_sum(row: np.ndarray) -> tuple[float, float] | None:
    names = ("fare_amount", "extra", "mta_tax", "tip_amount", "tolls_amount", "improvement_surcharge")
    values = [_val(row, n) for n in names]
    if any(v is None for v in values):
        return None
    base = float(sum(v for v in values if v is not None))
    return base, _val(row, "congestion_surcharge") or 0.0


def _total_reason(row: np.ndarray, exp: dict[str, float], worst: str) -> str:
    total = _val(row, "total_amount") or 0.0
    parts = _parts_sum(row)
    if worst == "total_gap" and parts is not None:
        base, cong = parts
        gap_with, gap_without = total - (base + cong), total - base
        gap = gap_with if abs(gap_with) <= abs(gap_without) else gap_without
        if gap >= 0:
            return f"total exceeds its parts by {_money(gap)}"
        return f"total is {_money(-gap)} less than its parts"
    return _amount_vs_usual("total", total, exp["total"], row)


def _tip_reason(row: np.ndarray, exp: dict[str, float]) -> str:
    tip = _val(row, "tip_amount") or 0.0
    fare = _val(row, "fare_amount")
    pay = _val(row, "payment_type")
    if pay == 2 and tip > 0:
        return f"tip {_money(tip)} recorded on a cash payment"
    if fare is not None and fare > 0:
        return f"tip {_money(tip)} is {100.0 * tip / fare:.0f}% of the {_money(fare)} fare"
    return f"tip {_money(tip)} is unusual (usual ~{_money(max(_unslog(exp['tip']), 0.0))})"


def _tolls_reason(row: np.ndarray, exp: dict[str, float]) -> str:
    tolls = _val(row, "tolls_amount") or 0.0
    usual = max(_unslog(exp["tolls"]), 0.0)
    return f"tolls {_money(tolls)} are unusual for {_trip_context(row)} (usual ~{_money(usual)})"


def _surcharge_reason(row: np.ndarray, exp: dict[str, float], worst: str) -> str:
    col = {"extra": "extra", "mta_tax": "mta_tax"}.get(worst, worst)
    value = _val(row, col) or 0.0
    usual = _unslog(exp[worst])
    return f"surcharge {worst.replace('_', ' ')} {_money(value)} is unusual (usual ~{_money(usual)})"


def _zone_reason(row: np.ndarray, worst: str) -> str:
    pu, do = _val(row, "pickup_location_id"), _val(row, "dropoff_location_id")
    pu_s = f"{pu:.0f}" if pu is not None else "?"
    do_s = f"{do:.0f}" if do is not None else "?"
    side = "pickup" if worst.startswith("pickup") else "dropoff" if worst.startswith("dropoff") else "route"
    return f"zone {side} ({pu_s} -> {do_s}) is unusual for {_trip_context(row)}"


def _time_reason(row: np.ndarray) -> str:
    hour, wd = _val(row, "pickup_hour"), _val(row, "pickup_weekday")
    when = []
    if hour is not None:
        when.append(f"{int(hour) % 24:02d}:{round((hour % 1) * 60) % 60:02d}")
    if wd is not None:
        when.append(_WEEKDAYS[int(wd) % 7])
    return f"time of pickup ({' '.join(when) or '?'}) is unusual for this trip"


def _other_reason(row: np.ndarray, worst: str, z: float) -> str:
    if worst.startswith("rate_"):
        rate = _val(row, "rate_code_id")
        return f"rate code {rate:.0f} is unusual for this trip" if rate is not None else "rate code is unusual"
    if worst.startswith("pay_"):
        pay = _val(row, "payment_type")
        return f"payment type {pay:.0f} is unusual for this trip" if pay is not None else "payment is unusual"
    if worst == "passengers":
        pc = _val(row, "passenger_count")
        return f"passenger count {pc:.0f} is unusual" if pc is not None else "passenger count is unusual"
    return f"{worst.replace('_', ' ')} is {z:.0f} spreads from what the other fields imply"


def _reason(family: str, worst: str, z: float, row: np.ndarray, exp: dict[str, float]) -> str:
    builders: dict[str, Callable[[], str]] = {
        "fare": lambda: _fare_reason(row, exp),
        "speed": lambda: _speed_reason(row, exp),
        "distance": lambda: _distance_reason(row, exp, worst),
        "duration": lambda: _duration_reason(row, exp),
        "total": lambda: _total_reason(row, exp, worst),
        "tip": lambda: _tip_reason(row, exp),
        "tolls": lambda: _tolls_reason(row, exp),
        "surcharge": lambda: _surcharge_reason(row, exp, worst),
        "zone": lambda: _zone_reason(row, worst),
        "time": lambda: _time_reason(row),
    }
    build = builders.get(family)
    try:
        return build() if build is not None else _other_reason(row, worst, z)
    except (KeyError, ValueError, OverflowError):
        return _other_reason(row, worst, z)


def _physically_impossible(row: np.ndarray, family: str) -> bool:
    """An impossible speed is the clearest thing a reviewer can be told, so it leads when present."""
    if family != "speed":
        return False
    dist, dur = _val(row, "trip_distance"), _val(row, "duration_minutes")
    if dist is None or dur is None or dist <= 0:
        return False
    return dur <= 0 or dist / (dur / 60.0) > IMPOSSIBLE_MPH


def explain_row(
    row: np.ndarray, errors: np.ndarray, expected: np.ndarray, meta: ModelMeta, max_reasons: int = 3
) -> list[str]:
    """Reasons for one transaction, worst family first; empty when no error reaches ``reason_min_z``."""
    names = meta.feature_names
    scored = set(meta.scored_features or names)
    exp = {name: float(expected[k]) for k, name in enumerate(names)}
    best: dict[str, tuple[float, str]] = {}
    context: set[str] = set()
    for k in np.argsort(-errors, kind="stable"):
        z = float(errors[k])
        if not math.isfinite(z):
            z = float("inf")
        if z <= meta.reason_min_z:
            break
        name = names[k]
        family = FEATURE_FAMILY.get(name, "other")
        if family not in best:
            best[family] = (z, name)
            if name not in scored:
                context.add(family)
    # Impossible physics first, then what the score is made of, then context (rate code, zone, time).
    ranked = sorted(
        best.items(),
        key=lambda item: (not _physically_impossible(row, item[0]), item[0] in context, -item[1][0]),
    )
    # Secondary reasons must be comparable in strength to the strongest one: a $517 total makes the
    # distance look short too, and that consequence is not a second finding.
    strongest = max((z for z, _ in best.values()), default=0.0)
    ranked = [item for i, item in enumerate(ranked) if i == 0 or item[1][0] >= SECONDARY_SHARE * strongest]
    ranked = ranked[:max_reasons]
    return [_reason(family, worst, z, row, exp) for family, (z, worst) in ranked]


def explain_batch(
    rows: np.ndarray,
    feature_errors: np.ndarray,
    feature_expected: np.ndarray,
    meta: ModelMeta,
    max_reasons: int = 3,
) -> list[list[str]]:
    """0-``max_reasons`` readable reasons per row ([B,17] inputs, [B,K] model outputs)."""
    if len(rows) != len(feature_errors) or len(rows) != len(feature_expected):
        raise ValueError("rows, feature_errors and feature_expected must have the same batch size")
    if feature_errors.shape[1] != len(meta.feature_names):
        raise ValueError(f"feature_errors has {feature_errors.shape[1]} columns, model has {len(meta.feature_names)}")
    return [explain_row(rows[i], feature_errors[i], feature_expected[i], meta, max_reasons) for i in range(len(rows))]
