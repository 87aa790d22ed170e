"""Turn per-feature reconstruction errors into 1-3 sentences a fraud reviewer can act on.

Pure functions of the model outputs, the input rows and the model's metadata (which carries the dated
tariff): no I/O, no model, so the consumer, the gateway's ``/score`` and the ``score`` CLI all say the
same thing about the same transaction.

Three rules keep a reason honest:

- **It names what it compares.** A charge is compared with the tariff rule it breaks, quoting the rule's
  amount and the date it took effect; a fare with the most the meter can charge for the distance and
  time; a value the network reconstructed is quoted as "usual for trips with this <evidence>", listing
  the fields that reconstruction was conditioned on.
- **It never shows a "usual" value that is not usual.** A reconstructed value is quoted only when it is
  physically plausible (a duration that implies a speed a taxi can drive, a fare at least the meter's
  initial charge); otherwise the reason says what is unusual and leaves the number out.
- **It never contradicts the one before.** Fare, distance, duration and speed describe one relation
  (the meter turns distance and time into the fare), so they yield one reason between them, the
  strongest; "the fare is high for 11 minutes" and "11 minutes is short for this fare" are the same
  finding told twice, in opposite directions.

Several features describe one fact (fare units, units per mile and per minute all say "the fare is
wrong"), so errors are grouped into *families* and each family yields at most one reason, led by its
worst feature.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from taxifraud import tariff
from taxifraud.model_meta import ModelMeta
from taxifraud.wire import COLUMN_INDEX

#: feature name -> family label (also the metric label ``consumer_alerts_total{reason}``).
FEATURE_FAMILY: dict[str, str] = {
    "fare_units": "fare",
    "units_per_mile": "fare",
    "units_per_minute": "fare",
    "fare_above_meter": "fare",
    "fare_beyond_meter": "fare",
    "speed_mph": "speed",
    "speed_over_limit": "speed",
    "distance": "distance",
    "distance_vs_route": "distance",
    "route_distance": "distance",
    "distance_beyond_time": "distance",
    "fare_without_distance": "distance",
    "duration": "duration",
    "duration_vs_route": "duration",
    "total_gap": "total",
    "tip_units": "tip",
    "tip_share": "tip",
    "tip_beyond_fare": "tip",
    "tolls": "tolls",
    "tolls_unexpected": "tolls",
    "route_excess": "route",
    "jfk_rate_off_route": "rate",
    "out_of_city_rate_in_city": "rate",
    "extra_units": "surcharge",
    "extra_vs_tariff": "surcharge",
    "mta_tax_vs_tariff": "surcharge",
    "improvement_vs_tariff": "surcharge",
    "congestion_vs_tariff": "surcharge",
    "airport_fee_vs_tariff": "surcharge",
    "cbd_fee_vs_tariff": "surcharge",
    "congestion_unexpected": "surcharge",
    "airport_fee_unexpected": "surcharge",
    "cbd_fee_unexpected": "surcharge",
    "pickup_airport": "zone",
    "dropoff_airport": "zone",
    "pickup_manhattan": "zone",
    "dropoff_manhattan": "zone",
    "pickup_congestion_zone": "zone",
    "dropoff_congestion_zone": "zone",
    "pickup_relief_zone": "zone",
    "dropoff_relief_zone": "zone",
    "pickup_unknown_zone": "zone",
    "dropoff_unknown_zone": "zone",
    "same_zone": "zone",
    "route_duration": "zone",
    "hour_sin": "time",
    "hour_cos": "time",
    "weekday_sin": "time",
    "weekday_cos": "time",
    "night_hours": "time",
    "rush_hours": "time",
}
FAMILIES = (
    "fare",
    "speed",
    "total",
    "tip",
    "tolls",
    "duration",
    "distance",
    "route",
    "rate",
    "zone",
    "time",
    "surcharge",
    "other",
)
#: The families that describe the meter's one relation between fare, distance and time: one reason at most.
METER_FAMILIES = frozenset({"fare", "speed", "distance", "duration"})

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: Average speed above which a trip's distance or duration cannot be what was recorded (no NYC taxi averages
#: it over a trip); the feature graph's ``speed_over_limit`` rule check uses the same constant.
IMPOSSIBLE_MPH = 80.0
#: A reconstructed speed outside this range is not quoted as "usual" (NYC taxis: walking pace to highway).
PLAUSIBLE_MPH = (1.0, 60.0)
SECONDARY_SHARE = 1.0 / 3.0  # a second or third reason needs at least this share of the strongest z
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


@dataclass(frozen=True)
class Reason:
    """One finding about a transaction: its family (one of ``FAMILIES``, a metric label), the sentence a
    reviewer reads, and the numbers behind it (the feature, how rare its error is, the fields it read), so
    that clients count and filter by family without parsing words."""

    family: str
    text: str
    evidence: dict[str, float | str]

    def as_dict(self) -> dict[str, object]:
        return {"family": self.family, "text": self.text, "evidence": dict(self.evidence)}


def _unslog(y: float) -> float:
    """Inverse of the graph's signed log1p (dollar, unit and distance features)."""
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


