"""Reasons about what was charged: the total against its parts, each surcharge and fee against the tariff
rule of the trip's date, the rate code, the tip and the tolls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from taxifraud import tariff
from taxifraud.congestion_passes import CongestionPasses
from taxifraud.reason_row import fields_seen, money, pickup_time, priced_by, trip_context, unslog, value_of, zone_pair
from taxifraud.wire import TARIFF_BOUNDED_CHARGES

_PART_COLUMNS = ("fare_amount", "extra", "mta_tax", "tip_amount", "tolls_amount", "improvement_surcharge")


def _zone(row: np.ndarray, column: str) -> int:
    """A location id as the graph reads it: rounded, 0 when missing or outside TLC's 1..265."""
    value = value_of(row, column)
    zone = round(value) if value is not None else 0
    return zone if 1 <= zone <= tariff.MAX_LOCATION_ID else 0


def _unknown_place(zone: int) -> bool:
    """A zone that names no known place: missing or invalid (0), unknown or outside the city."""
    return zone == 0 or zone in tariff.UNKNOWN_ZONES


def _may_owe_airport_fee(row: np.ndarray, t: tariff.Tariff) -> bool:
    """Whether the trip's pickup may be one the airport fee is billed at: an airport, or a place not known."""
    pickup = _zone(row, "pickup_location_id")
    return _unknown_place(pickup) or pickup in t.zones["airports"]


def _hidden_most(row: np.ndarray, t: tariff.Tariff | None) -> tuple[float, list[str]]:
    """The most the tariff could have billed in the parts this record lacks, and their names (the airport fee
    only where the pickup may owe it)."""
    missing = [col for col in TARIFF_BOUNDED_CHARGES if value_of(row, col) is None]
    if t is None:
        return 0.0, missing
    if "airport_fee" in missing and not _may_owe_airport_fee(row, t):
        missing.remove("airport_fee")
    if not missing:
        return 0.0, missing
    a = priced_by(row, t).period.amounts
    most = {
        "extra": a["night_surcharge"] + a["rush_hour_surcharge"] + a["jfk_rush_hour_surcharge"] + a["lga_surcharge"],
        "mta_tax": a["mta_tax"],
        "improvement_surcharge": a["improvement_surcharge"],
        "congestion_surcharge": a["congestion_surcharge"],
        "airport_fee": a["airport_fee"],
        "cbd_congestion_fee": a["cbd_congestion_fee"],
    }
    return float(sum(most[col] for col in missing)), missing


@dataclass(frozen=True)
class TotalGap:
    """What no vendor convention and no missing part explains of a total: positive above its parts, negative
    below, 0 when some convention fits; ``band`` is the most the ``missing`` parts could have held."""

    gap: float
    band: float
    missing: list[str]


def total_gap(row: np.ndarray, t: tariff.Tariff | None) -> TotalGap | None:
    """The total against its parts under the conventions the graph allows (vendors leaving the congestion
    surcharge, airport fee or relief-zone fee out of the total, or counting it once), any part the record lacks
    taken anywhere from $0 to the most the tariff could have billed for it; None without fare, tip or tolls."""
    if any(value_of(row, n) is None for n in ("fare_amount", "tip_amount", "tolls_amount")):
        return None
    total = value_of(row, "total_amount") or 0.0
    cong = value_of(row, "congestion_surcharge") or 0.0
    fee = value_of(row, "airport_fee") or 0.0
    cbd = value_of(row, "cbd_congestion_fee") or 0.0
    parts = float(sum(value_of(row, c) or 0.0 for c in _PART_COLUMNS)) + cong + fee + cbd
    band, missing = _hidden_most(row, t)
    gaps = []
    for shift in (0.0, cong, fee, cong + fee, cbd, cbd + cong, cbd + fee, cbd + cong + fee):
        gap = total - parts + shift
        gaps.append(gap - band if gap > band else 0.0 if gap > 0 else gap)
    return TotalGap(min(gaps, key=abs), band, missing)


