"""Feature engineering as a torch module, so it is exported *inside* the ONNX graph.

Clients send raw wire fields (``trip_fields``, NaN = missing); every derived quantity (speed, fare per
mile, how far the total is from the sum of its parts, zone and time encodings) is computed here. One
implementation serves training, ``taxifraud score``, Triton and the tests, so a feature can never be
computed one way in training and another way in serving.

Each feature also gets a *mask*: 1 when every input it needs is present and finite, else 0. Masked
features are set to 0 (via ``where``, never ``NaN * 0``, which is NaN) and are excluded from the score.

Input columns are grouped by what they describe (``export.feature_specs.GROUPS``, with the feature table
and the rule cut-offs this graph computes against). The scorer reconstructs each group from
the *other* groups (see ``export.model``), so a feature's group decides which other fields are used to
judge it: a fare is judged by distance, duration, place and time, not by itself.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from export.feature_specs import (
    AIRPORT_ZONES,
    BOROUGH_CODES,
    DECISIVE,
    DECISIVE_CUT,
    FEATURE_INDEX,
    FEATURE_NAMES,
    FEATURES,
    GROUPS,
    INPUT_LIMIT,
    METER_MARGIN,
    MIN_ROUTE_TRIPS,
    N_FEATURES,
    N_HOUR_SLOTS,
    N_ZONE_SLOTS,
    NO_DISTANCE_MI,
    NO_DISTANCE_UNITS,
    PASS_RATE_ERA_DAY,
    PASS_RATE_FLOOR,
    ROUTE_THIN_TRIPS,
    RULE,
    SCORED,
    SEED_FIELDS,
    TIP_FARE_RATIO,
    UNKNOWN_ZONES,
    WHOLE_TIP_FARE_RATIO,
    dependency_matrix,
    group_hides,
    primary_group,
)
from taxifraud import tariff
from taxifraud.reason_row import IMPOSSIBLE_MPH
from taxifraud.wire import COLUMN_INDEX

#: Names of the feature table (``export.feature_specs``) that callers have always imported from here.
__all__ = [
    "BOROUGH_CODES",
    "DECISIVE",
    "DECISIVE_CUT",
    "FEATURES",
    "FEATURE_INDEX",
    "FEATURE_NAMES",
    "GROUPS",
    "N_FEATURES",
    "N_ZONE_SLOTS",
    "RULE",
    "SCORED",
    "SEED_FIELDS",
    "FeatureGraph",
    "group_hides",
    "primary_group",
    "slog",
]


#: The per-zone facts of ``FeatureGraph.zone_table``: the tariff's zone sets, then what the features ask of a zone.
ZONE_FLAGS: tuple[str, ...] = (*tariff.ZONE_SETS, "airport_zone", "unknown", "manhattan", "in_city")
#: The fixed charges judged against the tariff's amount: feature prefix -> wire column, which the tariff's
#: amount for that charge is named after.
FIXED_CHARGES: dict[str, str] = {
    "mta_tax": "mta_tax",
    "improvement": "improvement_surcharge",
    "congestion": "congestion_surcharge",
    "airport_fee": "airport_fee",
    "cbd_fee": "cbd_congestion_fee",
}
#: The per-zone-pair tables of ``FeatureGraph.pair_table``, in its column order.
PAIR_BUFFERS: tuple[str, ...] = (
    "route_log_distance",
    "route_log_minutes",
    "route_spread_distance",
    "route_spread_minutes",
    "route_log_speed",
    "route_spread_speed",
    "congestion_pass_rate",
    "congestion_pass_rate_before",
    "congestion_pass_rate_vendor1",
    "congestion_pass_rate_vendor1_before",
    "toll_pay_rate",
    "route_trips",
)
#: The pair table's columns: the per-pair buffers, then two columns derived from them and folded with the table:
#: how far a pair's route can be trusted (1/sqrt(1 + k/n) for a pair seen n times, k = ``ROUTE_THIN_TRIPS``) and
#: whether its trips may pass through the congestion zone (1/0, :meth:`FeatureGraph.may_pass_congestion_zone`).
PAIR_COLUMNS: tuple[str, ...] = (*PAIR_BUFFERS, "route_certainty", "may_pass_congestion_zone")


def slog(x: torch.Tensor) -> torch.Tensor:
    """Signed log1p: keeps refunds (negative amounts) distinguishable and compresses $429k to ~13."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


#: The parts `extra` may be made of, in the graph's order: night, rush hour, LaGuardia, congestion surcharge,
#: airport fee folded, relief zone fee folded (``taxifraud.charge_reasons`` names them in the same order).
N_EXTRA_PARTS = 6


