"""Plots and the model card, generated from ``evaluation.json`` so no number in them is typed by hand."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from export import scenarios
from export.detection_metrics import auroc, pr_curve
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
    "total_gap": "signed log1p(total - sum of parts), after the nearest vendor convention (congestion surcharge / "
    "airport fee left out, newer fees unitemised)",
    "tip_units": "signed log1p(tip / unit charge)",
    "tip_share": "signed log1p(tip / max(abs(fare), 2.5))",
    "tolls": "signed log1p(tolls_amount)",
    "extra_units": "signed log1p(extra / unit charge)",
    "extra_vs_tariff": "signed log1p(extra - the nearest legal combination of the night / rush-hour / LaGuardia "
    "surcharges for the hours the ride touched and its zones, and a folded congestion surcharge or airport fee)",
    "mta_tax_vs_tariff": "signed log1p(mta_tax - the nearer of $0 and the tariff's MTA tax)",
    "improvement_vs_tariff": "signed log1p(improvement surcharge - the nearer of $0 and the tariff's)",
    "congestion_vs_tariff": "signed log1p(congestion surcharge - the nearer of $0 and the tariff's)",
    "airport_fee_vs_tariff": "signed log1p(airport fee - the nearer of $0 and the tariff's)",
    "cbd_fee_vs_tariff": "signed log1p(congestion relief zone fee - the nearer of $0 and the tariff's)",
    "congestion_unexpected": "-log(share of the zone pair's trips that pay the congestion surcharge with no "
    "end in the zone), when it is billed",
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


def model_card(results: dict[str, Any], meta: dict[str, Any], out: Path) -> None:
    """MODEL_CARD.md: the prose is fixed here, every number comes from ``results`` or ``meta``."""
    tr = results["training"]
    cfg = tr["config"]
    full, seed = results["model_full"], results["model_seed3"]
    bfull, bseed = results["baseline_full"], results["baseline_seed3"]
    g = results["goals"]
    fo, sv = full["overall"], seed["seed_visible"]
    lines: list[str] = []
    add = lines.append
    add("# Model card: `fraud_autoencoder`")
    add("")
    add("*Generated by `taxifraud export` (`export/report.py`) from `evaluation.json`; do not edit by hand.*")
    add("")
    add(f"- model_version: `{meta['model_version']}` (created {meta['created_at']}, ONNX opset {meta['opset']})")
    add(f"- threshold: **{results['threshold']:.4f}** (baked into the graph as `is_fraud = anomaly_score > threshold`)")
    seed_budget_meta = meta.get("fpr_budget_seed", meta["fpr_budget"])
    add(
        f"- false-positive budget on validation months: {meta['fpr_budget']} with all fields, "
        f"{seed_budget_meta} with the 3 seed fields; reasons from z > {meta['reason_min_z']}"
    )
    add("")
    add("## What it is for")
    add("")
    add(
        "Scores single NYC yellow-taxi payment records as they arrive (Kafka consumer -> Triton) and flags "
        "those whose fields are inconsistent with each other, or with TLC's tariff of the trip's date, in ways "
        "normal metered trips are not: fares out of line with distance and time or above what the meter can "
        "bill, impossible speeds, charges without distance, totals that do not add up, abnormal tips, absurd "
        "amounts, and charges that are legal on some trips but not on this one (a night surcharge at noon, a "
        "congestion surcharge with no end in Manhattan, an airport fee on a street pickup). It is trained only "
        "on normal trips of 2018-2020 and 2023-2025; it knows nothing of any specific fraud scheme, and flags "
        "are leads for review, not proof."
    )
    add("")
    add("## Data and months")
    add("")
    add(
        "Sources (see `shared/data/PROVENANCE.md`): `yellow_tripdata_samples_10k` (10,000 real TLC trips per "
        "month, 2018-01..2020-12 with gaps) and `recent/` (TLC's own column names): the main recent set is "
        "`yellow_2024_random123k.parquet`, a random sample of about 0.3% of every month of 2024, all hours, "
        "split by month (eight months train, March and September validate, June and December test). The "
        "2018-2020 months are split **by month** too, so no month contributes to two roles, each role "
        "spanning 2018, 2019 and 2020 (pre/post congestion surcharge, COVID). The other recent files are not "
        "uniform samples of a month: three are single holiday nights (New Year's 2024, Halloween 2024, New "
        "Year's 2025) and one is a 2023-Q1 sample stratified by hour; each role gets a different one: "
        + "; ".join(f"{role}: {', '.join(months)}" for role, months in tr.get("recent_months", {}).items())
        + " (2023 split by month). Recent rows are seen "
        f"{cfg.get('recent_weight', 1)}x per training epoch; they are about a third of the training rows."
    )
    add("")
    add("| role | months | rows | kept after cleaning |")
    add("|---|---|---|---|")
    for part in ("train", "validation", "test"):
        c = tr["cleaning"][part]
        months = [*tr["months"][part], *tr.get("recent_months", {}).get(part, [])]
        add(f"| {part} | {', '.join(months)} | {c['rows']} | {c['kept']} |")
    add("")
    add(
        "Training fits the weights, the scaling constants and the zone-pair route table; validation fits only "
        "the per-feature error spreads, the score units, the threshold and the reason cut-off; test months "
        "are used only for this evaluation."
    )
    add("")
    add("## Cleaning: what counts as a normal trip")
    add("")
    add(
        "A normal trip is a *completed, billable metered trip*. Rows are dropped (from training, and from the "
        "evaluation's negatives) when they fail any rule below; the counts are per split, first failed rule. "
        "Missing optional fields are **kept** (8k rows of 2020 lack vendor, payment, passengers and rate code): "
        "missing fields are normal traffic. Totals that do not add up are kept too: vendor 1 leaves the congestion "
        "surcharge out of `total_amount` (about a third of the rows that carry the surcharge), and some totals "
        "are $1.95 above their parts; the model learns both rather than treating them as fraud. 2018 rows "
        "without a congestion "
        "surcharge get 0.0, the amount actually charged before the surcharge existed."
    )
    add("")
    add("| rule | train | validation | test |")
    add("|---|---|---|---|")
    for rule in tr["cleaning"]["train"]["dropped"]:
        add(
            f"| {rule} | "
            + " | ".join(str(tr["cleaning"][p]["dropped"][rule]) for p in ("train", "validation", "test"))
            + " |"
        )
    add("")
    add(
        "Why these and not tighter ones: each rule describes a trip that cannot have been a normal fare "
        "(refund, void, meter left running, GPS failure), not a suspicious one; the fraud families below are "
        "evaluated on trips that passed these rules, and the real rows they remove are scored in "
        "'Real dirt' below."
    )
    add("")
    add("## Features (computed inside the ONNX graph)")
    add("")
    add(
        f"The graph takes the raw {len(meta['input_columns'])} wire columns (`trip_fields`, NaN = missing) and "
        "computes every feature itself, "
        "so training and serving cannot disagree. A feature whose inputs are not all present is zeroed, "
        "hidden from the network and excluded from the score and reasons (`where`, never `NaN*0`)."
    )
    add("")
    add("| # | feature | inputs | reconstructed with this group hidden | scored | meaning |")
    add("|---|---|---|---|---|---|")
    for i, f in enumerate(FEATURES):
        meaning = FEATURE_MEANING.get(f.name, {"flag": "0/1 indicator", "cyc": "sin/cos of the cycle"}.get(f.unit, ""))
        scored = "yes" if SCORED[i] else "context"
        add(f"| {i} | `{f.name}` | {', '.join(f.inputs)} | {f.group} | {scored} | {meaning} |")
    add("")
    add("Column groups: " + "; ".join(f"**{k}**: {', '.join(v)}" for k, v in GROUPS.items()) + ".")
    add("")
    _tariff_section(meta, add)
    add("## Architecture and training")
    add("")
    add(
        f"Masked autoencoder: input = standardised features (clipped to +-6) and their 0/1 visibility mask "
        f"(2x{len(FEATURES)}), encoder {2 * len(FEATURES)}-{cfg['hidden'][0]}-{cfg['hidden'][1]}-{cfg['bottleneck']}, "
        f"decoder {cfg['bottleneck']}-{cfg['hidden'][1]}-{cfg['hidden'][0]}-{len(FEATURES)}, SiLU. "
        f"At scoring time each of the {len(GROUPS)} column groups is reconstructed with that group hidden "
        f"({len(GROUPS)} passes in one batched call), so a fare is judged by distance, duration, zones, time "
        "and rate code rather than by itself; "
        "a plain autoencoder on three fields has more bottleneck than the data has degrees of freedom and "
        "simply copies an inflated fare back."
    )
    add("")
    add(
        f"Training: {cfg['epochs']} epochs, batch {cfg['batch_size']}, AdamW (lr {cfg['lr']}, one-cycle), Huber loss "
        f"on the hidden group (visible features weight {cfg['visible_weight']}), seed {cfg['seed']}, "
        f"{cfg['threads']} CPU threads, deterministic algorithms; {tr['train_seconds']} s. "
        f"**Missing fields: one model, trained with masked fields**: {cfg['p_seed_only']:.0%} of rows are reduced "
        f"to the 3 seed fields and each optional field unit is dropped with p={cfg['p_drop_optional']}. One model "
        "rather than one per field set, because clients send every subset of the optional fields and a hidden "
        "field and a missing field look the same to this network by construction."
    )
    add("")
    add("## Score and threshold")
    add("")
    add(
        "`feature_errors[k] = |z_k - zhat_k| / spread[n_present, k]`, where `spread` is a robust sigma of "
        "feature k's reconstruction error on **validation** months: the 99th percentile of |z - zhat| / 2.576, "
        "the body of the error; its tail is left to the rarity curve below, so a feature that is exactly right "
        "on almost every ordinary trip (a tariff check) keeps a spread of cents. It is looked up by how many of "
        "the input columns are present (a "
        "3-field reconstruction is vaguer than a 17-field one, and one spread for both would make the 3-field "
        "body either noisy or blind) and by payment class (card, cash, other or missing: a cash trip's "
        "recorded tip is always $0 while a card trip's varies, and the 2020 rows without payment type price "
        "differently). Spreads have a floor of 0.1 feature units (about 10%), and of 0.02 (2 cents) for the "
        "tariff checks, whose amounts are exact, so cents of rounding never look like fraud."
    )
    add("")
    add(
        "`feature_errors[k]` is that z turned into **rarity**: -log10 of the share of ordinary validation "
        "trips whose error on feature k is at least as large, read off a piecewise-linear curve through the "
        "feature's validation quantiles at 50%, 90%, 99%, 99.9% and 99.99% (continued with its last slope, "
        "and never more lenient than a Gaussian of sigma = the spread). 3 means 'one ordinary trip in a "
        "thousand deviates this much'. "
        "`anomaly_score` is the largest `feature_errors[k]` over computable **scored** features (charges, "
        "distance, duration, speed and the route; `model_meta.json: scored_features`), so one absurd field is "
        "enough. Context features (rate code, payment type, passengers, zone flags, time of day) are "
        "reconstructed, feed every other pass and appear in `feature_errors`, but are not judged themselves: "
        "on validation months rare but legitimate values (Newark and out-of-city rate codes, disputes) made "
        "up most of the false alarms, and an unusual hour is not a payment fraud."
    )
    add("")
    cal = tr["calibration"]
    seed_budget = cfg.get("fpr_budget_seed", cfg["fpr_budget"])
    add(
        "The score's unit: for each number of present columns, the max z is divided by its validation "
        "(1 - budget) quantile, so a score of 1 is 'as extreme as the rarest normal trips with this many "
        f"fields'. The budget is **{cfg['fpr_budget']}** for full records (14+ present columns) and "
        f"**{seed_budget}** for the 3-field seed body, log-interpolated in between: fewer fields give a vaguer "
        "reconstruction, and a 3-field client buys recall on what 3 fields can show with more false alarms. "
        "0.2% for full records because precision >= 0.95 at 5% prevalence needs FPR <= ~0.25% at 90% recall; "
        "0.5% for the seed body leaves margin under its 1% goal."
    )
    add("")
    add(
        f"Threshold rule: the smallest threshold whose false-positive rate on the validation months' clean trips "
        f"is within budget both with all fields and with only the 3 seed fields, i.e. the larger of the two "
        f"quantiles: full {cal['quantile_full']:.4f}, seed {cal['quantile_seed']:.4f} -> **{cal['threshold']:.4f}** "
        f"(validation FPR full {cal['validation_fpr_full']:.4f}, seed {cal['validation_fpr_seed']:.4f}). "
        "It is a constant in the ONNX graph and copied to `model_meta.json`, so `is_fraud` is the same decision "
        "in Triton, `taxifraud score` and the verdicts."
    )
    add("")
    add(
        f"Reasons: features with `feature_errors` above `reason_min_z` = {meta['reason_min_z']} become reasons "
        "(one per family, at most 3: impossible physics first, then scored features, then context; a second or "
        "third reason needs a third of the strongest one's z, so consequences of one anomaly do not pile up). "
        "The "
        "cut-off is 0.9 x threshold x the smallest score unit over field counts, so every flagged row gets "
        "at least one reason."
    )
    add("")
    _calibration_choice(add)
    add("## Evaluation on test months")
    add("")
    add(
        f"Test months {', '.join(results['test_months'])}: clean trips split at random into negatives "
        f"({fo['n_negative']}) and bases for planted fraud ({fo['n_positive']} rows, "
        f"{fo['n_positive'] // len(scenarios.FAMILIES)} per family). Precision is stated at **5% fraud "
        "prevalence** (positives weighted; per family: that family alone at 5%). Scores are from ONNX Runtime "
        "on the exported file."
    )
    add("")
    add("| model, input | precision | recall | FPR | AUROC |")
    add("|---|---|---|---|---|")
    add(_metric_row("this model, all fields", fo))
    add(_metric_row("this model, 3 seed fields (all families)", seed["overall"]))
    add(_metric_row("this model, 3 seed fields (families they can reveal)", sv))
    add(_metric_row("seed recipe, all fields", bfull["overall"]))
    add(_metric_row("seed recipe, 3 seed fields (families they can reveal)", bseed["seed_visible"]))
    bm, bm3 = results["baseline_full_matched"], results["baseline_seed3_matched"]
    add(_metric_row("seed recipe, all fields, threshold calibrated like ours", bm["overall"]))
    add(_metric_row("seed recipe, 3 fields (revealable), threshold calibrated like ours", bm3["seed_visible"]))
    add("")
    add("Goals:")
    add("")
    gf, gs = g["full"], g["seed"]
    add(
        f"- all fields: precision {fo['precision']:.4f} >= {gf['precision']}: "
        f"{_check(fo['precision'] >= gf['precision'])}; "
        f"recall {fo['recall']:.4f} >= {gf['recall']}: {_check(fo['recall'] >= gf['recall'])}; "
        f"FPR {fo['fpr']:.5f} <= {gf['fpr']}: {_check(fo['fpr'] <= gf['fpr'])}; "
        f"AUROC {fo['auroc']:.4f} >= {gf['auroc']}: {_check(fo['auroc'] >= gf['auroc'])}"
    )
    add(
        f"- 3 seed fields, families they can reveal: recall {sv['recall']:.4f} >= {gs['recall_visible']}: "
        f"{_check(sv['recall'] >= gs['recall_visible'])}; FPR {sv['fpr']:.5f} <= {gs['fpr']}: "
        f"{_check(sv['fpr'] <= gs['fpr'])}; precision at 5% prevalence {sv['precision']:.4f} (no goal; the "
        "larger 3-field budget costs precision)"
    )
    add(f"- FPR with random optional fields missing (p=0.3 each): {results['fpr_partial_fields']:.5f}")
    add("")
    add("False-positive rate by test month (all clean trips of the month):")
    add("")
    add("| month | trips | FPR all fields | FPR 3 seed fields |")
    add("|---|---|---|---|")
    for month, v in results["fpr_by_month"].items():
        add(f"| {month} | {v['n']} | {v['full']:.5f} | {v['seed3']:.5f} |")
    add("")
    add("False-positive rate by population (all clean test trips):")
    add("")
    add("| population | trips | FPR all fields | FPR 3 seed fields |")
    add("|---|---|---|---|")
    for name, v in results["fpr_by_population"].items():
        add(f"| {name} | {v['n']} | {_fmt(v['full'], 5)} | {_fmt(v['seed3'], 5)} |")
    add("")
    add(
        "The rows without vendor, payment type, passengers and rate code (8k, almost all 2020-04..12) carry "
        "fares that do not follow the meter (e.g. $13.63 for 0.4 mi in 4 min): they look like upfront-priced "
        "app trips. With all fields the missing meta fields tell the model which population it is looking "
        "at; with 3 fields nothing does, and they make up most of the 3-field false alarms. A month with more "
        "of them (2020-06 and 2020-12 above) has a higher 3-field false-positive rate."
    )
    add("")
    lc = results["fpr_loose_cleaning"]
    add(
        f"With negatives chosen by a looser rule ({lc['rule']}; {lc['n']} test trips, including the very short "
        f"trips and slow or fast outliers our cleaning drops): FPR {lc['full']:.5f} with all fields, "
        f"{lc['seed3']:.5f} with 3 fields."
    )
    add("")
    _eras_section(results, add)
    add("### Per fraud family (both eras pooled)")
    add("")
    add(
        "| family | planted pattern | 3 fields can reveal | recall all | prec. all | AUROC all | recall 3 | "
        "AUROC 3 | seed recipe recall all | seed recipe recall 3 |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|")
    for name, info in results["families"].items():
        if name not in full["families"]:
            continue
        a, s3 = full["families"][name], seed["families"][name]
        add(
            f"| {name} | {info['description']} | {'yes' if info['seed_visible'] else 'no'} | {_fmt(a['recall'])} | "
            f"{_fmt(a['precision'])} | {_fmt(a['auroc'])} | {_fmt(s3['recall'])} | {_fmt(s3['auroc'])} | "
            f"{_fmt(bfull['families'][name]['recall'])} | {_fmt(bseed['families'][name]['recall'])} |"
        )
    add("")
    add("### Sensitivity: recall against a fixed fare-inflation factor")
    add("")
    add("| factor | recall, all fields | recall, 3 fields | AUROC, all | AUROC, 3 |")
    add("|---|---|---|---|---|")
    sw = results["fare_inflation_sweep"]
    for factor in sw["full"]:
        add(
            f"| x{factor} | {_fmt(sw['full'][factor]['recall'])} | {_fmt(sw['seed3'][factor]['recall'])} | "
            f"{_fmt(sw['full'][factor]['auroc'])} | {_fmt(sw['seed3'][factor]['auroc'])} |"
        )
    add("")
    add("### Probes: single-field edits outside the scenario library")
    add("")
    add(
        "Flag rate with all fields on 2,000 card-paid test trips after one edit (totals recomputed unless the "
        "edit is about the total). These were not designed for and show blind spots as much as strengths:"
    )
    add("")
    add("| edit | flagged |")
    add("|---|---|")
    for name, rate in results["probes"].items():
        add(f"| {name} | {rate:.3f} |")
    add("")
    add("### Real dirt in the test months")
    add("")
    dirt = results["real_dirt"]
    add(
        f"All {dirt['all_rows']['n']} raw test rows: flag rate {dirt['all_rows']['flag_rate']:.4f}; "
        f"clean rows: {dirt['clean_rows']['flag_rate']:.4f}. Rows removed by cleaning, by first failed rule:"
    )
    add("")
    add("| rule | rows | flagged |")
    add("|---|---|---|")
    for rule, v in dirt["by_rule"].items():
        add(f"| {rule} | {v['n']} | {v['flag_rate']:.3f} |")
    add("")
    add("### The seed's recipe, same cases")
    add("")
    add(
        f"5 features (passenger_count, trip_distance, fare_amount, duration, fare per minute), StandardScaler, "
        "5-32-16-8-2 autoencoder, MSE, threshold = 95th percentile of training error "
        f"({results['baseline_threshold']:.4f}); "
        f"retrained on the same training months (`export.model.SeedBaseline`). Its threshold gives it an FPR "
        f"near 5% by construction, so its precision at 5% prevalence cannot exceed ~0.5; its AUROC, which does "
        f"not depend on the threshold, is the fairer comparison: {bfull['overall']['auroc']:.4f} (all fields) vs "
        f"{fo['auroc']:.4f} for this model."
    )
    add("")
    add("## Parity")
    add("")
    par = results.get("parity") or {}
    if par:
        add(
            f"torch vs ONNX Runtime vs Triton (embedded tritonserver, Python backend) on {par['rows']} rows "
            "(real validation trips, the same with 3 fields, and NaN/inf/huge garbage), required to satisfy "
            f"`np.allclose(rtol={par['tolerance']}, atol={par['tolerance']})` and identical `is_fraud`; shown is "
            "the worst |a - b| / (1 + |a|) per output:"
        )
        add("")
        for engine in ("onnxruntime", "triton"):
            if engine in par:
                add(f"- {engine}: " + ", ".join(f"{k} {v:.2e}" for k, v in par[engine].items()))
    else:
        add("Not run for this export.")
    add("")
    add("## Plots")
    add("")
    add("![score distributions](score_distributions.png)")
    add("")
    add("![precision-recall](precision_recall.png)")
    add("")
    add("![recall per family](recall_per_family.png)")
    add("")
    add("## Limits")
    add("")
    add(
        "- Planted fraud is synthetic. Families were written before evaluation and are not tuned against, but "
        "real fraud may be subtler: the sensitivity table shows where small overcharges disappear into the "
        "natural spread of fares (traffic, waiting time, negotiated and airport flat fares)."
    )
    add(
        "- A GPS jump billed at the meter rate keeps fare and distance consistent; only duration, speed and "
        "the zone pair's typical distance (a median per zone pair, no geometry: TLC publishes zones, not "
        "coordinates) contradict it, so jumps on long trips or rarely seen routes are the weakest family."
    )
    add(
        "- Context is trusted, not judged: a driver who sets the out-of-city rate code to double a city fare "
        "makes the fare consistent with the rate code. Catching that needs a rule or labelled cases."
    )
    add(
        "- Totals a few dollars off their parts overlap with a real quirk: a few hundred real totals are "
        "exactly $1.95 above their parts, so small padding is only partly caught."
    )
    add("- Tips, tolls, surcharges and totals are invisible to the 3-field body by definition.")
    add(
        "- Small padding is not caught (see Probes): +$5 of 'extra', +$2 on the total, a 60% card tip. The "
        "spread is per field count and payment class, so it is as wide as card tips and surcharges vary. A "
        "per-trip (heteroscedastic, Laplace-likelihood) spread was tried on validation months and dropped: "
        "the network learned to explain impossible speeds away by predicting a large deviation "
        "(impossible-speed recall collapsed)."
    )
    add(
        "- The tariff file is only as right as its dates: two are estimates (marked `date_is_estimate`: the "
        "$1.75 airport fee, read off the data, and the March 2026 access-fee rise). A wrong date shows up as "
        "`*_vs_tariff` reasons on ordinary trips of the days in between; fix the file and re-export."
    )
    add(
        "- Post-2022 evidence is thin: 33k trips, three of the four files single holiday nights, none after "
        "2025-01-01, so no trip here carries the congestion-relief-zone fee: its features are judged by the "
        "tariff rule alone (amount, place), not by learned experience. The same-cases comparison with the "
        "previous model is the honest part; absolute post-2022 figures rest on few, unusual nights."
    )
    add(
        "- The evaluation's negatives are trips that pass the cleaning rules; the raw-row flag rate above is "
        "what production sees if the same dirt arrives (most of it is flagged, which is arguably right)."
    )
    add(
        "- The GPU config runs TensorRT in FP16: parity (1e-5) is verified for FP32 (ONNX Runtime CPU, the "
        "embedded Triton); in FP16 scores within ~0.1% of the threshold may flip. Inputs and outputs are "
        "clipped to 1e4 so FP16 cannot overflow into NaN, but no GPU was available to measure it."
    )
    add("")
    add("## How the design was chosen (and what the test months saw)")
    add("")
    add(
        "This revision (the tariff, both eras, context charges, rarity): its first trained version was "
        "evaluated on the test months of both eras and showed the context families and gps_jump weak; the "
        "changes after that (surcharge windows the ride ran into, the congestion pass-through table, the JFK "
        "rate check, rarity instead of z, the 2-cent floor for tariff amounts) were compared on validation "
        "months only. One scenario change was made then: gps_jump and impossible_speed bill their phantom "
        "miles at the trip's own tariff ($3.50/mi after 2022-12-19) instead of a fixed $2.50, because a fixed "
        "2018 rate made the planted fraud cheaper than the meter on 2023+ trips. "
        "The scenario library was written before the first model. The first three versions of the model were "
        "evaluated on the test months; after that, design choices were compared on **validation** months only "
        "(normals plus the same scenario families, different random draws), and the test months were only "
        "looked at after a change had been adopted on validation evidence. Choices made that way: six column "
        "groups instead of four (distance and "
        "duration judged separately), the tail-aware spread, spreads per payment class, the per-field-count "
        "score unit, a zone-pair "
        "route table, scoring only charge and trip features, a wider network (256-128-32; 24 epochs gave "
        "nothing over 12), and the 0.5% budget for 3-field bodies. Scenario *parameters* were never changed. "
        "The scenario families and the test months therefore measure a model that was designed with these "
        "families in mind; held-out months and fraud patterns the author did not write are the real test."
    )
    add("")
    from export import card_sections

    add(card_sections.cost_and_rules(results, meta))
    add("## Reproduce")
    add("")
    add(
        "A new TLC period (a fare change, a new fee) is a new entry in `tariff.json` and `taxifraud export` "
        "(it bakes the file into the graph; the network is not retrained). `tests/model/test_tariff.py` "
        "validates the file: every amount present, dates ordered, periods back to back."
    )
    add("")
    add("```")
    add("taxifraud train            # python -m export.train --out build/model")
    add("taxifraud export           # ONNX, parity torch / ONNX Runtime / Triton, evaluation, this card")
    add("```")
    add("")
    add(
        f"Seeded and deterministic: training took {tr['train_seconds']} s on {cfg['threads']} CPU threads "
        "(including the seed recipe and calibration), and a rerun on the same kind of CPU writes a "
        "byte-identical `model.onnx` (the hash in `model_version` is of that file). `taxifraud export` "
        "refuses to finish if torch, ONNX Runtime and Triton disagree beyond the parity tolerance."
    )
    add("")
    (out / "MODEL_CARD.md").write_text("\n".join(lines))


def card_from_evaluation(model_dir: Path) -> Path:
    """Re-render ``model_dir``'s MODEL_CARD.md from its committed evaluation.json and version 1's
    model_meta.json, without training or exporting (for a change to the card's words)."""
    results = json.loads((model_dir / "evaluation.json").read_text())
    meta = json.loads((model_dir / "1" / "model_meta.json").read_text())
    model_card(results, meta, model_dir)
    return model_dir / "MODEL_CARD.md"


def _tariff_section(meta: dict[str, Any], add: Any) -> None:
    """The dated tariff baked into this graph, period by period (from ``model_meta.json``)."""
    doc = meta.get("tariff")
    if not doc:
        return
    add("## The tariff (data, not code)")
    add("")
    add(
        f"`tariff.json` version `{doc['version']}`, baked into the graph at export: every money feature is "
        "measured against the period in force on the trip's pickup date (a record without a date: the current "
        "period). Fares become meter *units* ((fare - initial charge) / unit charge), fixed charges become "
        "'charged minus the nearer of $0 and the rule's amount', and the conditional ones are checked against "
        "the zone sets their rules name, so an ordinary 2025 trip looks like an ordinary 2019 trip to the network."
    )
    add("")
    keys = (
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
    )
    add("| from | until | " + " | ".join(keys) + " |")
    add("|---|---|" + "---|" * len(keys))
    for p in doc["periods"]:
        until = p.get("effective_until") or "in force"
        mark = " (date estimated)" if p.get("date_is_estimate") else ""
        add(f"| {p['effective_from']}{mark} | {until} | " + " | ".join(f"{p[k]:.2f}" for k in keys) + " |")
    add("")


def _calibration_choice(add: Any) -> None:
    add("### Why a maximum, and one budget")
    add("")
    add(
        "The score is the *largest* calibrated deviation, not a sum over features: a summed or averaged "
        "reconstruction error lets one decisive deviation (a night surcharge at noon moves one feature by a "
        "dollar and nothing else) drown in the ordinary noise of the fifty others, which is what made the "
        "previous model rank such trips above ordinary ones (AUROC) without flagging them. Each feature's "
        "error is divided by its own validation spread, and the tariff features are exactly zero on almost "
        "every ordinary trip, so a charge the tariff does not allow is many spreads out on its own. One "
        "false-positive budget is still stated for the whole score (per number of present fields, see above): "
        "the maximum over features is calibrated as one statistic, so adding features cannot silently add "
        "false alarms."
    )
    add("")


def _eras_section(results: dict[str, Any], add: Any) -> None:
    """Per era: this model beside the previous one on the same negatives and planted cases."""
    eras = results.get("eras")
    if not eras:
        return
    prev = results.get("previous_model", {})
    goals = {"2018-2020": 0.005, "2023-2025": 0.005}
    add("### Both eras, this model beside the previous one (same cases)")
    add("")
    add(
        f"The previous model is `{prev.get('model_version', '?')}` "
        f"(threshold {prev.get('threshold', float('nan')):.4f}; "
        "kept in `export/previous_model/`), given the columns it knows. Goals: recall >= 0.90 per family, "
        "FPR <= 0.5% in both eras, AUROC >= 0.99; 3 seed fields: recall >= 0.95 "
        "on the families they can reveal at FPR <= 1%."
    )
    add("")
    add("| era | negatives | model | FPR | recall | AUROC | 3 fields: FPR | 3 fields: recall (revealable) |")
    add("|---|---|---|---|---|---|---|---|")
    for era, e in eras.items():
        for label, full_key, seed_key in (
            ("this", "model_full", "model_seed3"),
            ("previous", "previous_full", "previous_seed3"),
        ):
            f, s3 = e[full_key]["overall"], e[seed_key]
            add(
                f"| {era} | {e['n_negative']} | {label} | {f['fpr']:.5f} | {f['recall']:.4f} | {f['auroc']:.4f} | "
                f"{s3['overall']['fpr']:.5f} | {s3['seed_visible']['recall']:.4f} |"
            )
    add("")
    for era, e in eras.items():
        f = e["model_full"]["overall"]
        ok = f["fpr"] <= goals.get(era, 0.005) and f["auroc"] >= 0.99
        fams = e["model_full"]["families"]
        weak = [n for n, m in fams.items() if m["recall"] < 0.9]
        add(
            f"- {era}: FPR {f['fpr']:.5f} <= {goals.get(era, 0.005)} and AUROC {f['auroc']:.4f} >= 0.99: "
            f"{_check(ok)}; families under 0.90 recall: {', '.join(weak) if weak else 'none'}"
        )
    add("")
    add(
        "How often ordinary clean test trips already fail a rule check (share of trips where the check is not 0). "
        "A context family cannot be caught more often than the false-positive budget allows when ordinary trips "
        "carry the same charge about as often: for `extra_vs_tariff` these are real trips billed a night or "
        "rush-hour amount outside its hours (or meters whose clock is off by more than a quarter hour)."
    )
    add("")
    rules = list(next(iter(eras.values())).get("rule_base_rates", {}))
    if rules:
        add("| rule check | " + " | ".join(eras) + " |")
        add("|---|" + "---|" * len(eras))
        for rule in rules:
            add(f"| `{rule}` | " + " | ".join(f"{e['rule_base_rates'][rule]:.4%}" for e in eras.values()) + " |")
        add("")
    add("Recall per family and era (this model / previous model, all fields):")
    add("")
    names = list(results["families"])
    add("| family | " + " | ".join(eras) + " |")
    add("|---|" + "---|" * len(eras))
    for name in names:
        cells = []
        for e in eras.values():
            a = e["model_full"]["families"].get(name)
            b = e["previous_full"]["families"].get(name)
            cells.append(f"{a['recall']:.3f} / {b['recall']:.3f}" if a and b else "not in force")
        add(f"| {name} | " + " | ".join(cells) + " |")
    add("")
