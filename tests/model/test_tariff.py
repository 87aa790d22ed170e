"""The dated tariff file: complete, ordered, back to back, and its zone sets are TLC's zones."""

from __future__ import annotations

import copy
import csv
import json
from datetime import date

import pytest

from export.data import TARIFF_PATH, data_dir
from taxifraud import tariff


def doc() -> dict:
    return json.loads(TARIFF_PATH.read_text())


def test_the_committed_tariff_is_valid_and_ordered_without_gaps() -> None:
    t = tariff.load(TARIFF_PATH)
    starts = [p.effective_from for p in t.periods]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    for before, after in zip(t.periods, t.periods[1:], strict=False):
        assert before.effective_until == after.effective_from
    assert t.periods[-1].effective_until is None
    assert all(p.source for p in t.periods), "every period says where its rates come from"


def test_known_rates_on_known_dates() -> None:
    t = tariff.load(TARIFF_PATH)
    assert t.period_on(date(2019, 6, 5)).amounts["improvement_surcharge"] == 0.3
    assert t.period_on(date(2019, 1, 15)).amounts["congestion_surcharge"] == 0.0
    assert t.period_on(date(2019, 2, 2)).amounts["congestion_surcharge"] == 2.5
    feb_2025 = t.period_on(date(2025, 2, 3)).amounts
    assert (feb_2025["initial_charge"], feb_2025["unit_charge"], feb_2025["cbd_congestion_fee"]) == (3.0, 0.7, 0.75)
    assert t.since("improvement_surcharge", date(2025, 2, 3)) == date(2022, 12, 19)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["periods"][2].update(effective_from="2021-05-01"), "gap"),
        (lambda d: d["periods"][2].update(effective_from="2019-01-01"), "overlap"),
        (lambda d: d["periods"][3].pop("unit_charge"), "missing amounts"),
        (lambda d: d["periods"][-1].update(effective_until="2030-01-01"), "must be open"),
        (lambda d: d["periods"][1].update(effective_until=None), "null but a later period"),
        (lambda d: d["periods"][0].update(mta_tax=-1), "expected dollars"),
        (lambda d: d["zones"]["congestion_zone"].update(location_ids=[0, 300]), "location ids"),
    ],
    ids=["gap", "overlap", "missing", "open-end", "early-null", "negative", "zones"],
)
def test_a_broken_tariff_is_refused_with_the_reason(edit, message) -> None:
    broken = copy.deepcopy(doc())
    edit(broken)
    with pytest.raises(tariff.TariffError, match=message):
        tariff.parse(broken)


def test_zone_sets_are_manhattan_zones_and_airports() -> None:
    lookup = data_dir() / "taxi_zone_lookup.csv"
    if not lookup.exists():
        pytest.skip("shared data not available")
    with lookup.open(newline="") as fh:
        borough = {int(r["locationid"]): r["borough"] for r in csv.DictReader(fh)}
    t = tariff.load(TARIFF_PATH)
    assert all(borough[z] == "Manhattan" for z in t.zones["congestion_zone"])
    assert set(t.zones["congestion_relief_zone"]) <= set(t.zones["congestion_zone"]), "60th St is south of 96th"
    assert {borough[z] for z in t.zones["airports"]} == {"Queens", "EWR"}