def _zones(row: np.ndarray) -> str:
    pu, do = _val(row, "pickup_location_id"), _val(row, "dropoff_location_id")
    return f"zones {pu:.0f} -> {do:.0f}" if pu is not None and do is not None else "zones unknown"


def _when(row: np.ndarray) -> str | None:
    hour, wd = _val(row, "pickup_hour"), _val(row, "pickup_weekday")
    if hour is None:
        return None
    text = f"{int(hour) % 24:02d}:{round((hour % 1) * 60) % 60:02d}"
    return f"{text} {_WEEKDAYS[int(wd) % 7]}" if wd is not None else text


def _evidence(row: np.ndarray, family: str) -> str:
    """The present fields that the family's reconstruction saw: 'distance, fare, zones and time'."""
    hidden = _FAMILY_GROUP.get(family)
    words = [
        word
        for col, word in _EVIDENCE_WORDS.items()
        if _val(row, col) is not None
        and _GROUP_OF_COLUMN[col] != hidden
        and not (family == "speed" and col == "trip_distance")
    ]
    if not words:
        return "no other fields"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


@dataclass(frozen=True)
class _Priced:
    """The tariff period a row is judged by, and how to name it in a sentence."""

    period: tariff.Period
    label: str


_TARIFF_CACHE: dict[str, tariff.Tariff | None] = {}


def _tariff_of(meta: ModelMeta) -> tariff.Tariff | None:
    key = meta.model_version
    if key not in _TARIFF_CACHE:
        doc = meta.raw.get("tariff")
        try:
            _TARIFF_CACHE[key] = tariff.parse(doc) if isinstance(doc, dict) else None
        except tariff.TariffError:
            _TARIFF_CACHE[key] = None
    return _TARIFF_CACHE[key]


def _priced(row: np.ndarray, t: tariff.Tariff) -> _Priced:
    day = _val(row, "pickup_day")
    if day is None:
        period = t.current()
        return _Priced(period, f"the current tariff (since {period.effective_from})")
    on = tariff.EPOCH + timedelta(days=int(day))
    period = t.period_on(on)
    return _Priced(period, f"the tariff of {on} (in force since {period.effective_from})")


def _ratio(actual: float, usual: float) -> str:
    if usual <= 0:
        return "far from"
    r = actual / usual
    if r >= 1.95:
        return f"{r:.0f}x" if r >= 10 else f"{r:.1f}x"
    if r <= 0.5:
        return f"{r:.2f}x"
    return "unlike"


def _metered(row: np.ndarray) -> bool:
    rate = _val(row, "rate_code_id")
    return rate is None or round(rate) == 1


