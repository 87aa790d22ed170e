"""Realistic synthetic taxi trips, calibrated on real TLC data, for demos, benchmarks and load tests.

A fresh clone has no TLC rows (we do not commit them), yet the demo must replay traffic the model
finds ordinary. So :func:`calibrate` condenses real trips into aggregate statistics only (quantiles,
category frequencies, a fare regression, the most common zone pairs with their distance spread) and
:class:`TripGenerator` samples trips from them. ``traffic_profile.json`` holds no individual trip.

The generator is a model of a trip, step by step: when (hour of week), where (zone pair), how far
(the pair's distance spread), how fast (speed by hour), what it cost (TLC fare regression plus its
residual), then surcharges, tolls, tip by payment type, and a total that adds up.

The profile was calibrated on 2018-2020 trips, but the traffic a user sends today is priced by today's
tariff: by default every trip is dated in the current tariff period and re-priced by it (``taxifraud.tariff``):
the same meter units at today's initial and unit charge, the night / rush-hour / LaGuardia surcharges of
its pickup time and place, the improvement surcharge, the congestion surcharge when an end is in the
congestion zone, the airport fee on airport pickups and the relief-zone fee when an end is below 60th St.
Pass ``start`` in an older period to get trips of that year, priced as they were then.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import numpy as np

from taxifraud import tariff
from taxifraud.click_main import run_command
from taxifraud.config import DEFAULT_MODEL_REPOSITORY, MODEL_NAME, REPO_ROOT
from taxifraud.robust import ROBUST_SIGMA

log = logging.getLogger(__name__)

PROFILE_PATH = DEFAULT_MODEL_REPOSITORY / MODEL_NAME / "traffic_profile.json"
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "yellow_tripdata_samples_10k"
PROFILE_VERSION = 2
#: Quantile levels kept in the profile. The outer 1% on each side is left out on purpose: the
#: generator makes *ordinary* trips, and the demo's fraud is injected separately, with labels.
QUANTILES = np.linspace(0.01, 0.99, 41)
TOP_ZONE_PAIRS = 4000
TOLL_MIN_MILES = 8.0


def _f(value: str) -> float | None:
    try:
        return float(value) if value != "" else None
    except ValueError:
        return None


def _ordinary(r: dict[str, str]) -> tuple[datetime, float, float] | None:
    """(pickup, distance, minutes) for a plausible paid trip, None for dirt we do not calibrate on."""
    try:
        pickup = datetime.strptime(r["pickup_datetime"], "%Y-%m-%d %H:%M:%S")
        dropoff = datetime.strptime(r["dropoff_datetime"], "%Y-%m-%d %H:%M:%S")
    except (KeyError, ValueError):
        return None
    minutes = (dropoff - pickup).total_seconds() / 60
    distance, fare = _f(r.get("trip_distance", "")), _f(r.get("fare_amount", ""))
    if distance is None or fare is None or not (0.1 <= distance <= 60 and 1 <= minutes <= 180 and 2.5 <= fare <= 300):
        return None
    mph = distance / (minutes / 60)
    if not 1 <= mph <= 60 or r.get("payment_type") not in ("1", "2"):
        return None
    return pickup, distance, minutes


def _centre_and_spread(values: Iterable[float]) -> list[float]:
    """Median and robust spread (1.4826 MAD, at least 0.05) of a zone pair's logs; 0.3 for a single trip."""
    v = np.asarray(list(values), dtype=float)
    centre = float(np.median(v))
    spread = max(ROBUST_SIGMA * float(np.median(np.abs(v - centre))), 0.05) if len(v) > 1 else 0.3
    return [round(centre, 4), round(spread, 4)]


def _categorical(counter: Counter[str], top: int = 12) -> dict[str, float]:
    total = sum(counter.values())
    return {k: v / total for k, v in counter.most_common(top)} if total else {}


def _choices(freqs: dict[str, float]) -> tuple[list[str], np.ndarray]:
    values = list(freqs)
    probs = np.asarray(list(freqs.values()), dtype=float)
    return values, probs / probs.sum() if len(probs) else probs