def total_reason(row: np.ndarray, t: tariff.Tariff | None) -> str:
    total = value_of(row, "total_amount") or 0.0
    found = total_gap(row, t)
    if found is None:
        return f"total {money(total)} does not match its parts"
    gap = found.gap
    if gap >= 0:
        if found.missing:
            words = ", ".join(m.replace("_", " ") for m in found.missing)
            label = priced_by(row, t).label if t is not None else "the tariff"
            return (
                f"total exceeds its parts by {money(gap)} even with the missing {words} at the most "
                f"{label} bills ({money(found.band)})"
            )
        return f"total exceeds its parts by {money(gap)} (itemised charges {money(total - gap)})"
    return f"total is {money(-gap)} less than its parts (itemised charges {money(total - gap)})"


def rate_reason(row: np.ndarray, worst: str, t: tariff.Tariff | None) -> str:
    label = priced_by(row, t).label if t is not None else "the tariff"
    if worst == "out_of_city_rate_in_city":
        return (
            f"rate code 4 (out-of-city rate, double the meter) on a trip that starts and ends in New York City "
            f"({zone_pair(row)}); under {label} that rate applies only to trips leaving the city"
        )
    return f"rate code 2 (JFK flat fare) on a trip that neither starts nor ends at JFK ({zone_pair(row)}; {label})"


def tip_reason(row: np.ndarray, exp: dict[str, float]) -> str:
    tip = value_of(row, "tip_amount") or 0.0
    fare = value_of(row, "fare_amount")
    pay = value_of(row, "payment_type")
    if pay == 2 and tip > 0:
        return f"tip {money(tip)} recorded on a cash payment"
    if fare is not None and fare > 0:
        return f"tip {money(tip)} is {100.0 * tip / fare:.0f}% of the {money(fare)} fare"
    return f"tip {money(tip)} is unusual for {trip_context(row)}"


def tolls_reason(row: np.ndarray, exp: dict[str, float], worst: str, t: tariff.Tariff | None) -> str:
    tolls = value_of(row, "tolls_amount") or 0.0
    if worst == "tolls_unexpected":
        label = priced_by(row, t).label if t is not None else "the tariff"
        return (
            f"tolls {money(tolls)} on a route that crosses no tolled bridge or tunnel ({zone_pair(row)}: trips "
            f"between these zones almost never pay tolls; tolls are billed as paid, {label})"
        )
    usual = max(unslog(exp.get("tolls", 0.0)), 0.0)
    return f"tolls {money(tolls)} are unusual for trips with this {fields_seen(row, 'tolls')} (usual ~{money(usual)})"


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
    value = value_of(row, col) or 0.0
    priced = priced_by(row, t)
    amount = priced.period.amounts[key]
    if amount <= 0:
        first = _first_in_force(t, key)
        since = (
            f"; it starts on {first.effective_from}"
            if first is not None and first.effective_from > priced.period.effective_from
            else ""
        )
        return f"{words} {money(value)} is not billed under {priced.label}{since}"
    since_day = t.since(key, priced.period.effective_from)
    return (
        f"{words} {money(value)} is not an amount the tariff bills: {money(amount)} "
        f"(TLC rule in force since {since_day}, {priced.label})"
    )


def _ends_in(row: np.ndarray, t: tariff.Tariff, zone_set: str) -> bool:
    ids = t.zones[zone_set]
    return _zone(row, "pickup_location_id") in ids or _zone(row, "dropoff_location_id") in ids


#: A rush-hour pickup outside the night window may be billed the smaller night amount: the graph splits the rush
#: surcharge into that amount and the rest, so either part, or both, is legal there.
_RUSH_AT_NIGHT_AMOUNT = "rush hour at the night amount"
_RUSH_REST = "rush hour less the night amount"