def _fare_reason(row: np.ndarray, exp: dict[str, float], t: tariff.Tariff | None) -> str:
    fare = _val(row, "fare_amount") or 0.0
    dist, dur = _val(row, "trip_distance"), _val(row, "duration_minutes")
    if t is None:
        return f"fare {_money(fare)} is unusual for {_trip_context(row)}"
    priced = _priced(row, t)
    a = priced.period.amounts
    initial, unit = a["initial_charge"], a["unit_charge"]
    if dist is not None and dur is not None and _metered(row):
        most = initial + unit * (5.0 * max(dist, 0.0) + max(dur, 0.0))
        if fare > most + METER_SLACK:
            return (
                f"fare {_money(fare)} is above the most the meter can charge for {_trip_context(row)} under "
                f"{priced.label}: {_money(most)} ({_money(initial)} + {_money(unit)} per 1/5 mile and per minute)"
            )
    if "fare_units" in exp:
        usual = initial + unit * _unslog(exp["fare_units"])
        if usual >= initial:
            ratio = _ratio(fare, usual)
            evidence = _evidence(row, "fare")
            if ratio != "unlike":
                return (
                    f"fare {_money(fare)} is {ratio} the usual {_money(usual)} for trips with this {evidence} "
                    f"under {priced.label}"
                )
            return f"fare {_money(fare)} is unusual for trips with this {evidence} (usual ~{_money(usual)})"
    return f"fare {_money(fare)} is unusual for {_trip_context(row)} under {priced.label}"


def _speed_reason(row: np.ndarray, exp: dict[str, float]) -> str:
    dist, dur = _val(row, "trip_distance") or 0.0, _val(row, "duration_minutes") or 0.0
    if dur <= 0:
        return f"speed: {dist:.1f} mi in {dur:.1f} min is impossible"
    mph = max(dist, 0.0) / (dur / 60.0)
    if mph > IMPOSSIBLE_MPH:
        return f"speed {mph:.0f} mph is impossible ({dist:.1f} mi in {dur:.1f} min)"
    usual = math.expm1(exp.get("speed_mph", float("nan")))
    if PLAUSIBLE_MPH[0] <= usual <= PLAUSIBLE_MPH[1]:
        return f"speed {mph:.1f} mph is unusual for trips with this {_evidence(row, 'speed')} (usual ~{usual:.0f} mph)"
    return f"speed {mph:.1f} mph is unusual for {_trip_context(row)}"


def _plausible_minutes(minutes: float, dist: float | None) -> bool:
    if minutes < 0.5:
        return False
    if dist is None or dist <= 0:
        return True
    mph = dist / (minutes / 60.0)
    return PLAUSIBLE_MPH[0] <= mph <= PLAUSIBLE_MPH[1]


def _distance_reason(row: np.ndarray, exp: dict[str, float], worst: str) -> str:
    dist = _val(row, "trip_distance") or 0.0
    dur = _val(row, "duration_minutes")
    has_zones = _val(row, "pickup_location_id") is not None and _val(row, "dropoff_location_id") is not None
    if worst == "fare_without_distance":
        fare = _val(row, "fare_amount") or 0.0
        return f"distance {dist:.2f} mi cannot have billed a fare of {_money(fare)} on the meter"
    if worst == "distance_beyond_time" and has_zones:
        usual_mi = math.expm1(exp.get("route_distance", float("nan")))
        if math.isfinite(usual_mi) and usual_mi > 0.05 and dur is not None:
            return (
                f"distance {dist:.1f} mi is {dist / usual_mi:.1f}x the usual ~{usual_mi:.1f} mi between {_zones(row)}, "
                f"in {dur:.0f} min: miles the time taken does not account for"
            )
        return f"distance {dist:.1f} mi is far more than the time taken allows between {_zones(row)}"
    if worst in ("route_distance", "distance_vs_route") and has_zones:
        return f"distance {dist:.2f} mi is implausible for the route ({_zones(row)})"
    usual = max(_unslog(exp.get("distance", float("nan"))), 0.0) if "distance" in exp else float("nan")
    evidence = _evidence(row, "distance")
    if math.isfinite(usual) and usual > 0.05 and (dur is None or _plausible_minutes(dur, usual)):
        return f"distance {dist:.2f} mi is implausible for trips with this {evidence} (usual ~{usual:.1f} mi)"
    return f"distance {dist:.2f} mi is implausible for trips with this {evidence}"


