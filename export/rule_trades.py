"""The model card's trade tables: what moving a deciding rule's cut-off would cost in false alarms and buy in
recall, for each rule behind a fraud family short of its goal.

The cut-offs are model buffers applied after the network, so a table needs no retraining: one scoring with the
rule switched off says what the rest of the model flags anyway, and the rule's own value decides the rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from export.feature_specs import FEATURE_INDEX
from export.model import OUTPUT_LIMIT, FraudAutoencoder, in_batches

#: A family's recall goal, as the detector issue states it.
RECALL_GOAL = 0.9


@dataclass(frozen=True)
class RuleTrade:
    """One deciding rule the card trades: the family it catches, the cut-offs shown, and how the card reads them."""

    family: str
    cuts: tuple[float, ...]
    what: str  # what the cut-off measures
    header: str  # the table's first column
    label: Callable[[float], str]  # a cut-off as the card prints it
    why: str  # shown when no cut-off meets both goals: why the family's recall stays short


RULE_TRADES: dict[str, RuleTrade] = {
    "route_excess": RuleTrade(
        family="long_hauling",
        cuts=(2.5, 3.0, 3.5, 4.0, 4.5),
        what="`route_excess`, distance and time both this many of the zone pair's spreads beyond its usual route",
        header="cut (spreads)",
        label=lambda cut: f"{cut:.2f}",
        why="the fields of a long way round agree with each other, so only the route gives it away, and ordinary "
        "trips between the same two zones vary widely (TLC publishes zones, not coordinates)",
    ),
    "congestion_unexpected": RuleTrade(
        family="congestion_outside_zone",
        # -log of how often the zone pair's trips pay the surcharge
        cuts=tuple(round(math.log(n), 4) for n in (50, 100, 400, 1000)),
        what="`congestion_unexpected`, the surcharge billed on a zone pair with no end in the zone whose trips pay "
        "it less often than this",
        header="the pair pays it",
        label=lambda cut: f"< 1 in {math.exp(cut):.0f}",
        why="vendor 2's meters bill the surcharge on about 6% of the 2023-2025 training trips with neither end in "
        "Manhattan, and those trips do not differ from its other trips in rate code, payment, airport fee, extra or "
        "distance",
    ),
}


def rule_trade(
    model: FraudAutoencoder, rule: str, negatives: np.ndarray, planted: np.ndarray, cuts: tuple[float, ...]
) -> list[dict[str, Any]]:
    """The false-positive rate and the planted family's recall at each cut-off of one deciding rule (and at the
    model's own), the rest of the model unchanged.

    At cut ``c`` a row is flagged when the rest of the model flags it or the rule's value is past ``c``, which is
    the model's own decision with that cut.
    """
    k = FEATURE_INDEX[rule]
    current = float(model.decisive_cut[k])
    threshold = float(model.threshold)

    def flag_and_value(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats, mask, _ = model.features(t)
        return model(t)[0][:, 0] > threshold, torch.where(mask[:, k], feats[:, k].abs(), 0.0)

    model.decisive_cut[k] = OUTPUT_LIMIT
    try:
        scored = {"negatives": in_batches(flag_and_value, negatives), "planted": in_batches(flag_and_value, planted)}
    finally:
        model.decisive_cut[k] = current
    out = []
    for cut in sorted({*cuts, current}):
        hit = {name: flagged | (value > cut) for name, (flagged, value) in scored.items()}
        out.append(
            {
                "cut": cut,
                "current": cut == current,
                "fpr": round(float(hit["negatives"].mean()), 5) if len(negatives) else float("nan"),
                "recall": round(float(hit["planted"].mean()), 4) if len(planted) else float("nan"),
            }
        )
    return out


def card_tables(eras: Mapping[str, Any], fpr_goals: Mapping[str, float]) -> list[dict[str, Any]]:
    """Per traded rule, each cut-off's FPR and family recall in every era, and the cut-offs (if any) at which the
    family's recall goal and every era's FPR goal both hold; none for an evaluation written before the tables."""
    per_era = [e.get("rule_trades", {}) for e in eras.values()]
    if not per_era or not all(per_era):
        return []
    out = []
    for rule, first in per_era[0].items():
        trade = RULE_TRADES[rule]
        rows = []
        for i, row in enumerate(first["rows"]):
            cells = [t[rule]["rows"][i] for t in per_era]
            met = all(
                c["recall"] >= RECALL_GOAL and c["fpr"] <= fpr_goals[era] for era, c in zip(eras, cells, strict=True)
            )
            rows.append(
                {
                    "label": trade.label(row["cut"]),
                    "current": row["current"],
                    "fpr": [c["fpr"] for c in cells],
                    "recall": [c["recall"] for c in cells],
                    "met": met,
                }
            )
        out.append(
            {
                "rule": rule,
                "family": first["family"],
                "what": trade.what,
                "header": trade.header,
                "why": trade.why,
                "rows": rows,
                "goal_cuts": [r["label"] for r in rows if r["met"]],
            }
        )
    return out
