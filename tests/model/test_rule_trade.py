"""The model card's trade tables: each row must be the model's own decision with that rule's cut-off."""

from __future__ import annotations

import math

import numpy as np
import torch

from export.data import TARIFF_PATH
from export.feature_specs import FEATURE_INDEX
from export.model import FraudAutoencoder
from export.rule_trades import card_tables, rule_trade
from taxifraud import tariff
from taxifraud.wire import encode_rows
from tests.model.conftest import trip

GOALS = {"2018-2020": 0.005, "2023-2025": 0.005}


def _model() -> FraudAutoencoder:
    """A small untrained model whose route table makes Midtown -> Upper East Side a 2.5 mi, 15 min ride."""
    torch.manual_seed(7)
    model = FraudAutoencoder((8, 8), 4)
    graph = model.features
    graph.set_zone_boroughs({161: "Manhattan", 237: "Manhattan"})
    graph.set_tariff(tariff.load(TARIFF_PATH))
    graph.route_log_distance.fill_(math.log1p(2.5))
    graph.route_log_minutes.fill_(math.log1p(15.0))
    graph.route_spread_distance.fill_(0.25)
    graph.route_spread_minutes.fill_(0.25)
    graph.route_log_speed.fill_(math.log1p(10.0))
    graph.route_spread_speed.fill_(0.25)
    graph.route_trips.fill_(100.0)
    return model.eval()


def _rows() -> np.ndarray:
    """The same ride stretched 1x to 5x in miles and minutes (meter and total follow), every 0.1x."""
    rows = []
    for f in np.arange(1.0, 5.01, 0.1):
        fare = round(2.5 + 10.0 * f, 2)
        rows.append(
            trip(
                trip_distance=round(2.5 * f, 2),
                dropoff_datetime=f"2019-06-05 {14 + int(10 + 15 * f) // 60:02d}:{int(10 + 15 * f) % 60:02d}:00",
                fare_amount=fare,
                total_amount=round(fare + 5.3, 2),
            )
        )
    return encode_rows(rows)


@torch.no_grad()
def test_each_cut_off_gives_what_the_model_flags_with_that_cut_off() -> None:
    model = _model()
    rows = _rows()
    k = FEATURE_INDEX["route_excess"]
    scores = model(torch.from_numpy(rows))[0][:, 0].numpy()
    model.threshold.fill_(float(np.median(scores[scores < 50.0])))  # some rows flagged by the network alone
    cuts = (1.0, 2.0, 3.0, 4.0)
    trade = rule_trade(model, "route_excess", rows, rows[::2], cuts)
    assert float(model.decisive_cut[k]) == 3.5, "the model's own cut-off is restored"
    assert [r["cut"] for r in trade] == [1.0, 2.0, 3.0, 3.5, 4.0], "the model's cut-off is always a row"
    assert [r["current"] for r in trade] == [False, False, False, True, False]
    for r in trade:
        model.decisive_cut[k] = r["cut"]
        flagged = (model(torch.from_numpy(rows))[0][:, 0] > model.threshold).numpy()
        assert r["fpr"] == round(float(flagged.mean()), 5)
        assert r["recall"] == round(float(flagged[::2].mean()), 4)
    fprs = [r["fpr"] for r in trade]
    assert fprs == sorted(fprs, reverse=True) and fprs[0] > fprs[-1], "a lower cut-off flags more, never fewer"


def test_the_card_names_the_cut_offs_where_both_goals_hold_in_every_era() -> None:
    def era(*rows: tuple[float, float, float]) -> dict[str, object]:
        return {
            "rule_trades": {
                "route_excess": {
                    "family": "long_hauling",
                    "rows": [{"cut": c, "current": c == 3.5, "fpr": f, "recall": r} for c, f, r in rows],
                }
            }
        }

    eras = {
        "2018-2020": era((2.5, 0.004, 0.95), (3.0, 0.004, 0.91), (3.5, 0.003, 0.5)),
        "2023-2025": era((2.5, 0.006, 0.97), (3.0, 0.005, 0.90), (3.5, 0.004, 0.6)),
    }
    (trade,) = card_tables(eras, GOALS)
    assert trade["goal_cuts"] == ["3.00"], "2.50 breaks the 2023-2025 FPR goal, 3.50 the recall goal"
    assert [r["current"] for r in trade["rows"]] == [False, False, True]
    assert trade["rows"][1]["fpr"] == [0.004, 0.005] and trade["rows"][1]["recall"] == [0.91, 0.90]
    assert card_tables({"2018-2020": {}}, GOALS) == [], "an evaluation written before the trades has no tables"


def test_a_family_not_planted_in_an_era_has_no_recall_and_the_fpr_still_counts() -> None:
    model = _model()
    rows = _rows()
    trade = rule_trade(model, "route_excess", rows, rows[:0], (3.0,))
    assert all(math.isnan(r["recall"]) for r in trade)
    assert [r["fpr"] >= 0.0 for r in trade] == [True, True]
