"""Reasons about what was charged: the total against its parts, each surcharge and fee against the tariff
rule of the trip's date, the rate code, the tip and the tolls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from taxifraud import tariff
from taxifraud.reason_row import fields_seen, money, pickup_time, priced_by, trip_context, unslog, value_of, zone_pair
from taxifraud.wire import TARIFF_BOUNDED_CHARGES

_PART_COLUMNS = ("fare_amount", "extra", "mta_tax", "tip_amount", "tolls_amount", "improvement_surcharge")


def _zone(row: np.ndarray, column: str) -> int:
    """A location id as the graph reads it: rounded, 0 when missing or outside TLC's 1..265."""
    value = value_of(row, column)
    zone = round(value) if value is not None else 0
    return zone if 1 <= zone <= 265 else 0


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


def _surcharges_allowed(row: np.ndarray, t: tariff.Tariff, hour: float) -> list[tuple[str, float]]:
    """The charges the graph lets `extra` hold on this trip, named: the time surcharges whose window the ride
    touched (at the pickup, give or take the meter's clock slack, or at the dropoff), the LaGuardia surcharge,
    and, for a vendor that folds them (any but vendor 2), the per-trip charges it adds after the meter. The
    congestion surcharge any vendor may bill in `extra` is counted where the trip has an end in the zone or an
    unknown end (the graph also allows zone pairs whose trips often pass through it)."""
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
    parts: list[tuple[str, float]] = []
    if jfk and rush:
        parts.append(("JFK rush hour", a["jfk_rush_hour_surcharge"]))
    if not jfk and night:
        parts.append(("night", a["night_surcharge"]))
    if not jfk and rush:
        parts.append(("rush hour", a["rush_hour_surcharge"]))
    if _ends_in(row, t, "laguardia") and a["lga_surcharge"] > 0:
        parts.append(("LaGuardia", a["lga_surcharge"]))
    vendor = value_of(row, "vendor_id")
    folds = vendor is None or round(vendor) != 2
    cong = value_of(row, "congestion_surcharge") or 0.0
    cong_charged = cong >= 0.5 * max(a["congestion_surcharge"], 0.01)
    cong_may_apply = a["congestion_surcharge"] > 0 and (
        _ends_in(row, t, "congestion_zone")
        or _unknown_place(_zone(row, "pickup_location_id"))
        or _unknown_place(_zone(row, "dropoff_location_id"))
    )
    if folds and cong > 0:
        parts.append(("congestion surcharge folded in", cong))
    if not cong_charged and cong_may_apply:
        unitemised = a["congestion_surcharge"] if vendor is not None else a["for_hire_congestion_surcharge"]
        parts.append(("congestion surcharge billed in extra", unitemised))
    if folds:
        fee, cbd = value_of(row, "airport_fee"), value_of(row, "cbd_congestion_fee")
        if fee is None and _may_owe_airport_fee(row, t):
            fee = a["airport_fee"]
        if cbd is None and (_ends_in(row, t, "congestion_relief_zone") or cong_may_apply or cong_charged):
            cbd = a["cbd_congestion_fee"]
        if fee:
            parts.append(("airport fee folded in", fee))
        if cbd:
            parts.append(("relief zone fee folded in", cbd))
    return [(name, amount) for name, amount in parts if amount > 0]


def _extra_reason(row: np.ndarray, t: tariff.Tariff) -> str:
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
    parts = _surcharges_allowed(row, t, hour)
    allowed = sum(amount for _, amount in parts)
    which = ", ".join(f"{name} {money(amount)}" for name, amount in parts) if parts else "none apply"
    if extra > allowed:
        return (
            f"extra {money(extra)} is {money(extra - allowed)} more than the tariff's surcharges for a pickup "
            f"at {when} ({money(allowed)}: {which}; {priced.label})"
        )
    return (
        f"extra {money(extra)} is unusual for a pickup at {when} (the tariff's surcharges: {money(allowed)}, {which})"
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


def surcharge_reason(row: np.ndarray, exp: dict[str, float], worst: str, t: tariff.Tariff | None) -> str:
    if t is not None:
        if worst in _CHARGES:
            return _charge_vs_tariff(row, worst, t)
        if worst in ("extra_vs_tariff", "extra_units"):
            return _extra_reason(row, t)
        if worst.endswith("_unexpected"):
            return _unexpected_reason(row, worst, t)
    return f"surcharge {worst.replace('_', ' ')} is unusual for this trip"