def calibrate(files: Iterable[Path]) -> dict[str, Any]:
    """Aggregate statistics of ordinary trips in ``files`` (TLC CSVs with our wire column names)."""
    hour_of_week = np.zeros(168)
    speeds: list[list[float]] = [[] for _ in range(24)]
    pair_distances: dict[tuple[int, int], list[float]] = {}
    pair_speeds: dict[tuple[int, int], list[tuple[int, float]]] = {}  # (pickup hour, log mph) per zone pair
    pair_tolled: Counter[tuple[int, int]] = Counter()  # trips of each zone pair that paid a toll
    design, fares = [], []
    cats: dict[str, Counter[str]] = {
        k: Counter()
        for k in (
            "vendor_id",
            "passenger_count",
            "payment_type",
            "mta_tax",
            "improvement_surcharge",
            "congestion_surcharge",
        )
    }
    extra_by_hour: list[Counter[str]] = [Counter() for _ in range(24)]
    tolls_long: Counter[str] = Counter()  # tolls on trips of TOLL_MIN_MILES or more; shorter ones pay none
    tip_share: list[float] = []
    months = []
    for path in files:
        months.append(path.stem.rsplit("_", 1)[-1])
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                ok = _ordinary(r)
                if ok is None or r.get("rate_code_id") != "1":
                    continue
                pickup, distance, minutes = ok
                hour_of_week[pickup.weekday() * 24 + pickup.hour] += 1
                speeds[pickup.hour].append(distance / (minutes / 60))
                pair = (int(r["pickup_location_id"]), int(r["dropoff_location_id"]))
                pair_distances.setdefault(pair, []).append(distance)
                pair_speeds.setdefault(pair, []).append((pickup.hour, math.log(distance / (minutes / 60))))
                pair_tolled[pair] += (_f(r.get("tolls_amount", "")) or 0.0) > 0
                design.append((1.0, distance, minutes))
                fares.append(float(r["fare_amount"]))
                for k, counter in cats.items():
                    counter[r.get(k, "")] += 1
                extra_by_hour[pickup.hour][r.get("extra", "")] += 1
                if distance >= TOLL_MIN_MILES:
                    tolls_long[r.get("tolls_amount", "")] += 1
                tip = _f(r.get("tip_amount", ""))
                if r["payment_type"] == "1" and tip is not None and tip >= 0:
                    tip_share.append(tip / float(r["fare_amount"]))
    # A zone pair's speed as its offset from the city's median at the pickup hour: Midtown crawls at noon
    # and a JFK run does not, and both are faster at 3 am.
    hour_log_speed = [float(np.median(np.log(s))) if s else 0.0 for s in speeds]

    def speed_offsets(pair: tuple[int, int]) -> list[float]:
        return [log_mph - hour_log_speed[hour] for hour, log_mph in pair_speeds[pair]]

    x, y = np.asarray(design), np.asarray(fares)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual_ratio = y / np.maximum(x @ coef, 1.0)
    pairs = sorted(pair_distances.items(), key=lambda kv: -len(kv[1]))[:TOP_ZONE_PAIRS]
    return {
        "version": PROFILE_VERSION,
        "source": "aggregate statistics of NYC TLC yellow trips (no individual trip stored)",
        "months": months,
        "trips": len(fares),
        "hour_of_week": (hour_of_week / hour_of_week.sum()).round(6).tolist(),
        "log_speed_by_hour": [round(v, 4) for v in hour_log_speed],
        "fare_model": {
            "intercept": float(coef[0]),
            "per_mile": float(coef[1]),
            "per_minute": float(coef[2]),
            "ratio_quantiles": np.quantile(residual_ratio, QUANTILES).round(4).tolist(),
        },
        "zone_pairs": [
            {
                "pu": pu,
                "do": do,
                "weight": len(d),
                "log_distance": _centre_and_spread(np.log(d)),
                "toll_share": round(pair_tolled[(pu, do)] / len(d), 4),
                "log_speed_offset": _centre_and_spread(speed_offsets((pu, do))),
            }
            for (pu, do), d in pairs
        ],
        "categorical": {k: _categorical(c) for k, c in cats.items()},
        "extra_by_hour": [_categorical(c, top=6) for c in extra_by_hour],
        "tolls_long_trips": _categorical(tolls_long, top=8),
        "tip_share_quantiles": np.quantile(tip_share, QUANTILES).round(4).tolist(),
    }


#: The profile's trips are 2018-2020 ones: their fares are in the units of the tariff of this day.
PROFILE_TARIFF_DAY = date(2019, 6, 3)