def _surcharge_groups(
    row: np.ndarray, t: tariff.Tariff, hour: float, passes: CongestionPasses | None
) -> list[list[tuple[str, float]]]:
    """The six parts `extra` may be made of on this trip, in the graph's order (night, rush hour, LaGuardia,
    congestion surcharge, airport fee folded, relief zone fee folded), each a list of named amounts ($0 where a
    part does not apply).

    The time surcharges are those whose window the ride touched (at the pickup, give or take the meter's clock
    slack, or at the dropoff). A vendor that folds them (any but vendor 2) adds the per-trip charges billed after
    the meter, each on its own, and the relief zone fee where it may apply and its column does not bill it. Any
    vendor may bill the congestion surcharge in `extra` where it may apply: an end in the zone, an unknown end,
    or a zone pair whose trips pass through it (``passes``, learned by the model)."""
    a = priced_by(row, t).period.amounts
    weekday = value_of(row, "pickup_weekday")
    minutes = min(max(value_of(row, "duration_minutes") or 0.0, 0.0), 240.0)
    end_hour = (hour + minutes / 60.0) % 24.0
    night = tariff.in_window(hour, tariff.NIGHT_HOURS, tariff.CLOCK_SLACK_H) or tariff.in_window(
        end_hour, tariff.NIGHT_HOURS
    )
    rush = (
        weekday is not None
        and weekday < 5
        and (
            tariff.in_window(hour, tariff.RUSH_HOURS, tariff.CLOCK_SLACK_H)
            or tariff.in_window(end_hour, tariff.RUSH_HOURS)
        )
    )
    jfk = value_of(row, "rate_code_id") == 2
    night_part: list[tuple[str, float]] = []
    rush_part: list[tuple[str, float]] = []
    if jfk and rush:
        rush_part.append(("JFK rush hour", a["jfk_rush_hour_surcharge"]))
    elif rush and not night:
        night_part.append((_RUSH_AT_NIGHT_AMOUNT, a["night_surcharge"]))
        rush_part.append((_RUSH_REST, max(a["rush_hour_surcharge"] - a["night_surcharge"], 0.0)))
    else:
        if night and not jfk:
            night_part.append(("night", a["night_surcharge"]))
        if rush:
            rush_part.append(("rush hour", a["rush_hour_surcharge"]))
    lga_part = [("LaGuardia", a["lga_surcharge"])] if _ends_in(row, t, "laguardia") else []
    pickup, dropoff = _zone(row, "pickup_location_id"), _zone(row, "dropoff_location_id")
    vendor = value_of(row, "vendor_id")
    folds = vendor is None or round(vendor) != 2
    cong = value_of(row, "congestion_surcharge") or 0.0
    cong_charged = cong >= 0.5 * max(a["congestion_surcharge"], 0.01)
    cong_may_apply = a["congestion_surcharge"] > 0 and (
        _ends_in(row, t, "congestion_zone")
        or _unknown_place(pickup)
        or _unknown_place(dropoff)
        or (passes is not None and passes.passes(pickup, dropoff))
    )
    cong_part: list[tuple[str, float]] = []
    if folds and cong > 0:
        cong_part.append(("congestion surcharge folded in", cong))
    if not cong_charged and cong_may_apply:
        unitemised = a["congestion_surcharge"] if vendor is not None else a["for_hire_congestion_surcharge"]
        cong_part.append(("congestion surcharge billed in extra", unitemised))
    fee_part: list[tuple[str, float]] = []
    cbd_part: list[tuple[str, float]] = []
    if folds:
        fee, cbd = value_of(row, "airport_fee"), value_of(row, "cbd_congestion_fee") or 0.0
        if fee is None and _may_owe_airport_fee(row, t):
            fee = a["airport_fee"]
        if fee:
            fee_part.append(("airport fee folded in", fee))
        cbd_billed = cbd >= 0.5 * max(a["cbd_congestion_fee"], 0.01)
        if not cbd_billed and (_ends_in(row, t, "congestion_relief_zone") or cong_may_apply or cong_charged):
            cbd_part.append(("relief zone fee billed in extra", cbd + a["cbd_congestion_fee"]))
        elif cbd:
            cbd_part.append(("relief zone fee folded in", cbd))
    groups = [night_part, rush_part, lga_part, cong_part, fee_part, cbd_part]
    return [[(name, amount) for name, amount in group if amount > 0] for group in groups]


def _nearest_combination(extra: float, groups: list[list[tuple[str, float]]]) -> list[tuple[str, float]]:
    """The parts whose sum is nearest to ``extra``, first of equals in the graph's order of subsets (the
    first part is the highest bit), so the residual is the graph's, sign included."""
    sums = [sum(amount for _, amount in group) for group in groups]
    n = len(groups)
    best, best_diff = 0, math.inf
    for subset in range(2**n):
        total = sum(sums[k] for k in range(n) if subset >> (n - 1 - k) & 1)
        diff = abs(extra - total)
        if diff < best_diff - 1e-9:
            best, best_diff = subset, diff
    return [item for k in range(n) if best >> (n - 1 - k) & 1 for item in groups[k]]


