"""Plots and the model card, generated from ``evaluation.json`` so no number in them is typed by hand."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from export import rule_trades, scenarios
from export.detection_metrics import auroc, pr_curve
from export.feature_specs import TIP_FARE_RATIO, WHOLE_TIP_FARE_RATIO
from export.features import FEATURES, GROUPS, SCORED

log = logging.getLogger(__name__)

FEATURE_MEANING = {
    "distance": "signed log1p(trip_distance)",
    "duration": "signed log1p(duration_minutes)",
    "speed_mph": "log1p(distance / hours); a duration <= 0 counts as 1 s, so it explodes",
    "speed_over_limit": "log1p(max(0, mph - 80)): a rule check, 0 on every real trip",
    "distance_vs_route": "log1p(distance) - route_distance",
    "duration_vs_route": "log1p(duration) - route_duration",
    "fare_units": "signed log1p((fare - initial charge) / unit charge): the meter units billed, "
    "by the tariff of the trip's date",
    "units_per_mile": "signed log1p(units / max(distance, 0.05)); a metered trip bills at least 5 per mile",
    "units_per_minute": "signed log1p(units / max(duration, 0.25))",
    "fare_above_meter": "signed log1p(fare - the most the meter can bill: initial + unit x (5 x miles + minutes)); "
    "rate code 1 or missing only",
    "total_gap": "signed log1p(total - sum of parts), after the nearest vendor convention (congestion surcharge, "
    "airport fee or relief-zone fee left out, newer fees unitemised)",
    "tip_units": "signed log1p(tip / unit charge)",
    "tip_share": "signed log1p(tip / max(abs(fare), 2.5))",
    "tolls": "signed log1p(tolls_amount)",
    "extra_units": "signed log1p(extra / unit charge)",
    "extra_vs_tariff": "signed log1p(extra - the nearest legal combination of the night / rush-hour / LaGuardia "
    "surcharges for the hours the ride touched and its zones (in rush hour the smaller night amount too), and a "
    "folded congestion surcharge, airport fee or relief-zone fee)",
    "mta_tax_vs_tariff": "signed log1p(mta_tax - the nearer of $0 and the tariff's MTA tax)",
    "improvement_vs_tariff": "signed log1p(improvement surcharge - the nearer of $0 and the tariff's)",
    "congestion_vs_tariff": "signed log1p(congestion surcharge - the nearer of $0 and the tariff's)",
    "airport_fee_vs_tariff": "signed log1p(airport fee - the nearer of $0 and the tariff's)",
    "cbd_fee_vs_tariff": "signed log1p(congestion relief zone fee - the nearer of $0 and the tariff's)",
    "route_excess": "max(0, the smaller of distance and minutes beyond the zone pair's route at the pickup hour, in "
    "its spreads, x 1/sqrt(1 + 20/pair trips)); 0 within one zone or at an unknown end",
    "distance_beyond_time": "max(0, (log1p distance - route)/spread - max(0, same for minutes)); 0 within one zone "
    "and for unknown or rarely seen pairs",
    "speed_beyond_route": "max(0, (log1p mph - the zone pair's usual)/its spread); 0 for unknown or rarely seen pairs",
    "fare_without_distance": "1 when distance < 0.1 mi and 8+ meter units, metered",
    "fare_beyond_meter": "signed log1p(fare - (initial + 1.2 x unit x (5 x miles + minutes))), rate code 1 only",
    "tip_beyond_fare": f"1 when tip > {TIP_FARE_RATIO:g} x max(fare, 2.5) "
    f"({WHOLE_TIP_FARE_RATIO:g} x for a whole-dollar tip)",
    "tolls_unexpected": "-log(share of the zone pair's trips that pay tolls), when tolls are billed",
    "congestion_unexpected": "-log(share of the zone pair's trips that pay the congestion surcharge with no "
    "end in the zone: before the 2022-12-19 fare change, of that era's trips; for vendor 1, the lower of its own "
    "trips' and all trips'), when it is billed",
    "airport_fee_unexpected": "1 when the airport fee is billed on a non-airport pickup",
    "cbd_fee_unexpected": "1 when the relief-zone fee is billed, neither end is below 60th St and no congestion "
    "surcharge was billed",
    "passengers": "passenger_count clipped to 0..9",
    "route_distance": "typical log1p(distance) of the pickup/dropoff zone pair in training, shrunk to its borough pair",
    "route_duration": "typical log1p(duration) of the zone pair in training, shrunk to its borough pair",
    "same_zone": "pickup zone == dropoff zone",
    "night_hours": "pickup 8 pm - 6 am (the night surcharge's hours)",
    "rush_hours": "weekday pickup 4 pm - 8 pm (the rush-hour surcharge's hours)",
}


def _fmt(v: Any, digits: int = 4) -> str:
    if isinstance(v, float):
        if np.isnan(v):
            return "n/a"
        return f"{v:.{digits}f}"
    return str(v)


def plots(results: dict[str, Any], score_arrays: dict[str, dict[str, np.ndarray]], fam: np.ndarray, out: Path) -> None:
    """score_distributions.png, precision_recall.png, recall_per_family.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thr = results["threshold"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, mode, title in zip(axes, ("model_full", "model_seed3"), ("all fields", "3 seed fields"), strict=True):
        s = score_arrays[mode]
        hi = max(float(np.quantile(np.concatenate([s["negative"], s["positive"]]), 0.995)), thr * 1.5)
        bins = np.logspace(np.log10(0.05), np.log10(hi), 80)
        ax.hist(np.clip(s["negative"], 0.05, hi), bins=bins, alpha=0.6, density=True, label="normal (test months)")
        ax.hist(np.clip(s["positive"], 0.05, hi), bins=bins, alpha=0.6, density=True, label="planted fraud")
        ax.axvline(thr, color="k", ls="--", label=f"threshold {thr:.2f}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("anomaly_score (max per-feature z)")
        ax.set_title(f"Score distributions, {title}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "score_distributions.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 5))
    visible = np.isin(fam, [i for i, f in enumerate(scenarios.FAMILIES) if f.seed_visible])
    for mode, label, rows in (
        ("model_full", "model, all fields", slice(None)),
        ("model_seed3", "model, 3 seed fields, all families", slice(None)),
        ("model_seed3", "model, 3 seed fields, revealable families", visible),
        ("baseline_full", "seed recipe, all fields", slice(None)),
    ):
        neg, pos = score_arrays[mode]["negative"], score_arrays[mode]["positive"][rows]
        rec, prec = pr_curve(neg, pos)
        ax.plot(rec, prec, label=f"{label} (AUROC {auroc(neg, pos):.3f})")
    for mode, key, marker in (("model_full", "overall", "o"), ("model_seed3", "seed_visible", "s")):
        o = results[mode][key]
        ax.plot(o["recall"], o["precision"], marker, color="k")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision at 5% prevalence")
    ax.set_ylim(0, 1.02)
    ax.set_title("Precision-recall on test months (markers: shipped threshold)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(out / "precision_recall.png", dpi=110)
    plt.close(fig)

    names = list(scenarios.FAMILY_NAMES)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(11, 4.5))
    width = 0.2
    for i, (mode, label) in enumerate(
        (
            ("model_full", "model, all fields"),
            ("model_seed3", "model, 3 seed fields"),
            ("baseline_full", "seed recipe, all fields"),
            ("baseline_seed3", "seed recipe, 3 fields"),
        )
    ):
        label = f"{label} (FPR {results[mode]['overall']['fpr']:.2%})"
        ax.bar(x + (i - 1.5) * width, [results[mode]["families"][n]["recall"] for n in names], width, label=label)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("recall")
    ax.set_ylim(0, 1.05)
    ax.set_title("Recall per fraud family (test months)")
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    fig.tight_layout()
    fig.savefig(out / "recall_per_family.png", dpi=110)
    plt.close(fig)


def _metric_row(name: str, m: dict[str, Any]) -> str:
    """One markdown table row: precision, recall, FPR, AUROC."""
    return f"| {name} | {_fmt(m['precision'])} | {_fmt(m['recall'])} | {_fmt(m['fpr'], 5)} | {_fmt(m['auroc'])} |"


def _check(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _para(text: str) -> str:
    """A ``{% filter para %}`` block of the card template: one paragraph, its lines joined with a space."""
    return " ".join(line.rstrip() for line in text.strip().splitlines()) + "\n"


def _environment() -> Any:
    import jinja2

    from export.card_sections import TEMPLATES

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters |= {"para": _para, "fmt": _fmt, "check": _check, "f": format}
    return env


TARIFF_KEYS = (
    "initial_charge",
    "unit_charge",
    "improvement_surcharge",
    "night_surcharge",
    "rush_hour_surcharge",
    "jfk_flat_fare",
    "lga_surcharge",
    "congestion_surcharge",
    "airport_fee",
    "cbd_congestion_fee",
    "for_hire_congestion_surcharge",
)
#: The FPR goal of each era in the card's "Both eras" section.
ERA_FPR_GOALS = {"2018-2020": 0.005, "2023-2025": 0.005}


def _card_context(results: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """What the template needs beyond ``results`` and ``meta``: shortcuts and the few derived figures."""
    from export import card_sections

    tr = results["training"]
    cfg = tr["config"]
    full, seed = results["model_full"], results["model_seed3"]
    bfull, bseed = results["baseline_full"], results["baseline_seed3"]
    fo = full["overall"]
    bm, bm3 = results["baseline_full_matched"], results["baseline_seed3_matched"]
    recent = tr.get("recent_months", {})
    eras = results.get("eras") or {}
    return {
        "results": results,
        "meta": meta,
        "tr": tr,
        "cfg": cfg,
        "full": full,
        "seed": seed,
        "bfull": bfull,
        "bseed": bseed,
        "fo": fo,
        "sv": seed["seed_visible"],
        "gf": results["goals"]["full"],
        "gs": results["goals"]["seed"],
        "cal": tr["calibration"],
        "lc": results["fpr_loose_cleaning"],
        "dirt": results["real_dirt"],
        "sw": results["fare_inflation_sweep"],
        "parity": results.get("parity") or {},
        "nan": float("nan"),
        "seed_budget_meta": meta.get("fpr_budget_seed", meta["fpr_budget"]),
        "seed_budget": cfg.get("fpr_budget_seed", cfg["fpr_budget"]),
        "recent_roles": "; ".join(f"{role}: {', '.join(months)}" for role, months in recent.items()),
        "roles": [
            {
                "part": part,
                "months": [*tr["months"][part], *recent.get(part, [])],
                "rows": tr["cleaning"][part]["rows"],
                "kept": tr["cleaning"][part]["kept"],
            }
            for part in ("train", "validation", "test")
        ],
        "n_features": len(FEATURES),
        "features": [
            {
                "name": f.name,
                "inputs": f.inputs,
                "group": f.group,
                "scored": "yes" if SCORED[i] else "context",
                "meaning": FEATURE_MEANING.get(
                    f.name, {"flag": "0/1 indicator", "cyc": "sin/cos of the cycle"}.get(f.unit, "")
                ),
            }
            for i, f in enumerate(FEATURES)
        ],
        "groups": GROUPS,
        "tariff": meta.get("tariff"),
        "tariff_keys": TARIFF_KEYS,
        "n_families": len(scenarios.FAMILIES),
        "metric_rows": [
            ("this model, all fields", fo),
            ("this model, 3 seed fields (all families)", seed["overall"]),
            ("this model, 3 seed fields (families they can reveal)", seed["seed_visible"]),
            ("seed recipe, all fields", bfull["overall"]),
            ("seed recipe, 3 seed fields (families they can reveal)", bseed["seed_visible"]),
            ("seed recipe, all fields, threshold calibrated like ours", bm["overall"]),
            ("seed recipe, 3 fields (revealable), threshold calibrated like ours", bm3["seed_visible"]),
        ],
        "eras": eras,
        "previous": results.get("previous_model", {}),
        "era_goals": [_era_goal(name, e) for name, e in eras.items()],
        "era_rules": list(next(iter(eras.values())).get("rule_base_rates", {})) if eras else [],
        "rule_trades": rule_trades.card_tables(eras, ERA_FPR_GOALS),
        "cost_and_rules": card_sections.cost_and_rules(results, meta),
    }


def _era_goal(name: str, era: dict[str, Any]) -> dict[str, Any]:
    f = era["model_full"]["overall"]
    goal = ERA_FPR_GOALS.get(name, 0.005)
    return {
        "name": name,
        "fpr": f["fpr"],
        "auroc": f["auroc"],
        "goal": goal,
        "ok": f["fpr"] <= goal and f["auroc"] >= 0.99,
        "weak": [n for n, m in era["model_full"]["families"].items() if m["recall"] < 0.9],
    }


def render_model_card(results: dict[str, Any], meta: dict[str, Any]) -> str:
    """MODEL_CARD.md's text: the prose is in ``templates/model_card.md.j2``, every number from the inputs."""
    return str(_environment().get_template("model_card.md.j2").render(_card_context(results, meta)))


def model_card(results: dict[str, Any], meta: dict[str, Any], out: Path) -> None:
    """Write ``out``/MODEL_CARD.md (see :func:`render_model_card`)."""
    (out / "MODEL_CARD.md").write_text(render_model_card(results, meta))


def card_from_evaluation(model_dir: Path) -> Path:
    """Re-render ``model_dir``'s MODEL_CARD.md from its committed evaluation.json and version 1's
    model_meta.json, without training or exporting (for a change to the card's words)."""
    results = json.loads((model_dir / "evaluation.json").read_text())
    meta = json.loads((model_dir / "1" / "model_meta.json").read_text())
    model_card(results, meta, model_dir)
    return model_dir / "MODEL_CARD.md"
