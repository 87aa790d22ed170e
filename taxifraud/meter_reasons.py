"""The one reason about the meter's relation between fare, distance and time, and about the route taken.

These sentences judge a trip by what the meter could have charged and by what trips between the same
zones usually look like, so they share the plausibility checks on reconstructed minutes and speeds.
"""

from __future__ import annotations

import math

import numpy as np

from taxifraud import tariff
from taxifraud.reason_row import (
    IMPOSSIBLE_MPH,
    METER_SLACK,
    PLAUSIBLE_MPH,
    fields_seen,
    metered,
    money,
    priced_by,
    ratio_words,
    trip_context,
    unslog,
    value_of,
    zone_pair,
)


def fare_reason(row: np.ndarray, exp: dict[str, float], t: tariff.Tariff | None) -> str:
    fare = value_of(row, "fare_amount") or 0.0
    dist, dur = value_of(row, "trip_distance"), value_of(row, "duration_minutes")
    if t is None:
        return f"fare {money(fare)} is unusual for {trip_context(row)}"
    priced = priced_by(row, t)
    a = priced.period.amounts
    initial, unit = a["initial_charge"], a["unit_charge"]
    if dist is not None and dur is not None and metered(row):
        most = initial + unit * (5.0 * max(dist, 0.0) + max(dur, 0.0))
        if fare > most + METER_SLACK:
            return (
                f"fare {money(fare)} is above the most the meter can charge for {trip_context(row)} under "
                f"{priced.label}: {money(most)} ({money(initial)} + {money(unit)} per 1/5 mile and per minute)"
            )
    if "fare_units" in exp:
        usual = initial + unit * unslog(exp["fare_units"])
        if usual >= initial:
            ratio = ratio_words(fare, usual)
            evidence = fields_seen(row, "fare")
            if ratio != "unlike":
                return (
                    f"fare {money(fare)} is {ratio} the usual {money(usual)} for trips with this {evidence} "
                    f"under {priced.label}"
                )
            return f"fare {money(fare)} is unusual for trips with this {evidence} (usual ~{money(usual)})"
    return f"fare {money(fare)} is unusual for {trip_context(row)} under {priced.label}"


def speed_reason(row: np.ndarray, exp: dict[str, float]) -> str:
    dist, dur = value_of(row, "trip_distance") or 0.0, value_of(row, "duration_minutes") or 0.0
    if dur <= 0:
        return f"speed: {dist:.1f} mi in {dur:.1f} min is impossible"
    mph = max(dist, 0.0) / (dur / 60.0)
    if mph > IMPOSSIBLE_MPH:
        return f"speed {mph:.0f} mph is impossible ({dist:.1f} mi in {dur:.1f} min)"
    usual = math.expm1(exp.get("speed_mph", float("nan")))
    if PLAUSIBLE_MPH[0] <= usual <= PLAUSIBLE_MPH[1]:
        return (
            f"speed {mph:.1f} mph is unusual for trips with this {fields_seen(row, 'speed')} (usual ~{usual:.0f} mph)"
        )
    return f"speed {mph:.1f} mph is unusual for {trip_context(row)}"


def _plausible_minutes(minutes: float, dist: float | None) -> bool:
    if minutes < 0.5:
        return False
    if dist is None or dist <= 0:
        return True
    mph = dist / (minutes / 60.0)
    return PLAUSIBLE_MPH[0] <= mph <= PLAUSIBLE_MPH[1]


def distance_reason(row: np.ndarray, exp: dict[str, float], worst: str) -> str:
    dist = value_of(row, "trip_distance") or 0.0
    dur = value_of(row, "duration_minutes")
    has_zones = value_of(row, "pickup_location_id") is not None and value_of(row, "dropoff_location_id") is not None
    if worst == "fare_without_distance":
        fare = value_of(row, "fare_amount") or 0.0
        return f"distance {dist:.2f} mi cannot have billed a fare of {money(fare)} on the meter"
    if worst == "distance_beyond_time" and has_zones:
        usual_mi = math.expm1(exp.get("route_distance", float("nan")))
        if math.isfinite(usual_mi) and usual_mi > 0.05 and dur is not None:
            return (
                f"distance {dist:.1f} mi is {dist / usual_mi:.1f}x the usual ~{usual_mi:.1f} mi between "
                f"{zone_pair(row)}, in {dur:.0f} min: miles the time taken does not account for"
            )
        return f"distance {dist:.1f} mi is far more than the time taken allows between {zone_pair(row)}"
    if worst == "speed_beyond_route" and has_zones and dur is not None and dur > 0:
        mph = max(dist, 0.0) / (dur / 60.0)
        return (
            f"distance {dist:.1f} mi in {dur:.0f} min is {mph:.0f} mph on average, far faster than trips between "
            f"{zone_pair(row)} run: miles the time taken does not account for"
        )
    if worst in ("route_distance", "distance_vs_route") and has_zones:
        return f"distance {dist:.2f} mi is implausible for the route ({zone_pair(row)})"
    usual = max(unslog(exp.get("distance", float("nan"))), 0.0) if "distance" in exp else float("nan")
    evidence = fields_seen(row, "distance")
    if math.isfinite(usual) and usual > 0.05 and (dur is None or _plausible_minutes(dur, usual)):
        return f"distance {dist:.2f} mi is implausible for trips with this {evidence} (usual ~{usual:.1f} mi)"
    return f"distance {dist:.2f} mi is implausible for trips with this {evidence}"


def duration_reason(row: np.ndarray, exp: dict[str, float], worst: str) -> str:
    dur = value_of(row, "duration_minutes") or 0.0
    dist = value_of(row, "trip_distance")
    key = "duration"
    usual = max(unslog(exp[key]), 0.0) if key in exp else float("nan")
    evidence = fields_seen(row, "duration")
    if worst == "duration_vs_route" and value_of(row, "pickup_location_id") is not None:
        evidence = f"{evidence} ({zone_pair(row)})"
    if math.isfinite(usual) and _plausible_minutes(usual, dist):
        return f"duration {dur:.1f} min is implausible for trips with this {evidence} (usual ~{usual:.0f} min)"
    return f"duration {dur:.1f} min is implausible for trips with this {evidence}"


def route_reason(row: np.ndarray, exp: dict[str, float]) -> str:
    dist, dur = value_of(row, "trip_distance") or 0.0, value_of(row, "duration_minutes") or 0.0
    usual_mi = math.expm1(exp.get("route_distance", float("nan")))
    usual_min = math.expm1(exp.get("route_duration", float("nan")))
    if math.isfinite(usual_mi) and math.isfinite(usual_min) and usual_mi > 0.05 and usual_min > 0.5:
        return (
            f"route {dist:.1f} mi in {dur:.0f} min is {dist / usual_mi:.1f}x the usual distance and "
            f"{dur / usual_min:.1f}x the usual time between {zone_pair(row)} (usual ~{usual_mi:.1f} mi, "
            f"~{usual_min:.0f} min): a long way round, billed by the meter"
        )
    return f"route {dist:.1f} mi in {dur:.0f} min is far longer than usual between {zone_pair(row)}"