class FeatureGraph(nn.Module):
    """Raw ``trip_fields`` [B, C] -> (features [B, K], mask [B, K], present [B, C]).

    Constants fitted on training months or read from data live in the graph as buffers:

    - ``zone_borough``: borough of each location id (TLC's zone lookup);
    - ``congestion_pass_rate``: for each zone pair with no end in the congestion zone, the share of its
      trips that paid the congestion surcharge (passing through the zone, e.g. Brooklyn -> Bronx on the FDR
      Drive), shrunk towards the borough pair: what makes a surcharge on a Queens -> Queens ride stand out
      while a Brooklyn -> Bronx one does not (both eras' trips); ``congestion_pass_rate_before``, the same from
      the trips before ``PASS_RATE_ERA_DAY`` (the 2022-12-19 fare change) alone, judges those trips: far fewer
      such trips paid it then; ``congestion_pass_rate_vendor1`` and ``..._vendor1_before``, the same two from
      vendor 1's trips: its meters rarely bill the surcharge where neither end is in Manhattan (0.2% of such
      2023-2025 training trips, vendor 2's 6%), so a vendor 1 trip is judged by the lower of its vendor's
      rate and all trips' (its own table is thin: fewer than a quarter of such trips are vendor 1's);
    - ``route_log_distance`` / ``route_log_minutes``: typical log1p distance and duration of each
      pickup/dropoff zone pair (266*266, shrunk towards the borough pair where a pair has few trips). TLC
      publishes zones, not coordinates: these tables are the only geography the model has, and what lets a
      GPS jump or a detour on a known route stand out even when the fare was billed for the phantom miles;
    - ``route_spread_distance`` / ``route_spread_minutes``: the robust spread (1.4826 MAD) of those logs per
      zone pair, shrunk the same way: how far beyond its usual route a trip on this pair may run;
    - ``route_log_speed`` / ``route_spread_speed``: the typical log1p average speed (mph) of each zone pair's
      trips and its robust spread, shrunk the same way: phantom miles added to a real ride's minutes (a GPS
      jump) raise the speed beyond anything the pair's trips run, however long the route itself is;
    - ``route_trips``: how many training trips each zone pair has: a route known only from its boroughs'
      typical trip (1.5 mi for any Manhattan pair never seen) cannot decide that a trip ran too far;
    - ``route_hour_minutes``: what the hour of the week adds to a route's usual log1p minutes (pickup hour x
      weekday or weekend, one slot with nothing for an unknown time): the same pair takes longer at 5 pm on a
      Tuesday than at 3 am;
    - ``toll_pay_rate``: the share of each zone pair's trips that paid tolls, shrunk towards the borough pair
      (a short Manhattan ride crosses no tolled facility; a Queens -> Manhattan one often does), or towards an
      end most of whose trips pay tolls where that is higher (Randalls Island, the airports);
    - ``tariff_start`` / ``tariff_amounts``: the dated tariff (``taxifraud.tariff``), one row per period,
      and ``zone_sets``: the zone sets its rules name (airports, congestion zone, relief zone).

    A trip is priced by the period of its ``pickup_day``; a record without a date by the period still in
    force (today's traffic), with spreads calibrated on dateless rows of both eras.
    """

    zone_borough: torch.Tensor
    route_log_distance: torch.Tensor
    route_log_minutes: torch.Tensor
    congestion_pass_rate: torch.Tensor
    congestion_pass_rate_before: torch.Tensor
    congestion_pass_rate_vendor1: torch.Tensor
    congestion_pass_rate_vendor1_before: torch.Tensor
    route_spread_distance: torch.Tensor
    route_spread_minutes: torch.Tensor
    route_log_speed: torch.Tensor
    route_spread_speed: torch.Tensor
    toll_pay_rate: torch.Tensor
    route_trips: torch.Tensor
    route_hour_minutes: torch.Tensor
    dependency: torch.Tensor
    subset_sums: torch.Tensor
    tariff_start: torch.Tensor
    tariff_amounts: torch.Tensor
    zone_sets: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("zone_borough", torch.zeros(N_ZONE_SLOTS, dtype=torch.long))
        self.register_buffer("route_log_distance", torch.zeros(N_ZONE_SLOTS * N_ZONE_SLOTS))
        self.register_buffer("route_log_minutes", torch.zeros(N_ZONE_SLOTS * N_ZONE_SLOTS))
        self.register_buffer("congestion_pass_rate", torch.ones(N_ZONE_SLOTS * N_ZONE_SLOTS))
        self.register_buffer("congestion_pass_rate_before", torch.ones(N_ZONE_SLOTS * N_ZONE_SLOTS))
        self.register_buffer("congestion_pass_rate_vendor1", torch.ones(N_ZONE_SLOTS * N_ZONE_SLOTS))
        self.register_buffer("congestion_pass_rate_vendor1_before", torch.ones(N_ZONE_SLOTS * N_ZONE_SLOTS))
        self.register_buffer("route_spread_distance", torch.ones(N_ZONE_SLOTS * N_ZONE_SLOTS))
        self.register_buffer("route_spread_minutes", torch.ones(N_ZONE_SLOTS * N_ZONE_SLOTS))
        self.register_buffer("route_log_speed", torch.zeros(N_ZONE_SLOTS * N_ZONE_SLOTS))
        self.register_buffer("route_spread_speed", torch.ones(N_ZONE_SLOTS * N_ZONE_SLOTS))
        self.register_buffer("toll_pay_rate", torch.ones(N_ZONE_SLOTS * N_ZONE_SLOTS))
        self.register_buffer("route_trips", torch.zeros(N_ZONE_SLOTS * N_ZONE_SLOTS))
        self.register_buffer("route_hour_minutes", torch.zeros(N_HOUR_SLOTS))
        self.register_buffer("dependency", dependency_matrix().to(torch.float32))
        # Every subset of the six parts `extra` may be made of ([64, 6] 0/1): legal combinations.
        subsets = [[float(bit) for bit in f"{i:0{N_EXTRA_PARTS}b}"] for i in range(2**N_EXTRA_PARTS)]
        self.register_buffer("subset_sums", torch.tensor(subsets))
        self.register_buffer("tariff_start", torch.zeros(1))
        self.register_buffer("tariff_amounts", torch.ones(1, len(tariff.AMOUNTS)))
        self.register_buffer("zone_sets", torch.zeros(len(tariff.ZONE_SETS), N_ZONE_SLOTS, dtype=torch.bool))

    def set_zone_boroughs(self, boroughs: dict[int, str]) -> None:
        table = torch.zeros(N_ZONE_SLOTS, dtype=torch.long)
        for zone, name in boroughs.items():
            if 0 < zone < N_ZONE_SLOTS:
                table[zone] = BOROUGH_CODES.get(name, 0)
        self.zone_borough.copy_(table)

    def set_tariff(self, t: tariff.Tariff) -> None:
        """Bake a tariff's periods and zone sets into the graph (buffers are resized to its period count)."""
        self.tariff_start = torch.tensor([p.start_day for p in t.periods], dtype=torch.float32)
        self.tariff_amounts = torch.tensor([[p.amounts[a] for a in tariff.AMOUNTS] for p in t.periods])
        sets = torch.zeros(len(tariff.ZONE_SETS), N_ZONE_SLOTS, dtype=torch.bool)
        for i, name in enumerate(tariff.ZONE_SETS):
            sets[i, list(t.zones[name])] = True
        self.zone_sets = sets

    def zone_codes(self, x: torch.Tensor, present: torch.Tensor, col: str) -> torch.Tensor:
        """Location id column -> long zone slot (0 when missing or out of 1..265)."""
        j = COLUMN_INDEX[col]
        return zone_slot(x[:, j], present[:, j])

    def zone_table(self) -> torch.Tensor:
        """[zone slot, ZONE_FLAGS] bool: every per-zone fact the rules ask, so one lookup answers them all.

        Built from the buffers, so it changes with them; in the exported graph it depends on constants only
        and is folded into one table at export.
        """
        slots = torch.arange(N_ZONE_SLOTS)
        borough = self.zone_borough
        facts = {
            **{name: self.zone_sets[i] for i, name in enumerate(tariff.ZONE_SETS)},
            "airport_zone": _isin(slots, AIRPORT_ZONES),
            "unknown": _isin(slots, UNKNOWN_ZONES) | (slots == 0),
            "manhattan": borough == BOROUGH_CODES["Manhattan"],
            "in_city": (borough >= 1) & (borough <= 5),
        }
        return torch.stack([facts[name] for name in ZONE_FLAGS], dim=1)

    def pair_table(self) -> torch.Tensor:
        """[zone pair, PAIR_COLUMNS]: the per-pair tables side by side, read with one lookup (folded at export)."""
        certainty = torch.rsqrt(1.0 + ROUTE_THIN_TRIPS / torch.clamp(self.route_trips, min=1.0))
        may_pass = self.may_pass_congestion_zone().to(certainty.dtype)
        return torch.stack([*(getattr(self, name) for name in PAIR_BUFFERS), certainty, may_pass], dim=1)

    def may_pass_congestion_zone(self) -> torch.Tensor:
        """[zone pair] bool: the pairs whose trips pass through the congestion zone at least ``PASS_RATE_FLOOR``
        of the time in either era, where `extra` may hold its surcharge (the reasons read this from the metadata)."""
        return torch.maximum(self.congestion_pass_rate_before, self.congestion_pass_rate) >= PASS_RATE_FLOOR

    def hour_slot(self, hour: torch.Tensor, weekday: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """[B, 1] long slot of ``route_hour_minutes``: pickup hour x (weekday, weekend), the last slot when the
        hour or the weekday is unknown."""
        whole_hour = torch.clamp(hour, 0.0, 23.0).to(torch.long)  # the cast truncates: the floor of a positive
        slot = whole_hour * 2 + (weekday >= 5.0).to(torch.long)
        return torch.where(known, slot, N_HOUR_SLOTS - 1)

    def usual_route(
        self, pu: torch.Tensor, do: torch.Tensor, hour: torch.Tensor, weekday: torch.Tensor, known: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """For [B, 1] zone slots and pickup times: the pair table's columns (one lookup), the pair's usual
        log1p(miles) and its usual log1p(minutes) at the pickup hour of the week (``known``: hour and weekday
        given). The route features and the model card's reach table read a trip's route from here."""
        pair = pu * N_ZONE_SLOTS + do
        on_pair = dict(zip(PAIR_COLUMNS, torch.split(self.pair_table()[pair.squeeze(1)], 1, dim=1), strict=True))
        minutes = on_pair["route_log_minutes"] + self.route_hour_minutes[self.hour_slot(hour, weekday, known)]
        return on_pair, on_pair["route_log_distance"], minutes

    def period_amounts(self, day: torch.Tensor, dated: torch.Tensor) -> torch.Tensor:
        """[B, A] the tariff amounts in force on each row's pickup day ([B, 1]; the current period when dateless)."""
        n_periods = self.tariff_start.shape[0]
        passed = (day >= self.tariff_start.unsqueeze(0)).to(torch.long).sum(dim=1) - 1
        index = torch.clamp(passed, 0, n_periods - 1)
        index = torch.where(dated.squeeze(1), index, n_periods - 1)
        return self.tariff_amounts[index]

    def forward(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # Every quantity below is a [B, 1] column: the graph splits its inputs and tables once, and the
        # columns concatenate into the feature block without a reshape each (ONNX Runtime's cost per call is
        # per node, so at batch 1 fewer nodes is what makes a call cheap).
        absent = torch.isnan(raw) | torch.isinf(raw)
        present = ~absent
        # Clip absurd magnitudes: $10,000 or 10,000 miles is absurd enough to score as such, and keeping
        # every intermediate below float16's 65504 means a TensorRT FP16 engine cannot turn the real
        # $429,490 fare row into inf - inf = NaN. (pickup_day, ~20,000, stays below both limits' reach
        # because it is only ever compared, never multiplied.)
        x = torch.where(present, raw, torch.zeros_like(raw))
        day = x[:, COLUMN_INDEX["pickup_day"] : COLUMN_INDEX["pickup_day"] + 1]
        x = torch.clamp(x, -INPUT_LIMIT, INPUT_LIMIT)
        column = dict(zip(COLUMN_INDEX, torch.split(x, 1, dim=1), strict=True))
        given = dict(zip(COLUMN_INDEX, torch.split(present, 1, dim=1), strict=True))
        lacking = dict(zip(COLUMN_INDEX, torch.split(absent, 1, dim=1), strict=True))

        # One [B, 1] zero for every `where`, so its three operands have one shape: ONNX Runtime then runs it
        # elementwise rather than through its general three-way broadcast.
        zero = torch.zeros_like(column["trip_distance"])

        def c(name: str) -> torch.Tensor:
            return column[name]

        def has(name: str) -> torch.Tensor:
            return given[name]

        amounts = dict(
            zip(tariff.AMOUNTS, torch.split(self.period_amounts(day, has("pickup_day")), 1, dim=1), strict=True)
        )

        def rule(name: str) -> torch.Tensor:
            return amounts[name]

        def unless_given(name: str, amount: torch.Tensor) -> torch.Tensor:
            """``amount`` where the record lacks column ``name``, else $0."""
            return torch.where(lacking[name], amount, zero)

        dist, dur, fare = c("trip_distance"), c("duration_minutes"), c("fare_amount")
        tip, total, extra = c("tip_amount"), c("total_amount"), c("extra")
        cong, airport_fee, cbd = c("congestion_surcharge"), c("airport_fee"), c("cbd_congestion_fee")
        # Riders who tip beyond the fare type a round amount, so a tip in cents is held to the lower ratio.
        tip_base = torch.clamp(torch.abs(fare), min=2.5)
        whole_tip = torch.abs(tip - torch.round(tip)) < 0.005
        tip_limit = torch.where(whole_tip, WHOLE_TIP_FARE_RATIO * tip_base, TIP_FARE_RATIO * tip_base)
        unit = rule("unit_charge")
        units = (fare - rule("initial_charge")) / unit
        # The most a standard meter can charge: every 1/5 mile *and* every minute billed (it bills one or
        # the other, so the real fare is between initial + 5 * miles * unit and this). Rate codes 2-5 are
        # flat, doubled or negotiated fares, which this bound does not cover; a missing rate code counts as
        # metered, the commonest case.
        meter_max = rule("initial_charge") + unit * (5.0 * torch.clamp(dist, min=0.0) + torch.clamp(dur, min=0.0))
        rate = torch.round(c("rate_code_id"))
        metered = lacking["rate_code_id"] | (rate == 1)
        above_meter = torch.where(metered, torch.clamp(fare - meter_max, min=0.0), zero)
        meter_ceiling = rule("initial_charge") + METER_MARGIN * (meter_max - rule("initial_charge"))
        beyond_meter = torch.where(rate == 1, torch.clamp(fare - meter_ceiling, min=0.0), zero)

        hours = torch.clamp(dur, min=1.0 / 60.0) / 60.0  # <= 0 min counts as one second: speed explodes
        speed = torch.clamp(torch.clamp(dist, min=0.0) / hours, max=5.0e4)  # inf in FP16 clips to 5e4 too
        pay = torch.round(c("payment_type"))
        vendor = torch.round(c("vendor_id"))
        pu = zone_slot(c("pickup_location_id"), has("pickup_location_id"))
        do = zone_slot(c("dropoff_location_id"), has("dropoff_location_id"))
        zones = self.zone_table()
        at_pu = dict(zip(ZONE_FLAGS, torch.split(zones[pu.squeeze(1)], 1, dim=1), strict=True))
        at_do = dict(zip(ZONE_FLAGS, torch.split(zones[do.squeeze(1)], 1, dim=1), strict=True))
        hour, weekday = c("pickup_hour"), c("pickup_weekday")
        on_pair, route, route_minutes = self.usual_route(
            pu, do, hour, weekday, has("pickup_hour") & has("pickup_weekday")
        )
        excess_distance = (torch.log1p(torch.clamp(dist, min=0.0)) - route) / on_pair["route_spread_distance"]
        excess_minutes = (torch.log1p(torch.clamp(dur, min=0.0)) - route_minutes) / on_pair["route_spread_minutes"]
        excess_speed = (torch.log1p(speed) - on_pair["route_log_speed"]) / on_pair["route_spread_speed"]
        unknown_end = at_pu["unknown"] | at_do["unknown"]
        same_zone = (pu == do) & (pu != 0)
        thin_pair = unknown_end | (on_pair["route_trips"] < MIN_ROUTE_TRIPS)
        in_city = at_pu["in_city"] & at_do["in_city"]
        hour_angle = hour * (2.0 * math.pi / 24.0)
        wd_angle = weekday * (2.0 * math.pi / 7.0)
        # A surcharge window the trip ran into counts too (the meter adds it while running: the dropoff
        # hour), and so does one within an hour of the pickup (meter clocks drift; the 2019 files
        # bill the night surcharge from 7:45 pm on some cabs).
        end_hour = torch.remainder(hour + torch.clamp(dur, 0.0, 240.0) / 60.0, 24.0)
        weekday_rush = weekday < 5
        night, rush_hours, night_slack, rush_slack, night_end, rush_end = _in_windows(
            (
                (hour, tariff.NIGHT_HOURS, 0.0),
                (hour, tariff.RUSH_HOURS, 0.0),
                (hour, tariff.NIGHT_HOURS, tariff.CLOCK_SLACK_H),
                (hour, tariff.RUSH_HOURS, tariff.CLOCK_SLACK_H),
                (end_hour, tariff.NIGHT_HOURS, 0.0),
                (end_hour, tariff.RUSH_HOURS, 0.0),
            )
        )
        rush = weekday_rush & rush_hours
        night_any = night_slack | night_end
        rush_any = weekday_rush & (rush_slack | rush_end)

        # Where the congestion surcharge may apply (an end in the zone, an unknown end, or a zone pair whose
        # trips pass through it at least once in 400): shared by the `extra` rule and `congestion_unexpected`.
        in_cz = at_pu["congestion_zone"] | at_do["congestion_zone"]
        before_era = has("pickup_day") & (day < PASS_RATE_ERA_DAY)  # the unclipped day
        pass_rate = torch.where(before_era, on_pair["congestion_pass_rate_before"], on_pair["congestion_pass_rate"])
        pass_rate_vendor1 = torch.where(
            before_era, on_pair["congestion_pass_rate_vendor1_before"], on_pair["congestion_pass_rate_vendor1"]
        )
        pass_rate = torch.where(
            has("vendor_id") & (vendor == 1), torch.minimum(pass_rate_vendor1, pass_rate), pass_rate
        )
        cong_in_force = rule("congestion_surcharge") > 0
        cong_charged = cong >= 0.5 * torch.clamp(rule("congestion_surcharge"), min=0.01)
        # A surcharge folded into `extra` is judged leniently: a pair that passes at that rate in either era.
        cong_may_apply = cong_in_force & (in_cz | unknown_end | (on_pair["may_pass_congestion_zone"] > 0.0))

        # What `extra` may hold by the tariff: any of the night and rush-hour surcharges whose window the
        # trip touched (a JFK flat fare has its own rush surcharge and no night one), plus the LaGuardia
        # surcharge on a LaGuardia trip. Vendors other than 2 also fold the congestion surcharge and the
        # airport fee into `extra` (2019 and 2023-24 files), and any vendor may bill the congestion surcharge
        # in `extra` instead of its own column where it applies (the column then says $0; rows without a
        # vendor id, app-dispatched trips, bill the for-hire amount). The feature is what the nearest legal
        # combination leaves unexplained: $0 for any correctly billed trip, the amount of a surcharge billed
        # where its rule does not apply. An unknown rate code counts as the standard rate.
        jfk_flat = rate == 2
        lga = at_pu["laguardia"] | at_do["laguardia"]
        n_night = torch.where(jfk_flat | ~night_any, zero, rule("night_surcharge"))
        n_rush = torch.where(
            rush_any, torch.where(jfk_flat, rule("jfk_rush_hour_surcharge"), rule("rush_hour_surcharge")), zero
        )
        # In a rush window outside the night's, a meter billing the smaller night amount charges less than the
        # hour allows (1.5% of such 2018-2020 trips): split the rush surcharge into the night amount and the
        # rest, so either amount, or both, is legal there, and nothing above the rush surcharge.
        undercharge = rush_any & ~night_any & ~jfk_flat
        n_night = torch.where(undercharge, rule("night_surcharge"), n_night)
        n_rush = torch.where(undercharge, torch.clamp(n_rush - n_night, min=0.0), n_rush)
        n_lga = torch.where(lga, rule("lga_surcharge"), zero)
        may_fold = ~(has("vendor_id") & (vendor == 2))
        unitemised = torch.where(has("vendor_id"), rule("congestion_surcharge"), rule("for_hire_congestion_surcharge"))
        n_cong = torch.where(may_fold, cong, zero) + torch.where(~cong_charged & cong_may_apply, unitemised, zero)
        # A vendor that folds the per-trip charges added after the meter may fold the airport fee and the
        # congestion relief zone fee into `extra`, each on its own: one is folded or itemised whatever the other
        # is, so a record itemising the relief zone fee and folding the airport fee is legal. A record without
        # the airport fee column may hold the tariff's fee on an airport or unknown pickup (vendor 1's
        # payment-type-0 rows of 2024 fold it at JFK and LaGuardia). The relief zone fee is judged like the
        # congestion surcharge: where the trip may enter the zone, `extra` may hold the tariff's fee when its own
        # column does not bill it ($0 or absent), so no one convention of a new charge decides a trip.
        airport_pickup = at_pu["airports"]
        may_fee = airport_pickup | at_pu["unknown"]
        unstated_airport_fee = torch.where(may_fee, unless_given("airport_fee", rule("airport_fee")), zero)
        in_crz = at_pu["congestion_relief_zone"] | at_do["congestion_relief_zone"]
        may_cbd = in_crz | cong_may_apply | cong_charged
        cbd_charged = cbd >= 0.5 * torch.clamp(rule("cbd_congestion_fee"), min=0.01)
        unstated_cbd = torch.where(cbd_charged, zero, torch.where(may_cbd, rule("cbd_congestion_fee"), zero))
        n_airport_fee = torch.where(may_fold, airport_fee + unstated_airport_fee, zero)
        n_cbd = torch.where(may_fold, cbd + unstated_cbd, zero)
        parts_allowed = torch.cat([n_night, n_rush, n_lga, n_cong, n_airport_fee, n_cbd], dim=1)
        extra_left = _nearest_residual(extra, parts_allowed @ self.subset_sums.t())

        # The total against its parts, under every convention TLC's vendors use: all itemised charges added
        # (vendor 2), the congestion surcharge, the airport fee and the relief zone fee left out or folded into
        # `extra` (vendor 1). A part the record lacks is decided over the values it could take: anything from $0
        # to the most the tariff of the trip's date bills for it (so a record without `congestion_surcharge` whose
        # total is $47 above its other parts still shows $47 less that surcharge).
        parts = fare + extra + c("mta_tax") + tip + c("tolls_amount") + c("improvement_surcharge") + cong
        parts = parts + airport_fee + cbd  # missing columns are 0 here
        gap = total - parts
        most_extra = (
            rule("night_surcharge")
            + rule("rush_hour_surcharge")
            + rule("jfk_rush_hour_surcharge")
            + rule("lga_surcharge")
        )
        hidden_most = (
            unless_given("extra", most_extra)
            + unless_given("mta_tax", rule("mta_tax"))
            + unless_given("improvement_surcharge", rule("improvement_surcharge"))
            + unless_given("congestion_surcharge", rule("congestion_surcharge"))
            + unstated_airport_fee
            + unless_given("cbd_congestion_fee", rule("cbd_congestion_fee"))
        )
        left_out = [torch.zeros_like(gap), cong, airport_fee, cong + airport_fee]
        conventions = -torch.cat([*left_out, *(cbd + part for part in left_out)], dim=1)
        gap = _nearest_residual_band(gap, conventions, hidden_most)

        # Conditional charges billed where the tariff's place rule does not say so (pass-through trips are
        # legal and learned from context: the network reconstructs these flags from zones, time and rate).
        fee_charged = airport_fee >= 0.5 * torch.clamp(rule("airport_fee"), min=0.01)
        # A trip through the relief zone also passes through the congestion zone (the one lies inside the
        # other), so a relief-zone fee with the congestion surcharge charged is a plausible pass-through.
        cbd_applies = (rule("cbd_congestion_fee") > 0) & (in_crz | cong_charged)

        # Each fixed charge against the nearer of the two amounts the tariff allows (none, or the rule's), all
        # five in one block.
        charged = torch.cat([c(column) for column in FIXED_CHARGES.values()], dim=1)
        allowed = torch.cat([rule(column) for column in FIXED_CHARGES.values()], dim=1)
        off = torch.where(torch.abs(charged - allowed) < torch.abs(charged), charged - allowed, charged)
        off_tariff = dict(zip(FIXED_CHARGES, torch.split(off, 1, dim=1), strict=True))

        def S(v: torch.Tensor) -> tuple[str, torch.Tensor]:
            return ("slog", v)

        def F(b: torch.Tensor) -> tuple[str, torch.Tensor]:
            return ("flag", b)

        cols: dict[str, torch.Tensor | tuple[str, torch.Tensor]] = {
            "distance": S(dist),
            "duration": S(dur),
            "speed_mph": torch.log1p(speed),
            # No NYC taxi averages 80 mph over a trip: beyond that the recorded distance or time is wrong.
            "speed_over_limit": torch.log1p(torch.clamp(speed - IMPOSSIBLE_MPH, min=0.0)),
            "distance_vs_route": torch.log1p(torch.clamp(dist, min=0.0)) - route,
            "duration_vs_route": torch.log1p(torch.clamp(dur, min=0.0)) - route_minutes,
            # A trip that starts and ends in one zone, or at an unknown end, has no usual route to stretch.
            "route_excess": torch.where(
                unknown_end | same_zone,
                zero,
                torch.clamp(torch.minimum(excess_distance, excess_minutes) * on_pair["route_certainty"], min=0.0),
            ),
            # A round trip within one zone has no route to run beyond: its miles are judged by its speed alone.
            "distance_beyond_time": torch.where(
                thin_pair | same_zone,
                zero,
                torch.clamp(excess_distance - torch.clamp(excess_minutes, min=0.0), min=0.0),
            ),
            "speed_beyond_route": torch.where(thin_pair, zero, torch.clamp(excess_speed, min=0.0)),
            "fare_without_distance": F(metered & (dist < NO_DISTANCE_MI) & (units >= NO_DISTANCE_UNITS)),
            "fare_units": S(units),
            "units_per_mile": S(units / torch.clamp(dist, min=0.05)),
            "units_per_minute": S(units / torch.clamp(dur, min=0.25)),
            "fare_above_meter": S(above_meter),
            "fare_beyond_meter": S(beyond_meter),
            "total_gap": S(gap),
            "tip_units": S(tip / unit),
            "tip_share": S(tip / tip_base),
            "tip_beyond_fare": F(tip > tip_limit),
            "tolls": S(c("tolls_amount")),
            # -log of how often this zone pair's trips pay tolls: 0 when none are charged or an end is unknown.
            "tolls_unexpected": torch.where(
                (c("tolls_amount") > 0.01) & ~unknown_end,
                -torch.log(torch.clamp(on_pair["toll_pay_rate"], min=1.0e-4)),
                zero,
            ),
            "extra_units": S(extra / unit),
            "extra_vs_tariff": S(extra_left),
            **{f"{name}_vs_tariff": S(off) for name, off in off_tariff.items()},
            # -log of how often this zone pair's trips pay the surcharge without an end in the zone: 0 when not
            # charged, or when an end is in the zone or unknown; large for a pair that (almost) never pays it.
            "congestion_unexpected": torch.where(
                cong_charged & cong_in_force & ~in_cz & ~unknown_end,
                -torch.log(torch.clamp(pass_rate, min=1.0e-4)),
                zero,
            ),
            "airport_fee_unexpected": F(fee_charged & (rule("airport_fee") > 0) & ~airport_pickup),
            "cbd_fee_unexpected": F(cbd_charged & (rule("cbd_congestion_fee") > 0) & ~cbd_applies),
            "passengers": torch.clamp(c("passenger_count"), 0.0, 9.0),
            "rate_standard": F(rate == 1),
            "rate_jfk": F(jfk_flat),
            "rate_newark": F(rate == 3),
            "rate_out_of_city": F(rate == 4),
            "rate_negotiated": F(rate == 5),
            "rate_other": F((rate < 1) | (rate > 5)),
            "pay_card": F(pay == 1),
            "pay_cash": F(pay == 2),
            "pay_other": F((pay != 1) & (pay != 2)),
            "vendor_1": F(vendor == 1),
            "vendor_2": F(vendor == 2),
            "jfk_rate_off_route": F(jfk_flat & ~at_pu["jfk"] & ~at_do["jfk"] & ~unknown_end),
            # Rate code 4 (the out-of-city rate, double the meter) is legal only on trips leaving the city.
            "out_of_city_rate_in_city": F((rate == 4) & in_city),
            "pickup_airport": F(at_pu["airport_zone"]),
            "dropoff_airport": F(at_do["airport_zone"]),
            "pickup_manhattan": F(at_pu["manhattan"]),
            "dropoff_manhattan": F(at_do["manhattan"]),
            "pickup_congestion_zone": F(at_pu["congestion_zone"]),
            "dropoff_congestion_zone": F(at_do["congestion_zone"]),
            "pickup_relief_zone": F(at_pu["congestion_relief_zone"]),
            "dropoff_relief_zone": F(at_do["congestion_relief_zone"]),
            "pickup_unknown_zone": F(at_pu["unknown"]),
            "dropoff_unknown_zone": F(at_do["unknown"]),
            "same_zone": F(same_zone),
            "route_distance": route,
            "route_duration": route_minutes,
            "hour_sin": torch.sin(hour_angle),
            "hour_cos": torch.cos(hour_angle),
            "weekday_sin": torch.sin(wd_angle),
            "weekday_cos": torch.cos(wd_angle),
            "night_hours": F(night),
            "rush_hours": F(rush),
        }
        feats = _assemble(cols, raw.dtype)
        # A feature is computable when all its inputs are present: missing count of needed inputs == 0.
        missing_needed = (~present).to(raw.dtype) @ self.dependency.t()
        mask = missing_needed < 0.5
        feats = torch.where(mask, feats, torch.zeros_like(feats))
        return feats, mask, present


def _assemble(cols: dict[str, torch.Tensor | tuple[str, torch.Tensor]], dtype: torch.dtype) -> torch.Tensor:
    """[B, K] features in ``FEATURE_NAMES`` order from [B, 1] columns, each transform applied once to all the
    columns that share it.

    A signed log or a bool-to-float cast per feature would be one graph node per feature each; joining the
    columns of a kind and transforming the block keeps the exported graph's node count (and ONNX Runtime's
    per-call overhead) down without changing a single value.
    """
    kinds: dict[str, list[torch.Tensor]] = {"slog": [], "flag": [], "plain": []}
    where: dict[str, tuple[str, int]] = {}
    for name in FEATURE_NAMES:
        value = cols[name]
        kind, tensor = value if isinstance(value, tuple) else ("plain", value)
        where[name] = (kind, len(kinds[kind]))
        kinds[kind].append(tensor)
    blocks = {
        "slog": slog(torch.cat(kinds["slog"], dim=1)),
        "flag": torch.cat(kinds["flag"], dim=1).to(dtype),
        "plain": torch.cat(kinds["plain"], dim=1),
    }
    offset = {"slog": 0, "flag": len(kinds["slog"]), "plain": len(kinds["slog"]) + len(kinds["flag"])}
    order = torch.tensor([offset[kind] + i for kind, i in (where[name] for name in FEATURE_NAMES)])
    # Reordered as rows of the transposed block: ONNX Runtime's gather copies whole rows along axis 0, but goes
    # element by element along axis 1 (at batch 1,024 that one node took about a quarter of the feature graph's time).
    joined = torch.cat([blocks["slog"], blocks["flag"], blocks["plain"]], dim=1)
    return torch.index_select(joined.t(), 0, order).t()


def zone_slot(v: torch.Tensor, given: torch.Tensor) -> torch.Tensor:
    """Location ids -> long zone slots (0 when missing or out of 1..265), whatever the shape."""
    v = torch.round(torch.where(given, v, 0.0))
    valid = (v >= 1) & (v <= N_ZONE_SLOTS - 1)
    return torch.where(valid, v, 0.0).to(torch.long)


def _isin(v: torch.Tensor, values: tuple[int, ...]) -> torch.Tensor:
    out = torch.zeros_like(v, dtype=torch.bool)
    for value in values:
        out = out | (v == value)
    return out


def _in_windows(asks: tuple[tuple[torch.Tensor, tuple[float, float], float], ...]) -> tuple[torch.Tensor, ...]:
    """For each (hour [B, 1], window, slack): hour of day inside [start - slack, end + slack), wrapping past
    midnight when start > end (8 pm - 6 am). All asked at once, as a few [B, n] comparisons."""
    bounds = [((w[0] - slack) % 24.0, (w[1] + slack) % 24.0) for _, w, slack in asks]
    hours = torch.cat([hour for hour, _, _ in asks], dim=1)
    after_start = hours >= torch.tensor([start for start, _ in bounds])
    before_end = hours < torch.tensor([end for _, end in bounds])
    wraps = torch.tensor([start > end for start, end in bounds])
    inside = (after_start & before_end) | (wraps & (after_start | before_end))
    return tuple(torch.split(inside, 1, dim=1))


def _nearest_residual_band(value: torch.Tensor, allowed: torch.Tensor, band: torch.Tensor) -> torch.Tensor:
    """Like ``_nearest_residual`` with each allowed amount widened to ``[a, a + band]`` (unbilled parts)."""
    diff = value - allowed
    diff = torch.where(diff > band, diff - band, torch.where(diff > 0, 0.0, diff))
    pick = torch.argmin(torch.abs(diff), dim=1, keepdim=True)
    return torch.gather(diff, 1, pick)


def _nearest_residual(value: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """``value - a`` ([B, 1]) for the ``a`` of ``allowed`` [B, n] nearest to it: what no allowed amount explains."""
    diff = value - allowed
    pick = torch.argmin(torch.abs(diff), dim=1, keepdim=True)
    return torch.gather(diff, 1, pick)
