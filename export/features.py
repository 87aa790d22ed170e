"""Feature engineering as a torch module, so it is exported *inside* the ONNX graph.

Clients send raw wire fields (``trip_fields``, NaN = missing); every derived quantity (speed, fare per
mile, how far the total is from the sum of its parts, zone and time encodings) is computed here. One
implementation serves training, ``taxifraud score``, Triton and the tests, so a feature can never be
computed one way in training and another way in serving.

Each feature also gets a *mask*: 1 when every input it needs is present and finite, else 0. Masked
features are set to 0 (via ``where``, never ``NaN * 0``, which is NaN) and are excluded from the score.

Input columns are grouped by what they describe (``GROUPS``). The scorer reconstructs each group from
the *other* groups (see ``export.model``), so a feature's group decides which other fields are used to
judge it: a fare is judged by distance, duration, place and time, not by itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from taxifraud.wire import COLUMN_INDEX, MONEY_COLUMNS, N_INPUT_COLUMNS

#: Input column groups. Reconstruction hides one group at a time (see ``export.model``).
GROUPS: dict[str, tuple[str, ...]] = {
    "money": MONEY_COLUMNS,
    "distance": ("trip_distance",),
    "duration": ("duration_minutes",),
    "place": ("pickup_location_id", "dropoff_location_id"),
    "time": ("pickup_hour", "pickup_weekday"),
    "meta": ("passenger_count", "rate_code_id", "payment_type"),
}
GROUP_NAMES: tuple[str, ...] = tuple(GROUPS)

#: The seed's request body: the minimal field set every client can send.
SEED_FIELDS: tuple[str, ...] = ("trip_distance", "fare_amount", "duration_minutes")

AIRPORT_ZONES = (1, 132, 138)  # EWR, JFK, LaGuardia
UNKNOWN_ZONES = (264, 265)
BOROUGH_CODES: dict[str, int] = {
    "Unknown": 0,
    "Manhattan": 1,
    "Queens": 2,
    "Brooklyn": 3,
    "Bronx": 4,
    "Staten Island": 5,
    "EWR": 6,
}
N_BOROUGHS = len(BOROUGH_CODES)
N_ZONE_SLOTS = 266  # location ids 1..265, slot 0 for "missing/out of range"
INPUT_LIMIT = 1.0e4


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    inputs: tuple[str, ...]  # raw columns it needs (all must be present)
    group: str  # the group whose reconstruction judges it
    unit: str  # how reasons talk about it: "log$" (signed log1p dollars), "log", "flag", "raw", "cyc"


_MONEY_PARTS = GROUPS["money"][:-1]

FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("distance", ("trip_distance",), "distance", "log"),
    FeatureSpec("duration", ("duration_minutes",), "duration", "log"),
    FeatureSpec("speed_mph", ("trip_distance", "duration_minutes"), "duration", "log"),
    FeatureSpec("fare", ("fare_amount",), "money", "log$"),
    FeatureSpec("fare_per_mile", ("fare_amount", "trip_distance"), "money", "log$"),
    FeatureSpec("fare_per_minute", ("fare_amount", "duration_minutes"), "money", "log$"),
    FeatureSpec("total", ("total_amount",), "money", "log$"),
    FeatureSpec("total_gap", (*_MONEY_PARTS, "total_amount"), "money", "log$"),
    FeatureSpec("tip", ("tip_amount",), "money", "log$"),
    FeatureSpec("tip_share", ("tip_amount", "fare_amount"), "money", "log$"),
    FeatureSpec("tolls", ("tolls_amount",), "money", "log$"),
    FeatureSpec("extra", ("extra",), "money", "log$"),
    FeatureSpec("mta_tax", ("mta_tax",), "money", "log$"),
    FeatureSpec("improvement_surcharge", ("improvement_surcharge",), "money", "log$"),
    FeatureSpec("congestion_surcharge", ("congestion_surcharge",), "money", "log$"),
    FeatureSpec("passengers", ("passenger_count",), "meta", "raw"),
    FeatureSpec("rate_standard", ("rate_code_id",), "meta", "flag"),
    FeatureSpec("rate_jfk", ("rate_code_id",), "meta", "flag"),
    FeatureSpec("rate_newark", ("rate_code_id",), "meta", "flag"),
    FeatureSpec("rate_out_of_city", ("rate_code_id",), "meta", "flag"),
    FeatureSpec("rate_negotiated", ("rate_code_id",), "meta", "flag"),
    FeatureSpec("rate_other", ("rate_code_id",), "meta", "flag"),
    FeatureSpec("pay_card", ("payment_type",), "meta", "flag"),
    FeatureSpec("pay_cash", ("payment_type",), "meta", "flag"),
    FeatureSpec("pay_other", ("payment_type",), "meta", "flag"),
    FeatureSpec("pickup_airport", ("pickup_location_id",), "place", "flag"),
    FeatureSpec("dropoff_airport", ("dropoff_location_id",), "place", "flag"),
    FeatureSpec("pickup_manhattan", ("pickup_location_id",), "place", "flag"),
    FeatureSpec("dropoff_manhattan", ("dropoff_location_id",), "place", "flag"),
    FeatureSpec("pickup_unknown_zone", ("pickup_location_id",), "place", "flag"),
    FeatureSpec("dropoff_unknown_zone", ("dropoff_location_id",), "place", "flag"),
    FeatureSpec("same_zone", ("pickup_location_id", "dropoff_location_id"), "place", "flag"),
    FeatureSpec("distance_vs_route", ("trip_distance", "pickup_location_id", "dropoff_location_id"), "distance", "log"),
    FeatureSpec("route_distance", ("pickup_location_id", "dropoff_location_id"), "place", "log"),
    FeatureSpec("hour_sin", ("pickup_hour",), "time", "cyc"),
    FeatureSpec("hour_cos", ("pickup_hour",), "time", "cyc"),
    FeatureSpec("weekday_sin", ("pickup_weekday",), "time", "cyc"),
    FeatureSpec("weekday_cos", ("pickup_weekday",), "time", "cyc"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)

#: Features that count towards ``anomaly_score``: the charges and the trip's physics (and the route's
#: typical length, which is what exposes a GPS jump). Context features (rate code, payment type,
#: passengers, zone flags, time) are still reconstructed, inform every other pass and are reported in
#: ``feature_errors``, but are not judged themselves: rare legitimate values (Newark and out-of-city
#: rate codes, disputes, 4 a.m. pickups) otherwise made up most of the false alarms on validation
#: months, and an unusual hour is not a payment fraud.
SCORED_GROUPS = ("money", "distance", "duration")
SCORED: tuple[bool, ...] = tuple(f.group in SCORED_GROUPS or f.name == "route_distance" for f in FEATURES)
FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
N_FEATURES = len(FEATURES)


def dependency_matrix() -> torch.Tensor:
    """[K, 17] bool: feature k needs input column j."""
    dep = torch.zeros(N_FEATURES, N_INPUT_COLUMNS, dtype=torch.bool)
    for k, spec in enumerate(FEATURES):
        for col in spec.inputs:
            dep[k, COLUMN_INDEX[col]] = True
    return dep


def group_hides() -> torch.Tensor:
    """[G, K] bool: hiding group g hides feature k (k reads any column of g)."""
    dep = dependency_matrix()
    out = torch.zeros(len(GROUP_NAMES), N_FEATURES, dtype=torch.bool)
    for g, name in enumerate(GROUP_NAMES):
        cols = [COLUMN_INDEX[c] for c in GROUPS[name]]
        out[g] = dep[:, cols].any(dim=1)
    return out


def primary_group() -> torch.Tensor:
    """[G, K] float one-hot: the pass whose reconstruction scores feature k."""
    out = torch.zeros(len(GROUP_NAMES), N_FEATURES)
    for k, spec in enumerate(FEATURES):
        out[GROUP_NAMES.index(spec.group), k] = 1.0
    return out


def slog(x: torch.Tensor) -> torch.Tensor:
    """Signed log1p: keeps refunds (negative amounts) distinguishable and compresses $429k to ~13."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