def _duration_reason(row: np.ndarray, exp: dict[str, float], worst: str) -> str:
    dur = _val(row, "duration_minutes") or 0.0
    dist = _val(row, "trip_distance")
    key = "duration"
    usual = max(_unslog(exp[key]), 0.0) if key in exp else float("nan")
    evidence = _evidence(row, "duration")
    if worst == "duration_vs_route" and _val(row, "pickup_location_id") is not None:
        evidence = f"{evidence} ({_zones(row)})"
    if math.isfinite(usual) and _plausible_minutes(usual, dist):
        return f"duration {dur:.1f} min is implausible for trips with this {evidence} (usual ~{usual:.0f} min)"
    return f"duration {dur:.1f} min is implausible for trips with this {evidence}"


_PART_COLUMNS = ("fare_amount", "extra", "mta_tax", "tip_amount", "tolls_amount", "improvement_surcharge")


#: Parts the tariff bounds: a record lacking one is judged with it anywhere from $0 to the tariff's amount.
_BOUNDED_PARTS = (
    "extra",
    "mta_tax",
    "improvement_surcharge",
    "congestion_surcharge",
    "airport_fee",
    "cbd_congestion_fee",
)


def _hidden_most(row: np.ndarray, t: tariff.Tariff | None) -> tuple[float, list[str]]:
    """The most the tariff could have billed in the parts this record lacks, and their names."""
    missing = [col for col in _BOUNDED_PARTS if _val(row, col) is None]
    if t is None or not missing:
        return 0.0, missing
    a = _priced(row, t).period.amounts
    most = {
        "extra": a["night_surcharge"] + a["rush_hour_surcharge"] + a["jfk_rush_hour_surcharge"] + a["lga_surcharge"],
        "mta_tax": a["mta_tax"],
        "improvement_surcharge": a["improvement_surcharge"],
        "congestion_surcharge": a["congestion_surcharge"],
        "airport_fee": a["airport_fee"],
        "cbd_congestion_fee": a["cbd_congestion_fee"],
    }
    return float(sum(most[col] for col in missing)), missing


def _total_reason(row: np.ndarray, t: tariff.Tariff | None) -> str:
    total = _val(row, "total_amount") or 0.0
    needed = [_val(row, n) for n in ("fare_amount", "tip_amount", "tolls_amount")]
    if any(v is None for v in needed):
        return f"total {_money(total)} does not match its parts"
    cong = _val(row, "congestion_surcharge") or 0.0
    fee = _val(row, "airport_fee") or 0.0
    parts = (
        float(sum(_val(row, c) or 0.0 for c in _PART_COLUMNS)) + cong + fee + (_val(row, "cbd_congestion_fee") or 0.0)
    )
    # The same conventions the graph allows (vendors leaving the congestion surcharge / airport fee out), and
    # any part the record lacks taken at the most the tariff could have billed for it.
    band, missing = _hidden_most(row, t)
    gaps = []
    for shift in (0.0, cong, fee, cong + fee):
        gap = total - parts + shift
        gaps.append(gap - band if gap > band else 0.0 if gap > 0 else gap)
    gap = min(gaps, key=abs)
    if gap >= 0:
        if missing:
            words = ", ".join(m.replace("_", " ") for m in missing)
            label = _priced(row, t).label if t is not None else "the tariff"
            return (
                f"total exceeds its parts by {_money(gap)} even with the missing {words} at the most "
                f"{label} bills ({_money(band)})"
            )
        return f"total exceeds its parts by {_money(gap)} (itemised charges {_money(total - gap)})"
    return f"total is {_money(-gap)} less than its parts (itemised charges {_money(total - gap)})"