def _first_monday_after(day: date) -> datetime:
    """Midnight of the first Monday at least a week into a period (clear of its first days)."""
    start = day + timedelta(days=7)
    return datetime.combine(start + timedelta(days=(7 - start.weekday()) % 7), datetime.min.time())


class TripGenerator:
    """Samples ordinary trips from a traffic profile. Seeded, so runs are reproducible."""

    def __init__(
        self,
        profile: dict[str, Any],
        seed: int = 0,
        start: datetime | None = None,
        rates: tariff.Tariff | None = None,
    ) -> None:
        self.p = profile
        self.rng = np.random.default_rng(seed)
        self.tariff = rates or tariff.load()
        # A Monday (hour-of-week offsets land on the right day) in the period still in force.
        self.start = start or _first_monday_after(self.tariff.current().effective_from)
        self._period = self.tariff.period_on(self.start.date())
        self._calibrated = self.tariff.period_on(PROFILE_TARIFF_DAY)
        pairs = profile["zone_pairs"]
        weights = np.array([z["weight"] for z in pairs], dtype=float)
        self._pair_p = weights / weights.sum()
        self._how_p = np.asarray(profile["hour_of_week"], dtype=float)
        self._how_p /= self._how_p.sum()
        self._cats = {k: _choices(v) for k, v in profile["categorical"].items() if v}
        self._cats["tolls_long_trips"] = _choices(profile["tolls_long_trips"])
        paid = {k: v for k, v in profile["tolls_long_trips"].items() if (_f(k) or 0.0) > 0}
        self._cats["tolls_paid"] = _choices(paid)
        self._extra_by_hour = [_choices(c) for c in profile["extra_by_hour"]]

    @classmethod
    def from_file(cls, path: Path = PROFILE_PATH, seed: int = 0, start: datetime | None = None) -> TripGenerator:
        return cls(json.loads(path.read_text()), seed=seed, start=start)

    def _reprice(self, fare: float) -> float:
        """A fare of the profile's tariff as the same meter units under the trip's tariff."""
        old, new = self._calibrated.amounts, self._period.amounts
        units = max(round((fare - old["initial_charge"]) / old["unit_charge"]), 0)
        return round(new["initial_charge"] + units * new["unit_charge"], 2)

    def _charges(self, pickup: datetime, pu: int, do: int) -> dict[str, float]:
        """The surcharges and fees the tariff bills for this pickup time and these zones."""
        a, z = self._period.amounts, self.tariff.zones
        hour = pickup.hour + pickup.minute / 60.0
        night = hour >= tariff.NIGHT_HOURS[0] or hour < tariff.NIGHT_HOURS[1]
        rush = pickup.weekday() < 5 and tariff.RUSH_HOURS[0] <= hour < tariff.RUSH_HOURS[1]
        lga = pu in z["laguardia"] or do in z["laguardia"]
        extra = a["night_surcharge"] * night + a["rush_hour_surcharge"] * rush + a["lga_surcharge"] * lga
        in_cz = pu in z["congestion_zone"] or do in z["congestion_zone"]
        in_crz = pu in z["congestion_relief_zone"] or do in z["congestion_relief_zone"]
        return {
            "extra": round(extra, 2),
            "mta_tax": a["mta_tax"],
            "improvement_surcharge": a["improvement_surcharge"],
            "congestion_surcharge": a["congestion_surcharge"] if in_cz else 0.0,
            "airport_fee": a["airport_fee"] if pu in z["airports"] else 0.0,
            "cbd_congestion_fee": a["cbd_congestion_fee"] if in_crz else 0.0,
        }

    def _tolls(self, distance: float, pair: dict[str, Any]) -> float:
        """Tolls as real files bill them: as often as the zone pair's trips paid one (a ride inside Manhattan or
        from JFK to Brooklyn crosses no tolled bridge or tunnel, and the detector knows it). Profiles without
        per-pair shares fall back to long trips to or from an airport."""
        if "toll_share" in pair:
            paid = self.rng.random() < float(pair["toll_share"])
            return float(self._cat("tolls_paid", "0.0") or 0) if paid else 0.0
        airports = self.tariff.zones["airports"]
        if distance < TOLL_MIN_MILES or (pair["pu"] not in airports and pair["do"] not in airports):
            return 0.0
        return float(self._cat("tolls_long_trips", "0.0") or 0)

    def _core(self, centre_and_spread: list[float]) -> float:
        """A draw from the core of a zone pair's log distances or speeds (within 2.5 robust spreads): the
        generator makes ordinary trips, and the demo's fraud is injected apart (see QUANTILES)."""
        centre, spread = centre_and_spread
        return centre + float(np.clip(self.rng.normal(), -2.5, 2.5)) * spread

    def _quantile_sample(self, quantiles: list[float]) -> float:
        q = np.asarray(quantiles)
        return float(
            np.interp(
                self.rng.random(), QUANTILES[: len(q)] if len(q) == len(QUANTILES) else np.linspace(0, 1, len(q)), q
            )
        )

    def _cat(self, key: str, default: str = "") -> str:
        if key not in self._cats:
            return default
        return self._pick(self._cats[key])

    def _pick(self, choices: tuple[list[str], np.ndarray]) -> str:
        values, probs = choices
        return str(values[self.rng.choice(len(values), p=probs)]) if values else ""

    def trip(self) -> dict[str, Any]:
        how = int(self.rng.choice(168, p=self._how_p))
        pickup = self.start + timedelta(hours=how, seconds=float(self.rng.integers(0, 3600)))
        pair = self.p["zone_pairs"][int(self.rng.choice(len(self._pair_p), p=self._pair_p))]
        distance = math.exp(self._core(pair["log_distance"]))
        distance = round(min(max(distance, 0.1), 60.0), 2)
        # The pair's speed at that hour: Midtown crawls at noon, a JFK run does not, both are faster at 3 am.
        log_mph = self.p["log_speed_by_hour"][pickup.hour] + self._core(pair["log_speed_offset"])
        mph = min(max(math.exp(log_mph), 1.5), 60.0)
        minutes = max(distance / mph * 60, 1.0)
        fm = self.p["fare_model"]
        base = fm["intercept"] + fm["per_mile"] * distance + fm["per_minute"] * minutes
        fare = self._reprice(round(max(2.5, base * self._quantile_sample(fm["ratio_quantiles"])) * 2) / 2)
        payment = int(self._cat("payment_type", "1") or 1)
        charges = self._charges(pickup, int(pair["pu"]), int(pair["do"]))
        tolls = self._tolls(distance, pair)
        tip = round(fare * max(self._quantile_sample(self.p["tip_share_quantiles"]), 0), 2) if payment == 1 else 0.0
        total = round(fare + sum(charges.values()) + tolls + tip, 2)
        dropoff = pickup + timedelta(minutes=minutes)
        return {
            "vendor_id": int(self._cat("vendor_id", "2") or 2),
            "pickup_datetime": pickup.strftime("%Y-%m-%d %H:%M:%S"),
            "dropoff_datetime": dropoff.strftime("%Y-%m-%d %H:%M:%S"),
            "passenger_count": int(self._cat("passenger_count", "1") or 1),
            "trip_distance": distance,
            "rate_code_id": 1,
            "store_and_fwd_flag": "N",
            "pickup_location_id": pair["pu"],
            "dropoff_location_id": pair["do"],
            "payment_type": payment,
            "fare_amount": fare,
            "extra": charges["extra"],
            "mta_tax": charges["mta_tax"],
            "tip_amount": tip,
            "tolls_amount": tolls,
            "improvement_surcharge": charges["improvement_surcharge"],
            "total_amount": total,
            "congestion_surcharge": charges["congestion_surcharge"],
            "airport_fee": charges["airport_fee"],
            "cbd_congestion_fee": charges["cbd_congestion_fee"],
        }

    def trips(self, n: int) -> Iterator[dict[str, Any]]:
        for _ in range(n):
            yield self.trip()


@click.command(name="traffic-profile")
@click.argument("data_dir", required=False, type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_DATA_DIR)
@click.option("--months", default="2019-", show_default=True, help="calibrate on files whose month starts with this")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=PROFILE_PATH)
def command(data_dir: Path, months: str, output: Path) -> int:
    """Rebuild traffic_profile.json from the TLC CSV files in DATA_DIR."""
    files = sorted(p for p in data_dir.glob("*.csv") if p.stem.rsplit("_", 1)[-1].startswith(months))
    if not files:
        raise click.UsageError(f"no CSV files for {months!r} in {data_dir}")
    profile = calibrate(files)
    output.write_text(json.dumps(profile, separators=(",", ":")))
    log.info("wrote %s from %d trips in %d files", output, profile["trips"], len(files))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_command(command, prog_name="python -m operations.traffic"))
