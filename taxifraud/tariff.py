"""TLC's rate of fare as dated data: which fare, surcharges and fees were in force on a trip's date.

The tariff lives in ``model_repository/fraud_autoencoder/tariff.json`` (versioned next to the model), not in
code: the export bakes its periods into the ONNX graph as constant tables, so the features judge each trip
against the tariff of its own pickup date (a 2018 trip against $2.50 + $0.50 a unit, a 2025 trip against
$3.00 + $0.70 and the $0.75 congestion-relief fee). When TLC changes a rate or adds a charge, a new period
in the file and a re-export make ordinary trips ordinary again; the network is not retrained, because every
money feature it sees is measured in the tariff's own units.

The reasons use the same file, so a reason can cite the rule a charge breaks and the date it took effect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from taxifraud.config import DEFAULT_MODEL_REPOSITORY, MODEL_NAME

#: The tariff file next to the model (what training, export, the traffic generator and tests read).
DEFAULT_PATH = DEFAULT_MODEL_REPOSITORY / MODEL_NAME / "tariff.json"

#: The amounts every period must state (dollars). Order = columns of the graph's tariff table.
AMOUNTS: tuple[str, ...] = (
    "initial_charge",
    "unit_charge",
    "mta_tax",
    "improvement_surcharge",
    "night_surcharge",
    "rush_hour_surcharge",
    "jfk_flat_fare",
    "jfk_rush_hour_surcharge",
    "newark_surcharge",
    "lga_surcharge",
    "congestion_surcharge",
    "airport_fee",
    "cbd_congestion_fee",
    "for_hire_congestion_surcharge",
)
#: Zone sets the rules refer to (TLC location ids).
ZONE_SETS: tuple[str, ...] = ("airports", "jfk", "laguardia", "congestion_zone", "congestion_relief_zone")
#: TLC's location ids for an unknown place (264) and outside New York City or not recorded (265): a rule that
#: asks where a trip went decides over every place such an id could stand for.
UNKNOWN_ZONES: tuple[int, ...] = (264, 265)
#: TLC's location ids run 1..265; the graph's zone slots add slot 0 for a missing or out-of-range id.
MAX_LOCATION_ID = 265
N_ZONE_SLOTS = MAX_LOCATION_ID + 1
#: Hours (local, pickup) of the time-of-day surcharges: [start, end) with wrap-around past midnight.
NIGHT_HOURS = (20.0, 6.0)
RUSH_HOURS = (16.0, 20.0)
#: How far (hours) a pickup may be from a surcharge window and still be billed it: meter clocks drift. On
#: 2018-2020 validation months a quarter of the trips that broke the `extra` rule at a 15-minute slack were
#: billed the rush-hour surcharge from 3 pm or the night surcharge from 7 pm.
CLOCK_SLACK_H = 1.0
EPOCH = date(1970, 1, 1)


def in_window(hour: float, window: tuple[float, float], slack: float = 0.0) -> bool:
    """Hour of day inside [start - slack, end + slack), wrapping past midnight when start > end (8 pm - 6 am)."""
    start, end = (window[0] - slack) % 24.0, (window[1] + slack) % 24.0
    if start <= end:
        return start <= hour < end
    return hour >= start or hour < end


class TariffError(ValueError):
    """The tariff file is malformed: names the period and the key."""


@dataclass(frozen=True)
class Period:
    effective_from: date
    effective_until: date | None
    amounts: dict[str, float]
    source: str
    date_is_estimate: bool = False

    @property
    def start_day(self) -> int:
        """Days since 1970-01-01, the unit of the model's ``pickup_day`` input column."""
        return (self.effective_from - EPOCH).days


@dataclass(frozen=True)
class Tariff:
    name: str
    version: str
    periods: tuple[Period, ...]
    zones: dict[str, tuple[int, ...]]
    rules: dict[str, str]
    document: dict[str, Any]

    def period_on(self, day: date) -> Period:
        """The period in force on ``day``; before the first period, the first (the oldest rates known)."""
        current = self.periods[0]
        for period in self.periods:
            if period.effective_from <= day:
                current = period
        return current

    def current(self) -> Period:
        """The period still in force (what a record without a pickup date is judged against)."""
        return self.periods[-1]

    def since(self, key: str, day: date) -> date:
        """The date from which ``key`` has had its value of ``day`` without interruption."""
        period = self.period_on(day)
        value = period.amounts[key]
        start = period.effective_from
        for p in reversed(self.periods[: self.periods.index(period)]):
            if p.amounts[key] != value:
                break
            start = p.effective_from
        return start


def _date(value: Any, where: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise TariffError(f"{where}: not an ISO date: {value!r}") from exc


def parse(doc: dict[str, Any]) -> Tariff:
    """Validate a tariff document: complete periods, ordered, back to back (no gap, no overlap)."""
    for key in ("name", "version", "periods", "zones"):
        if key not in doc:
            raise TariffError(f"tariff: missing key {key!r}")
    periods: list[Period] = []
    for i, raw in enumerate(doc["periods"]):
        where = f"periods[{i}]"
        start = _date(raw.get("effective_from"), f"{where}.effective_from")
        until_raw = raw.get("effective_until")
        until = None if until_raw is None else _date(until_raw, f"{where}.effective_until")
        missing = [k for k in AMOUNTS if k not in raw]
        if missing:
            raise TariffError(f"{where}: missing amounts {missing}")
        amounts = {}
        for k in AMOUNTS:
            v = raw[k]
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 1000:
                raise TariffError(f"{where}.{k}: expected dollars 0..1000, got {v!r}")
            amounts[k] = float(v)
        if amounts["unit_charge"] <= 0:
            raise TariffError(f"{where}.unit_charge: must be positive")
        if until is not None and until <= start:
            raise TariffError(f"{where}: effective_until {until} is not after effective_from {start}")
        if periods:
            prev = periods[-1]
            if prev.effective_until is None:
                raise TariffError(f"periods[{i - 1}]: effective_until is null but a later period follows")
            if prev.effective_until != start:
                kind = "gap" if prev.effective_until < start else "overlap"
                raise TariffError(f"{where}: {kind} between {prev.effective_until} and effective_from {start}")
        periods.append(Period(start, until, amounts, str(raw.get("source", "")), bool(raw.get("date_is_estimate"))))
    if not periods:
        raise TariffError("tariff: no periods")
    if periods[-1].effective_until is not None:
        raise TariffError(f"periods[{len(periods) - 1}]: the last period must be open (effective_until null)")
    zones: dict[str, tuple[int, ...]] = {}
    for name in ZONE_SETS:
        ids = doc["zones"].get(name, {}).get("location_ids")
        if not ids or not all(isinstance(z, int) and 1 <= z <= MAX_LOCATION_ID for z in ids):
            raise TariffError(f"zones.{name}.location_ids: expected TLC location ids 1..265")
        zones[name] = tuple(sorted(set(ids)))
    return Tariff(str(doc["name"]), str(doc["version"]), tuple(periods), zones, dict(doc.get("rules", {})), doc)


def load(path: Path = DEFAULT_PATH) -> Tariff:
    """Read and validate a tariff file."""
    return parse(json.loads(path.read_text()))