def _route_reason(row: np.ndarray, exp: dict[str, float]) -> str:
    dist, dur = _val(row, "trip_distance") or 0.0, _val(row, "duration_minutes") or 0.0
    usual_mi = math.expm1(exp.get("route_distance", float("nan")))
    usual_min = math.expm1(exp.get("route_duration", float("nan")))
    if math.isfinite(usual_mi) and math.isfinite(usual_min) and usual_mi > 0.05 and usual_min > 0.5:
        return (
            f"route {dist:.1f} mi in {dur:.0f} min is {dist / usual_mi:.1f}x the usual distance and "
            f"{dur / usual_min:.1f}x the usual time between {_zones(row)} (usual ~{usual_mi:.1f} mi, "
            f"~{usual_min:.0f} min): a long way round, billed by the meter"
        )
    return f"route {dist:.1f} mi in {dur:.0f} min is far longer than usual between {_zones(row)}"


def _rate_reason(row: np.ndarray, worst: str, t: tariff.Tariff | None) -> str:
    label = _priced(row, t).label if t is not None else "the tariff"
    if worst == "out_of_city_rate_in_city":
        return (
            f"rate code 4 (out-of-city rate, double the meter) on a trip that starts and ends in New York City "
            f"({_zones(row)}); under {label} that rate applies only to trips leaving the city"
        )
    return f"rate code 2 (JFK flat fare) on a trip that neither starts nor ends at JFK ({_zones(row)}; {label})"


def _tip_reason(row: np.ndarray, exp: dict[str, float]) -> str:
    tip = _val(row, "tip_amount") or 0.0
    fare = _val(row, "fare_amount")
    pay = _val(row, "payment_type")
    if pay == 2 and tip > 0:
        return f"tip {_money(tip)} recorded on a cash payment"
    if fare is not None and fare > 0:
        return f"tip {_money(tip)} is {100.0 * tip / fare:.0f}% of the {_money(fare)} fare"
    return f"tip {_money(tip)} is unusual for {_trip_context(row)}"


def _tolls_reason(row: np.ndarray, exp: dict[str, float], worst: str, t: tariff.Tariff | None) -> str:
    tolls = _val(row, "tolls_amount") or 0.0
    if worst == "tolls_unexpected":
        label = _priced(row, t).label if t is not None else "the tariff"
        return (
            f"tolls {_money(tolls)} on a route that crosses no tolled bridge or tunnel ({_zones(row)}: trips "
            f"between these zones almost never pay tolls; tolls are billed as paid, {label})"
        )
    usual = max(_unslog(exp.get("tolls", 0.0)), 0.0)
    return f"tolls {_money(tolls)} are unusual for trips with this {_evidence(row, 'tolls')} (usual ~{_money(usual)})"


#: surcharge feature -> (wire column, words, tariff amount key)
_CHARGES = {
    "mta_tax_vs_tariff": ("mta_tax", "MTA tax", "mta_tax"),
    "improvement_vs_tariff": ("improvement_surcharge", "improvement surcharge", "improvement_surcharge"),
    "congestion_vs_tariff": ("congestion_surcharge", "congestion surcharge", "congestion_surcharge"),
    "airport_fee_vs_tariff": ("airport_fee", "airport fee", "airport_fee"),
    "cbd_fee_vs_tariff": ("cbd_congestion_fee", "congestion relief zone fee", "cbd_congestion_fee"),
}


def _first_in_force(t: tariff.Tariff, key: str) -> tariff.Period | None:
    return next((p for p in t.periods if p.amounts[key] > 0), None)


def _charge_vs_tariff(row: np.ndarray, worst: str, t: tariff.Tariff) -> str:
    col, words, key = _CHARGES[worst]
    value = _val(row, col) or 0.0
    priced = _priced(row, t)
    amount = priced.period.amounts[key]
    if amount <= 0:
        first = _first_in_force(t, key)
        since = (
            f"; it starts on {first.effective_from}"
            if first is not None and first.effective_from > priced.period.effective_from
            else ""
        )
        return f"{words} {_money(value)} is not billed under {priced.label}{since}"
    since_day = t.since(key, priced.period.effective_from)
    return (
        f"{words} {_money(value)} is not an amount the tariff bills: {_money(amount)} "
        f"(TLC rule in force since {since_day}, {priced.label})"
    )