def _named(parts: list[tuple[str, float]]) -> str:
    """Parts as text; the two halves of a rush-hour surcharge billed together read as the rush hour."""
    names = [name for name, _ in parts]
    if _RUSH_AT_NIGHT_AMOUNT in names and _RUSH_REST in names:
        merged = sum(amount for name, amount in parts if name in (_RUSH_AT_NIGHT_AMOUNT, _RUSH_REST))
        parts = [("rush hour", merged) if name == _RUSH_AT_NIGHT_AMOUNT else (name, amount) for name, amount in parts]
        parts = [(name, amount) for name, amount in parts if name != _RUSH_REST]
    return ", ".join(f"{name} {money(amount)}" for name, amount in parts)


def _extra_reason(row: np.ndarray, t: tariff.Tariff, passes: CongestionPasses | None) -> str:
    """`extra` against the nearest combination of the surcharges the tariff allows on this trip: the amount
    stated is what the graph judged (no combination explains it)."""
    extra = value_of(row, "extra") or 0.0
    priced = priced_by(row, t)
    a = priced.period.amounts
    when = pickup_time(row)
    hour = value_of(row, "pickup_hour")
    if when is None or hour is None:
        return (
            f"extra {money(extra)} is unusual for this trip (the tariff's time surcharges: night "
            f"{money(a['night_surcharge'])}, weekday rush hour {money(a['rush_hour_surcharge'])})"
        )
    groups = _surcharge_groups(row, t, hour, passes)
    allowed = [item for group in groups for item in group]
    chosen = _nearest_combination(extra, groups)
    nearest = sum(amount for _, amount in chosen)
    left_out = [item for item in allowed if item not in chosen]
    which = _named(chosen) if chosen else "none apply" if not allowed else "none"
    others = f"; no combination with {_named(left_out)} comes nearer" if left_out else ""
    if extra - nearest > 0.005:
        return (
            f"extra {money(extra)} is {money(extra - nearest)} more than the tariff's surcharges for a pickup "
            f"at {when} ({money(nearest)}: {which}{others}; {priced.label})"
        )
    if nearest - extra > 0.005:
        return (
            f"extra {money(extra)} is {money(nearest - extra)} less than the tariff's surcharges for a pickup "
            f"at {when} ({money(nearest)}: {which}{others}; {priced.label})"
        )
    return (
        f"extra {money(extra)} is unusual for a pickup at {when} (the tariff's surcharges: "
        f"{money(sum(amount for _, amount in allowed))}, {_named(allowed) if allowed else 'none apply'})"
    )


def _unexpected_reason(row: np.ndarray, worst: str, t: tariff.Tariff) -> str:
    if worst == "congestion_unexpected":
        value = value_of(row, "congestion_surcharge") or 0.0
        return (
            f"congestion surcharge {money(value)} on a trip that neither starts nor ends in Manhattan south of "
            f"96th Street ({zone_pair(row)}; the surcharge applies to trips that begin, end or pass through it)"
        )
    if worst == "airport_fee_unexpected":
        value = value_of(row, "airport_fee") or 0.0
        pu = value_of(row, "pickup_location_id")
        where = f"zone {pu:.0f}" if pu is not None else "zone unknown"
        return (
            f"airport fee {money(value)} on a pickup that was not at an airport ({where}; the fee is for "
            "airport pickups)"
        )
    value = value_of(row, "cbd_congestion_fee") or 0.0
    return (
        f"congestion relief zone fee {money(value)} on a trip that neither starts nor ends below 60th Street "
        f"and paid no congestion surcharge ({zone_pair(row)})"
    )


def surcharge_reason(
    row: np.ndarray,
    exp: dict[str, float],
    worst: str,
    t: tariff.Tariff | None,
    passes: CongestionPasses | None = None,
) -> str:
    if t is not None:
        if worst in _CHARGES:
            return _charge_vs_tariff(row, worst, t)
        if worst in ("extra_vs_tariff", "extra_units"):
            return _extra_reason(row, t, passes)
        if worst.endswith("_unexpected"):
            return _unexpected_reason(row, worst, t)
    return f"surcharge {worst.replace('_', ' ')} is unusual for this trip"
