"""Loading the shared TLC monthly samples into model-input rows, the month split, and the cleaning rules.

Rows are produced in exactly the layout of :func:`taxifraud.wire.encode_rows` (``MODEL_INPUT_COLUMNS``,
NaN = missing), but vectorised: the 300k-row set would take half a minute through the per-row encoder,
and a test (``tests/model/test_data.py``) pins the two encodings to each other so they cannot drift.

Why months and not random rows: trips from the same month share fare rules, surcharges and traffic.
A random split would leak those into validation and test and flatter every number. Training,
validation (spreads and threshold) and test (the reported evaluation) use disjoint months, and each
of the three spans 2018, 2019 and 2020 so that all fare regimes (before/after the congestion
surcharge, COVID) are represented in each.
"""

from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from taxifraud import tariff
from taxifraud.trip_files import read_columns
from taxifraud.wire import COLUMN_INDEX, MODEL_INPUT_COLUMNS, MONEY_COLUMNS, N_INPUT_COLUMNS

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = "yellow_tripdata_samples_10k"
ZONE_LOOKUP = "taxi_zone_lookup.csv"
#: The dated tariff the features price trips with (versioned next to the model).
TARIFF_PATH = tariff.DEFAULT_PATH

#: Months held out for threshold/spread calibration. Never used for gradient steps.
VALIDATION_MONTHS: tuple[str, ...] = ("2018-03", "2018-10", "2019-07", "2020-03", "2020-09")
#: Months held out for the reported evaluation. Never used for fitting or calibration.
TEST_MONTHS: tuple[str, ...] = ("2018-05", "2019-02", "2019-11", "2020-06", "2020-12")