def _extra_reason(row: np.ndarray, t: tariff.Tariff) -> str:
    extra = _val(row, "extra") or 0.0
    priced = _priced(row, t)
    a = priced.period.amounts
    when = _when(row)
    if when is None:
        return (
            f"extra {_money(extra)} is unusual for this trip (the tariff's time surcharges: night "
            f"{_money(a['night_surcharge'])}, weekday rush hour {_money(a['rush_hour_surcharge'])})"
        )
    hour = _val(row, "pickup_hour") or 0.0
    weekday = _val(row, "pickup_weekday")
    # The windows as the graph reads them: meter clocks may run up to CLOCK_SLACK_H off.
    night = tariff.in_window(hour, tariff.NIGHT_HOURS, tariff.CLOCK_SLACK_H)
    rush = weekday is not None and weekday < 5 and tariff.in_window(hour, tariff.RUSH_HOURS, tariff.CLOCK_SLACK_H)
    jfk = _val(row, "rate_code_id") == 2
    lga_ids = t.zones["laguardia"]
    lga = _val(row, "pickup_location_id") in lga_ids or _val(row, "dropoff_location_id") in lga_ids
    parts = []
    allowed = 0.0
    if jfk and rush:
        parts.append(f"JFK rush hour {_money(a['jfk_rush_hour_surcharge'])}")
        allowed += a["jfk_rush_hour_surcharge"]
    if not jfk and night:
        parts.append(f"night {_money(a['night_surcharge'])}")
        allowed += a["night_surcharge"]
    if not jfk and rush:
        parts.append(f"rush hour {_money(a['rush_hour_surcharge'])}")
        allowed += a["rush_hour_surcharge"]
    if lga and a["lga_surcharge"] > 0:
        parts.append(f"LaGuardia {_money(a['lga_surcharge'])}")
        allowed += a["lga_surcharge"]
    which = ", ".join(parts) if parts else "none apply"
    if extra > allowed:
        return (
            f"extra {_money(extra)} is {_money(extra - allowed)} more than the tariff's surcharges for a pickup "
            f"at {when} ({_money(allowed)}: {which}; {priced.label})"
        )
    return (
        f"extra {_money(extra)} is unusual for a pickup at {when} (the tariff's surcharges: {_money(allowed)}, {which})"
    )


def _unexpected_reason(row: np.ndarray, worst: str, t: tariff.Tariff) -> str:
    if worst == "congestion_unexpected":
        value = _val(row, "congestion_surcharge") or 0.0
        return (
            f"congestion surcharge {_money(value)} on a trip that neither starts nor ends in Manhattan south of "
            f"96th Street ({_zones(row)}; the surcharge applies to trips that begin, end or pass through it)"
        )
    if worst == "airport_fee_unexpected":
        value = _val(row, "airport_fee") or 0.0
        pu = _val(row, "pickup_location_id")
        where = f"zone {pu:.0f}" if pu is not None else "zone unknown"
        return (
            f"airport fee {_money(value)} on a pickup that was not at an airport ({where}; the fee is for "
            "airport pickups)"
        )
    value = _val(row, "cbd_congestion_fee") or 0.0
    return (
        f"congestion relief zone fee {_money(value)} on a trip that neither starts nor ends below 60th Street "
        f"and paid no congestion surcharge ({_zones(row)})"
    )


def _surcharge_reason(row: np.ndarray, exp: dict[str, float], worst: str, t: tariff.Tariff | None) -> str:
    if t is not None:
        if worst in _CHARGES:
            return _charge_vs_tariff(row, worst, t)
        if worst in ("extra_vs_tariff", "extra_units"):
            return _extra_reason(row, t)
        if worst.endswith("_unexpected"):
            return _unexpected_reason(row, worst, t)
    return f"surcharge {worst.replace('_', ' ')} is unusual for this trip"