class FeatureGraph(nn.Module):
    """Raw ``trip_fields`` [B, 17] -> (features [B, K], mask [B, K], present [B, 17]).

    ``zone_borough`` and ``route_log_distance`` are constants fitted on training months (borough of each
    location id; typical log1p distance of each pickup/dropoff zone pair, flattened to 266*266) and live
    in the graph. The route table is the only geography the model has (TLC publishes zones, not
    coordinates), and it is what lets a GPS jump on a known route stand out even when the fare was
    billed for the phantom miles.
    """

    zone_borough: torch.Tensor
    route_log_distance: torch.Tensor
    dependency: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("zone_borough", torch.zeros(N_ZONE_SLOTS, dtype=torch.long))
        self.register_buffer("route_log_distance", torch.zeros(N_ZONE_SLOTS * N_ZONE_SLOTS))
        self.register_buffer("dependency", dependency_matrix().to(torch.float32))

    def set_zone_boroughs(self, boroughs: dict[int, str]) -> None:
        table = torch.zeros(N_ZONE_SLOTS, dtype=torch.long)
        for zone, name in boroughs.items():
            if 0 < zone < N_ZONE_SLOTS:
                table[zone] = BOROUGH_CODES.get(name, 0)
        self.zone_borough.copy_(table)

    def zone_codes(self, x: torch.Tensor, present: torch.Tensor, col: str) -> torch.Tensor:
        """Location id column -> long zone slot (0 when missing or out of 1..265)."""
        j = COLUMN_INDEX[col]
        v = torch.where(present[:, j], x[:, j], torch.zeros_like(x[:, j]))
        v = torch.round(v)
        valid = (v >= 1) & (v <= N_ZONE_SLOTS - 1)
        return torch.where(valid, v, torch.zeros_like(v)).to(torch.long)

    def forward(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        present = ~(torch.isnan(raw) | torch.isinf(raw))
        # Clip absurd magnitudes: $10,000 or 10,000 miles is absurd enough to score as such, and keeping
        # every intermediate below float16's 65504 means a TensorRT FP16 engine cannot turn the real
        # $429,490 fare row into inf - inf = NaN.
        x = torch.clamp(torch.where(present, raw, torch.zeros_like(raw)), -INPUT_LIMIT, INPUT_LIMIT)

        def c(name: str) -> torch.Tensor:
            return x[:, COLUMN_INDEX[name]]

        dist, dur, fare = c("trip_distance"), c("duration_minutes"), c("fare_amount")
        tip, total = c("tip_amount"), c("total_amount")
        parts_wo_cong = c("fare_amount") + c("extra") + c("mta_tax") + tip + c("tolls_amount")
        parts_wo_cong = parts_wo_cong + c("improvement_surcharge")
        gap_with = total - (parts_wo_cong + c("congestion_surcharge"))
        gap_without = total - parts_wo_cong  # vendor 1 leaves the congestion surcharge out of the total
        gap = torch.where(torch.abs(gap_with) <= torch.abs(gap_without), gap_with, gap_without)

        hours = torch.clamp(dur, min=1.0 / 60.0) / 60.0  # <= 0 min counts as one second: speed explodes
        speed = torch.clamp(torch.clamp(dist, min=0.0) / hours, max=5.0e4)  # inf in FP16 clips to 5e4 too
        rate = torch.round(c("rate_code_id"))
        pay = torch.round(c("payment_type"))
        pu = self.zone_codes(x, present, "pickup_location_id")
        do = self.zone_codes(x, present, "dropoff_location_id")
        pu_b, do_b = self.zone_borough[pu], self.zone_borough[do]
        route = self.route_log_distance[pu * N_ZONE_SLOTS + do]
        hour_angle = c("pickup_hour") * (2.0 * math.pi / 24.0)
        wd_angle = c("pickup_weekday") * (2.0 * math.pi / 7.0)

        def flag(b: torch.Tensor) -> torch.Tensor:
            return b.to(raw.dtype)

        def isin(v: torch.Tensor, values: tuple[int, ...]) -> torch.Tensor:
            out = torch.zeros_like(v, dtype=torch.bool)
            for value in values:
                out = out | (v == value)
            return out

        airport, unknown = AIRPORT_ZONES, UNKNOWN_ZONES
        cols = {
            "distance": slog(dist),
            "duration": slog(dur),
            "speed_mph": torch.log1p(speed),
            "fare": slog(fare),
            "fare_per_mile": slog(fare / torch.clamp(dist, min=0.05)),
            "fare_per_minute": slog(fare / torch.clamp(dur, min=0.25)),
            "total": slog(total),
            "total_gap": slog(gap),
            "tip": slog(tip),
            "tip_share": slog(tip / torch.clamp(torch.abs(fare), min=2.5)),
            "tolls": slog(c("tolls_amount")),
            "extra": slog(c("extra")),
            "mta_tax": slog(c("mta_tax")),
            "improvement_surcharge": slog(c("improvement_surcharge")),
            "congestion_surcharge": slog(c("congestion_surcharge")),
            "passengers": torch.clamp(c("passenger_count"), 0.0, 9.0),
            "rate_standard": flag(rate == 1),
            "rate_jfk": flag(rate == 2),
            "rate_newark": flag(rate == 3),
            "rate_out_of_city": flag(rate == 4),
            "rate_negotiated": flag(rate == 5),
            "rate_other": flag((rate < 1) | (rate > 5)),
            "pay_card": flag(pay == 1),
            "pay_cash": flag(pay == 2),
            "pay_other": flag((pay != 1) & (pay != 2)),
            "pickup_airport": flag(isin(pu, airport)),
            "dropoff_airport": flag(isin(do, airport)),
            "pickup_manhattan": flag(pu_b == BOROUGH_CODES["Manhattan"]),
            "dropoff_manhattan": flag(do_b == BOROUGH_CODES["Manhattan"]),
            "pickup_unknown_zone": flag(isin(pu, unknown) | (pu == 0)),
            "dropoff_unknown_zone": flag(isin(do, unknown) | (do == 0)),
            "same_zone": flag((pu == do) & (pu != 0)),
            "distance_vs_route": torch.log1p(torch.clamp(dist, min=0.0)) - route,
            "route_distance": route,
            "hour_sin": torch.sin(hour_angle),
            "hour_cos": torch.cos(hour_angle),
            "weekday_sin": torch.sin(wd_angle),
            "weekday_cos": torch.cos(wd_angle),
        }
        feats = torch.stack([cols[name] for name in FEATURE_NAMES], dim=1)
        # A feature is computable when all its inputs are present: missing count of needed inputs == 0.
        missing_needed = (~present).to(raw.dtype) @ self.dependency.t()
        mask = missing_needed < 0.5
        feats = torch.where(mask, feats, torch.zeros_like(feats))
        return feats, mask, present