def data_dir() -> Path:
    """The shared data directory: ``$TAXIFRAUD_DATA_DIR`` or ``<repo>/../shared/data``."""
    env = os.environ.get("TAXIFRAUD_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def available_months(root: Path | None = None) -> list[str]:
    """Months with a sample file, sorted (the folder has gaps; we never assume a month exists)."""
    folder = (root or data_dir()) / SAMPLES_DIR
    return sorted(p.stem.rsplit("_", 1)[-1] for p in folder.glob("yellow_tripdata_sample_*.csv"))


def split_months(root: Path | None = None) -> dict[str, list[str]]:
    """Train / validation / test months. Training gets every available month not held out."""
    months = available_months(root)
    held = set(VALIDATION_MONTHS) | set(TEST_MONTHS)
    missing = held - set(months)
    if missing:
        raise FileNotFoundError(f"held-out months without a sample file: {sorted(missing)}")
    return {
        "train": [m for m in months if m not in held],
        "validation": [m for m in months if m in VALIDATION_MONTHS],
        "test": [m for m in months if m in TEST_MONTHS],
    }


@dataclass(frozen=True)
class TripTable:
    """Model-input rows of one or more months, with what cleaning needs beyond the input columns."""

    rows: np.ndarray  # float32 [N, C], MODEL_INPUT_COLUMNS order, NaN = missing
    month: np.ndarray  # str [N], the file's month ("YYYY-MM")
    pickup_month: np.ndarray  # str [N], the pickup timestamp's own month

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def subset(self, keep: np.ndarray) -> TripTable:
        return TripTable(self.rows[keep], self.month[keep], self.pickup_month[keep])

    @staticmethod
    def concat(tables: list[TripTable]) -> TripTable:
        return TripTable(
            np.concatenate([t.rows for t in tables]),
            np.concatenate([t.month for t in tables]),
            np.concatenate([t.pickup_month for t in tables]),
        )


#: Fees TLC added after the 2018-2020 samples were written; a record of a date before the fee existed
#: carries its true amount, $0 (like the congestion surcharge before 2019-02-02, see ``_fill_absent_fees``).
FEE_STARTS: dict[str, str] = {
    "congestion_surcharge": "2019-02-02",
    "airport_fee": "2021-04-05",
    "cbd_congestion_fee": "2025-01-05",
}


def _fill_absent_fees(rows: np.ndarray, pickup: np.ndarray) -> None:
    """A fee column that is empty because the fee did not exist yet becomes 0.0, the amount charged."""
    for name, start in FEE_STARTS.items():
        col = rows[:, COLUMN_INDEX[name]]
        col[np.isnan(col) & (pickup < np.datetime64(start))] = 0.0


def table_from_columns(cols: dict[str, np.ndarray], month: str, slack_days: int = 0) -> TripTable:
    """Wire-named columns (numbers as float64 with NaN, datetimes as datetime64) -> model-input rows.

    ``slack_days``: pickups this many days either side of ``month`` still count as the file's month (TLC's
    monthly files begin with trips that started the evening before, e.g. Halloween night in November's).
    """
    pickup = cols["pickup_datetime"].astype("datetime64[s]")
    dropoff = cols["dropoff_datetime"].astype("datetime64[s]")
    n = len(pickup)
    rows = np.full((n, N_INPUT_COLUMNS), np.nan, dtype=np.float64)
    for name in MODEL_INPUT_COLUMNS:
        if name in cols:
            rows[:, COLUMN_INDEX[name]] = cols[name]
    rows[:, COLUMN_INDEX["duration_minutes"]] = (dropoff - pickup).astype(np.int64) / 60.0
    days = pickup.astype("datetime64[D]")
    seconds_of_day = (pickup - days).astype(np.int64)
    rows[:, COLUMN_INDEX["pickup_hour"]] = (seconds_of_day // 3600) + (seconds_of_day % 3600 // 60) / 60.0
    rows[:, COLUMN_INDEX["pickup_weekday"]] = (days.astype(np.int64) + 3) % 7
    rows[:, COLUMN_INDEX["pickup_day"]] = days.astype(np.int64)
    _fill_absent_fees(rows, pickup)
    pickup_month = np.datetime_as_string(pickup.astype("datetime64[M]")).astype(str)
    if slack_days:
        first = np.datetime64(month, "D")
        last = (np.datetime64(month, "M") + 1).astype("datetime64[D]") - 1
        near = (days >= first - slack_days) & (days <= last + slack_days)
        pickup_month = np.where(near, month, pickup_month)
    return TripTable(rows.astype(np.float32), np.full(n, month), pickup_month)


def load_month(month: str, root: Path | None = None) -> TripTable:
    """One 2018-2020 monthly sample as model-input rows (same semantics as ``encode_rows`` on the CSV dicts).

    ``congestion_surcharge`` is empty for 2018 and part of 2019-01 because the surcharge did not exist
    yet: we encode it as 0.0 (the true amount charged), not as missing, so those trips still teach the
    model how totals add up; the same holds for ``airport_fee`` and ``cbd_congestion_fee``.
    """
    path = (root or data_dir()) / SAMPLES_DIR / f"yellow_tripdata_sample_{month}.csv"
    cols = read_columns(path, MODEL_FIELDS)
    return table_from_columns(cols, month)


#: Real 2023-2025 trips (``recent/``; see PROVENANCE section 6): file, the month it stands for, its role.
#: The 2024 random sample (about 0.3% of every month, all hours) is the main recent set, split by month:
#: eight months train, March and September validate, June and December are held out for the test. The
#: three single holiday nights and the hour-stratified 2023 sample are none of them a uniform sample of a
#: month: each role keeps one night (train = New Year's 2024 + Jan-Feb 2023, validation = Halloween 2024,
#: test = New Year's 2025 + March 2023), and the model card says so.
RECENT_DIR = "recent"
#: Each half year alike: two train months, a validation month, two train months, a test month.
RANDOM_2024_ROLES = ("train", "train", "validation", "train", "train", "test") * 2
RECENT_FILES: tuple[tuple[str, str, str, str], ...] = (
    # (file, month label, role, months of the file kept for that role: "" = all)
    ("yellow_2023q1_sample.parquet", "2023-01", "train", "2023-01"),
    ("yellow_2023q1_sample.parquet", "2023-02", "train", "2023-02"),
    ("yellow_2024-01_head10k.csv", "2024-01", "train", ""),
    ("yellow_2024-11_head10k.csv", "2024-11", "validation", ""),
    ("yellow_2023q1_sample.parquet", "2023-03", "test", "2023-03"),
    ("yellow_2025-01_head10k.parquet", "2025-01", "test", ""),
    *(
        ("yellow_2024_random123k.parquet", f"2024-{m:02d}", role, f"2024-{m:02d}")
        for m, role in zip(range(1, 13), RANDOM_2024_ROLES, strict=True)
    ),
)


#: The wire fields a TLC file contributes to model-input rows (the rest are derived from the timestamps).
MODEL_FIELDS = (*MODEL_INPUT_COLUMNS, "pickup_datetime", "dropoff_datetime")


def load_recent(role: str, root: Path | None = None) -> TripTable:
    """The recent trips of one role (train / validation / test), each labelled with its month."""
    folder = (root or data_dir()) / RECENT_DIR
    tables = []
    cache: dict[str, dict[str, np.ndarray]] = {}
    for file, month, file_role, keep_month in RECENT_FILES:
        if file_role != role:
            continue
        if file not in cache:
            cache[file] = read_columns(folder / file, MODEL_FIELDS)
        cols = cache[file]
        if keep_month:
            months = cols["pickup_datetime"].astype("datetime64[M]")
            sel = months == np.datetime64(keep_month, "M")
            cols = {k: v[sel] for k, v in cols.items()}
        tables.append(table_from_columns(cols, month, slack_days=1))
    return TripTable.concat(tables)


def recent_available(root: Path | None = None) -> bool:
    folder = (root or data_dir()) / RECENT_DIR
    return all((folder / f).exists() for f, *_ in RECENT_FILES)


def load_months(months: list[str] | tuple[str, ...], root: Path | None = None) -> TripTable:
    """Several monthly samples concatenated (raw: nothing cleaned yet)."""
    return TripTable.concat([load_month(m, root) for m in months])


def _col(rows: np.ndarray, name: str) -> np.ndarray:
    """One input column by wire name."""
    return rows[:, COLUMN_INDEX[name]]


#: Cleaning thresholds, each a property of a *billable metered trip*, not of any fraud scenario.
MIN_DURATION_MIN = 1.0  # a metered trip lasts at least a minute; shorter ones are voids/cancellations
MAX_DURATION_MIN = 240.0  # TLC caps shifts; multi-hour "trips" are meters left running
MAX_DISTANCE_MI = 100.0
MAX_SPEED_MPH = 65.0  # NYC limits are 25-55 mph; above 65 average is a meter/GPS fault
MIN_SPEED_MPH = 0.5  # slower than walking for the whole trip: meter left on
MIN_FARE = 2.5  # the flag drop; anything below is a refund, void or dispute adjustment
MAX_FARE = 500.0


def clean_rules(table: TripTable) -> list[tuple[str, np.ndarray]]:
    """The cleaning rules as (name, boolean "fails this rule") pairs, in the order they are applied.

    The rule is "a completed metered trip whose money fields are charges, not adjustments":
    refunds (negative amounts), voids (zero distance or under a minute), timestamps outside the file's
    month, physically impossible speeds and unknown rate codes are removed. Missing optional fields
    (the 2020 rows without vendor/payment/passenger/rate code) are kept: the model must treat missing
    fields as normal. Totals that do not add up are *kept* unless below the fare: the data has a real
    vendor quirk (vendor 1 leaves the congestion surcharge out of ``total_amount``) and a few hundred
    totals $1.95 above their parts, and the model should learn them rather than have them hidden.
    """
    r = table.rows.astype(np.float64)
    dist, dur, fare = _col(r, "trip_distance"), _col(r, "duration_minutes"), _col(r, "fare_amount")
    speed = np.divide(dist, dur / 60.0, out=np.full_like(dist, np.inf), where=dur > 0)
    negative_money = np.zeros(len(r), dtype=bool)
    for name in MONEY_COLUMNS:
        negative_money |= _col(r, name) < 0
    rate = _col(r, "rate_code_id")
    total = _col(r, "total_amount")
    # Rate code 2 is TLC's JFK flat fare: on a trip with neither end at JFK (and both ends known) it is not a
    # fare the tariff allows. 0.15% of the 2018-2020 rows are such $52 flat fares; they are scored in the
    # model card's "real dirt" instead of teaching the model that they are ordinary.
    pu, do = _col(r, "pickup_location_id"), _col(r, "dropoff_location_id")
    known = (pu >= 1) & (pu <= 263) & (do >= 1) & (do <= 263)
    jfk = np.asarray(tariff.load(TARIFF_PATH).zones["jfk"])
    jfk_off_route = (rate == 2) & known & ~np.isin(pu, jfk) & ~np.isin(do, jfk)
    return [
        ("pickup outside the file's month", table.pickup_month != table.month),
        ("core field missing", np.isnan(dist) | np.isnan(dur) | np.isnan(fare) | np.isnan(total)),
        ("negative amount (refund/adjustment)", negative_money),
        ("fare below the flag drop", fare < MIN_FARE),
        ("fare above $500", fare > MAX_FARE),
        ("zero or negative distance", dist <= 0),
        ("distance above 100 mi", dist > MAX_DISTANCE_MI),
        ("duration under 1 min or negative", dur < MIN_DURATION_MIN),
        ("duration above 4 h", dur > MAX_DURATION_MIN),
        ("average speed above 65 mph", speed > MAX_SPEED_MPH),
        ("average speed below 0.5 mph", speed < MIN_SPEED_MPH),
        ("unknown rate code (99)", rate > 6),
        ("JFK flat rate, no end at JFK", jfk_off_route),
        ("total below fare", total < fare),
    ]


def first_failed_rule(table: TripTable) -> np.ndarray:
    """Index into ``clean_rules`` of the first rule each row fails; -1 for rows that pass all."""
    first = np.full(len(table), -1)
    for i, (_, bad) in enumerate(clean_rules(table)):
        first[(first < 0) & bad] = i
    return first


def clean_mask(table: TripTable) -> tuple[np.ndarray, dict[str, int]]:
    """Which rows are *normal, billable trips* (training and the evaluation's negatives), and why not.

    Returns the boolean mask and per-rule drop counts (a row counts under the first rule it fails).
    """
    first = first_failed_rule(table)
    names = [name for name, _ in clean_rules(table)]
    return first < 0, {name: int((first == i).sum()) for i, name in enumerate(names)}


def load_zone_boroughs(root: Path | None = None) -> dict[int, str]:
    """Location id -> borough name from TLC's zone lookup (264/265 are 'Unknown')."""
    out: dict[int, str] = {}
    with ((root or data_dir()) / ZONE_LOOKUP).open(newline="") as fh:
        for rec in csv.DictReader(fh):
            out[int(rec["locationid"])] = rec["borough"]
    return out


def load_split(root: Path | None = None) -> dict[str, TripTable]:
    """Raw (uncleaned) tables for the train, validation and test months of both eras."""
    split = split_months(root)
    out = {}
    for part, months in split.items():
        out[part] = load_role(part, months, root)
        n_recent = int(is_recent(out[part]).sum())
        log.info("%s: %d months, %d rows (%d of them 2023-2025)", part, len(months), len(out[part]), n_recent)
    return out


def load_role(role: str, months: list[str], root: Path | None = None) -> TripTable:
    """The 2018-2020 ``months`` of a role plus that role's 2023-2025 trips (raw: nothing cleaned yet)."""
    return TripTable.concat([load_months(months, root), load_recent(role, root)])


def recent_months(role: str) -> list[str]:
    """Month labels of the recent files in a role."""
    return sorted({month for _, month, r, _ in RECENT_FILES if r == role})


def is_recent(table: TripTable) -> np.ndarray:
    """Rows from after TLC's December 2022 fare increase (the recent files)."""
    return np.asarray(table.month >= "2023-01")