def _zone_reason(row: np.ndarray, worst: str) -> str:
    side = "pickup" if worst.startswith("pickup") else "dropoff" if worst.startswith("dropoff") else "route"
    return f"zone {side} ({_zones(row)}) is unusual for {_trip_context(row)}"


def _time_reason(row: np.ndarray) -> str:
    return f"time of pickup ({_when(row) or '?'}) is unusual for this trip"


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
    if worst.startswith("vendor_"):
        vendor = _val(row, "vendor_id")
        return f"vendor {vendor:.0f} is unusual for this trip" if vendor is not None else "vendor is unusual"
    return f"{worst.replace('_', ' ')} is {z:.0f} spreads from what the other fields imply"


def _reason(family: str, worst: str, z: float, row: np.ndarray, exp: dict[str, float], t: tariff.Tariff | None) -> str:
    builders: dict[str, Callable[[], str]] = {
        "fare": lambda: _fare_reason(row, exp, t),
        "speed": lambda: _speed_reason(row, exp),
        "distance": lambda: _distance_reason(row, exp, worst),
        "duration": lambda: _duration_reason(row, exp, worst),
        "total": lambda: _total_reason(row, t),
        "tip": lambda: _tip_reason(row, exp),
        "tolls": lambda: _tolls_reason(row, exp, worst, t),
        "route": lambda: _route_reason(row, exp),
        "rate": lambda: _rate_reason(row, worst, t),
        "surcharge": lambda: _surcharge_reason(row, exp, worst, t),
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


def _reason_evidence(
    row: np.ndarray, worst: str, z: float, exp: dict[str, float], meta: ModelMeta
) -> dict[str, float | str]:
    """The numbers behind a reason: its feature, how rare its error is, the fields the feature read."""
    evidence: dict[str, float | str] = {"feature": worst, "rarity": round(z, 3) if math.isfinite(z) else 1.0e4}
    info = meta.raw.get("feature_groups", {}).get(worst, {})
    for col in info.get("inputs", []):
        if col in COLUMN_INDEX:
            value = _val(row, col)
            if value is not None:
                evidence[col] = round(value, 4)
    if worst in exp and math.isfinite(exp[worst]):
        evidence["expected_feature"] = round(exp[worst], 4)
    return evidence


def explain_row(
    row: np.ndarray, errors: np.ndarray, expected: np.ndarray, meta: ModelMeta, max_reasons: int = 3
) -> list[Reason]:
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
    # One reason for the meter's relation between fare, distance and time (see the module docstring).
    meter_seen = False
    kept = []
    for item in ranked:
        if item[0] in METER_FAMILIES:
            if meter_seen:
                continue
            meter_seen = True
        kept.append(item)
    # Secondary reasons must be comparable in strength to the strongest one: a $517 total makes the
    # distance look short too, and that consequence is not a second finding.
    strongest = max((z for z, _ in best.values()), default=0.0)
    kept = [item for i, item in enumerate(kept) if i == 0 or item[1][0] >= SECONDARY_SHARE * strongest]
    kept = kept[:max_reasons]
    t = _tariff_of(meta)
    return [
        Reason(family, _reason(family, worst, z, row, exp, t), _reason_evidence(row, worst, z, exp, meta))
        for family, (z, worst) in kept
    ]


def explain_batch(
    rows: np.ndarray,
    feature_errors: np.ndarray,
    feature_expected: np.ndarray,
    meta: ModelMeta,
    max_reasons: int = 3,
) -> list[list[Reason]]:
    """0-``max_reasons`` reasons per row ([B, C] inputs, [B, K] model outputs)."""
    if len(rows) != len(feature_errors) or len(rows) != len(feature_expected):
        raise ValueError("rows, feature_errors and feature_expected must have the same batch size")
    if feature_errors.shape[1] != len(meta.feature_names):
        raise ValueError(f"feature_errors has {feature_errors.shape[1]} columns, model has {len(meta.feature_names)}")
    return [explain_row(rows[i], feature_errors[i], feature_expected[i], meta, max_reasons) for i in range(len(rows))]
