"""Evaluation on the *test* months: planted fraud families, real dirt, the seed baseline, plots, model card.

Scores come from ONNX Runtime on the exported file (what Triton serves), not from torch, so the
figures describe the shipped artefact. Negatives are test-month trips that pass the cleaning rules;
positives are *other* test-month trips with a fraud family applied (``export.scenarios``). Metrics are
reported at 5% fraud prevalence by weighting the positives (more planted rows per family give tighter
recall estimates without changing the prevalence the precision refers to).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from export import data, scenarios
from export.calibrate import only_fields
from export.detection_metrics import PREVALENCE, auroc, binary_metrics
from export.feature_specs import SEED_FIELDS
from export.model import FraudAutoencoder, SeedBaseline
from export.relief_zone import relief_zone_check
from export.route_reach import reach_table
from export.rule_trades import RULE_TRADES, rule_trade
from taxifraud import tariff
from taxifraud.onnx_scorer import OnnxScorer
from taxifraud.wire import COLUMN_INDEX

log = logging.getLogger(__name__)

FRAUD_PER_FAMILY = 1000
BATCH_FOR_COST = 1024
BASE_SHARE = 0.2  # share of clean test trips used as fraud bases (never also as negatives)
INFLATION_SWEEP = (1.1, 1.25, 1.5, 2.0, 3.0, 5.0)
FAMILY_INDEX = {f.name: i for i, f in enumerate(scenarios.FAMILIES)}
GOALS = {
    "full": {"precision": 0.95, "recall": 0.90, "fpr": 0.005, "auroc": 0.99},
    "seed": {"recall_visible": 0.95, "fpr": 0.01},
}


class PreviousModel:
    """The model this one replaces (``export/previous_model``), scoring the same cases for the model card.

    It reads its own input columns by name (the 17 of the 2018-2020 layout); columns it never knew
    (``airport_fee``, ``cbd_congestion_fee``, ``vendor_id``, ``pickup_day``) are simply not given to it.
    """

    def __init__(self, directory: Path) -> None:
        import onnxruntime as ort

        meta = json.loads((directory / "model_meta.json").read_text())
        self.version = str(meta["model_version"])
        self.threshold = float(meta["threshold"])
        self.columns = [COLUMN_INDEX[c] for c in meta["input_columns"]]
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        self.session = ort.InferenceSession(str(directory / "model.onnx"), options, providers=["CPUExecutionProvider"])

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(rows), 8192):
            batch = np.ascontiguousarray(rows[i : i + 8192][:, self.columns], dtype=np.float32)
            out.append(self.session.run(["anomaly_score"], {"trip_fields": batch})[0][:, 0])
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


PREVIOUS_MODEL_DIR = data.REPO_ROOT / "export" / "previous_model"
ERAS = ("2018-2020", "2023-2025")


class Scorers:
    """The exported ONNX model and the seed baseline, scoring the same rows."""

    def __init__(self, repository_model_dir: Path, baseline: SeedBaseline) -> None:
        self.onnx = OnnxScorer(repository_model_dir.parent, repository_model_dir.name, threads=2)
        self.baseline = baseline

    def model(self, rows: np.ndarray) -> np.ndarray:
        out = [self.onnx.infer(rows[i : i + 8192])["anomaly_score"][:, 0] for i in range(0, len(rows), 8192)]
        return np.concatenate(out)

    @torch.no_grad()
    def seed(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.baseline(torch.from_numpy(rows)).numpy())


def evaluate_mode(
    score: Any, neg: np.ndarray, fraud: np.ndarray, fam: np.ndarray, threshold: float, visible_only: bool
) -> dict[str, Any]:
    """Overall and per-family metrics for one scorer on one field set (scores kept for the plots).

    A family with no planted rows (a rule not in force in these months) is left out, not reported as 0.
    """
    s_neg, s_pos = score(neg), score(fraud)
    fams: dict[str, Any] = {}
    for i, f in enumerate(scenarios.FAMILIES):
        if (fam == i).any():
            fams[f.name] = {**binary_metrics(s_neg, s_pos[fam == i], threshold), "seed_visible": f.seed_visible}
    visible = np.isin(fam, [i for i, f in enumerate(scenarios.FAMILIES) if f.seed_visible])
    out = {
        "overall": binary_metrics(s_neg, s_pos, threshold),
        "families": fams,
        "scores": {"negative": s_neg, "positive": s_pos},
    }
    if visible_only:
        out["seed_visible"] = binary_metrics(s_neg, s_pos[visible], threshold)
    return out


def inflation_sweep(
    score: Any, base: np.ndarray, neg_scores: np.ndarray, threshold: float, seed: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    out = {}
    for factor in INFLATION_SWEEP:
        rows = scenarios.fare_inflation(base, rng, (factor, factor))
        s = score(rows)
        out[str(factor)] = {"recall": round(float((s > threshold).mean()), 4), "auroc": round(auroc(neg_scores, s), 5)}
    return out


def _probe_edits() -> list[tuple[str, Any]]:
    """Single-field edits outside the scenario library: where the model is blind, stated, not hidden."""
    c = COLUMN_INDEX

    def edit(col: str, fn: Any, retotal: bool = True) -> Any:
        def apply(rows: np.ndarray) -> np.ndarray:
            out = rows.copy()
            out[:, c[col]] = fn(rows[:, c[col]])
            return scenarios._retotal(out, rows) if retotal else out

        return apply

    return [
        ("tip kept, payment switched to cash", edit("payment_type", lambda v: np.full_like(v, 2.0), False)),
        ("extra +$5", edit("extra", lambda v: v + 5.0)),
        ("tolls +$20", edit("tolls_amount", lambda v: v + 20.0)),
        ("tip 60% of fare", lambda r: edit("tip_amount", lambda v: r[:, c["fare_amount"]] * 0.6)(r)),
        ("total +$2 over its parts", edit("total_amount", lambda v: v + 2.0, False)),
        ("total $5 under its parts", edit("total_amount", lambda v: v - 5.0, False)),
        ("fare negated (refund)", edit("fare_amount", lambda v: -v)),
        ("distance x3, fare kept", edit("trip_distance", lambda v: v * 3.0, False)),
        ("duration x5", edit("duration_minutes", lambda v: v * 5.0, False)),
        ("9 passengers", edit("passenger_count", lambda v: np.full_like(v, 9.0), False)),
        ("rate code 99", edit("rate_code_id", lambda v: np.full_like(v, 99.0), False)),
    ]


def probes(scorers: Scorers, base: np.ndarray, threshold: float, seed: int) -> dict[str, float]:
    """Flag rate of each probe edit on 2,000 card-paid test trips (all fields)."""
    card = base[base[:, COLUMN_INDEX["payment_type"]] == 1]
    rng = np.random.default_rng(seed)
    rows = card[rng.choice(len(card), size=min(2000, len(card)), replace=False)]
    out = {"unchanged": round(float((scorers.model(rows) > threshold).mean()), 4)}
    for name, apply in _probe_edits():
        out[name] = round(float((scorers.model(apply(rows).astype(np.float32)) > threshold).mean()), 4)
    return out


@torch.no_grad()
def rule_base_rates(model: FraudAutoencoder, rows: np.ndarray) -> dict[str, float]:
    """Share of ordinary (clean) trips on which each rule check is not 0: how often real trips already bill
    what a context family plants, which bounds that family's recall at the stated false-positive budget."""
    from export.feature_specs import FEATURE_INDEX, RULE_CHECKS

    feats, mask, _ = model.features(torch.from_numpy(rows))
    out = {}
    for name in RULE_CHECKS:
        k = FEATURE_INDEX[name]
        computable = mask[:, k]
        hit = (feats[:, k].abs() > 0.01) & computable
        out[name] = round(float(hit.sum()) / max(1, int(computable.sum())), 5)
    return out


def rule_decided_rates(model: FraudAutoencoder, rows: np.ndarray) -> dict[str, float]:
    """Share of ordinary (clean) trips each deciding rule check flags on its own (its value past its cut): what
    each rule costs of the false-positive budget. For a continuous check (a route's excess in spreads) the
    share "not 0" says nothing; this is its price."""
    from export.feature_specs import DECISIVE, FEATURE_INDEX

    feats, mask, _ = model.features(torch.from_numpy(rows))
    out = {}
    for name, cut in DECISIVE.items():
        k = FEATURE_INDEX[name]
        computable = mask[:, k]
        hit = (feats[:, k].abs() > cut) & computable
        out[name] = round(float(hit.sum()) / max(1, int(computable.sum())), 5)
    return out


def dirt_report(scorers: Scorers, raw: data.TripTable, threshold: float) -> dict[str, Any]:
    """What the model says about the test months' real rows that cleaning set aside, per rule."""
    first = data.first_failed_rule(raw)
    names = [name for name, _ in data.clean_rules(raw)]
    flagged = scorers.model(raw.rows) > threshold
    report: dict[str, Any] = {
        "all_rows": {"n": len(raw), "flag_rate": round(float(flagged.mean()), 5)},
        "clean_rows": {"n": int((first < 0).sum()), "flag_rate": round(float(flagged[first < 0].mean()), 5)},
        "by_rule": {},
    }
    for i, name in enumerate(names):
        hit = first == i
        if hit.any():
            report["by_rule"][name] = {"n": int(hit.sum()), "flag_rate": round(float(flagged[hit].mean()), 4)}
    return report


def run(
    model: FraudAutoencoder,
    summary: dict[str, Any],
    repository_model_dir: Path,
    data_root: Path | None,
    parity: dict[str, Any] | None = None,
    model_dir: Path | None = None,
) -> dict[str, Any]:
    """Evaluate on test months; write evaluation.json, plots and MODEL_CARD.md into the model directory."""
    from export.train import DEFAULT_OUT, load_state

    seed = int(summary["config"]["seed"]) + 7
    rng = np.random.default_rng(seed)
    meta = json.loads((repository_model_dir / "1" / "model_meta.json").read_text())
    threshold = float(meta["threshold"])
    baseline = SeedBaseline()
    load_state(baseline, (model_dir or DEFAULT_OUT) / "baseline_state.npz")
    baseline.eval()
    scorers = Scorers(repository_model_dir, baseline)

    raw = data.load_role("test", summary["months"]["test"], data_root)
    keep, _ = data.clean_mask(raw)
    clean = raw.rows[keep]
    recent = data.is_recent(raw)[keep]
    is_base = rng.random(len(clean)) < BASE_SHARE
    neg, base = clean[~is_base], clean[is_base]
    neg_recent, base_recent = recent[~is_base], recent[is_base]
    # Planted fraud per era (each family where its rule was in force), then pooled for the overall figures.
    per_era: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for era, in_era_base, in_era_neg in (
        (ERAS[0], ~base_recent, ~neg_recent),
        (ERAS[1], base_recent, neg_recent),
    ):
        f_rows, f_fam = scenarios.build_fraud(base[in_era_base], FRAUD_PER_FAMILY, rng)
        per_era[era] = (neg[in_era_neg], f_rows, f_fam)
    fraud = np.concatenate([v[1] for v in per_era.values()])
    fam = np.concatenate([v[2] for v in per_era.values()])
    neg3, fraud3 = only_fields(neg, SEED_FIELDS), only_fields(fraud, SEED_FIELDS)
    base_threshold = float(baseline.threshold)

    results: dict[str, Any] = {
        "test_months": [*summary["months"]["test"], *summary.get("recent_months", {}).get("test", [])],
        "prevalence": PREVALENCE,
        "threshold": threshold,
        "model_version": meta["model_version"],
        "families": {
            f.name: {"description": f.description, "seed_visible": f.seed_visible} for f in scenarios.FAMILIES
        },
        "goals": GOALS,
    }
    modes = {
        "model_full": evaluate_mode(scorers.model, neg, fraud, fam, threshold, False),
        "model_seed3": evaluate_mode(scorers.model, neg3, fraud3, fam, threshold, True),
        "baseline_full": evaluate_mode(scorers.seed, neg, fraud, fam, base_threshold, False),
        "baseline_seed3": evaluate_mode(scorers.seed, neg3, fraud3, fam, base_threshold, True),
    }
    # The seed recipe again, but with thresholds calibrated like ours (validation months, same budgets),
    # so the comparison is not just "95th percentile vs 0.2%".
    val = data.load_role("validation", summary["months"]["validation"], data_root)
    val_clean = val.rows[data.clean_mask(val)[0]]
    cfg = summary["config"]
    matched = {
        "full": float(np.quantile(scorers.seed(val_clean), 1.0 - cfg["fpr_budget"], method="higher")),
        "seed3": float(
            np.quantile(
                scorers.seed(only_fields(val_clean, SEED_FIELDS)),
                1.0 - cfg.get("fpr_budget_seed", cfg["fpr_budget"]),
                method="higher",
            )
        ),
    }
    modes["baseline_full_matched"] = evaluate_mode(scorers.seed, neg, fraud, fam, matched["full"], False)
    modes["baseline_seed3_matched"] = evaluate_mode(scorers.seed, neg3, fraud3, fam, matched["seed3"], True)
    # Each era on its own, this model beside the one it replaces (same negatives, same planted cases).
    previous = PreviousModel(PREVIOUS_MODEL_DIR)
    results["previous_model"] = {"model_version": previous.version, "threshold": previous.threshold}
    results["eras"] = {}
    for era, (e_neg, e_fraud, e_fam) in per_era.items():
        e_neg3, e_fraud3 = only_fields(e_neg, SEED_FIELDS), only_fields(e_fraud, SEED_FIELDS)
        era_modes = {
            "model_full": evaluate_mode(scorers.model, e_neg, e_fraud, e_fam, threshold, False),
            "model_seed3": evaluate_mode(scorers.model, e_neg3, e_fraud3, e_fam, threshold, True),
            "previous_full": evaluate_mode(previous, e_neg, e_fraud, e_fam, previous.threshold, False),
            "previous_seed3": evaluate_mode(previous, e_neg3, e_fraud3, e_fam, previous.threshold, True),
        }
        planted_scores = era_modes["model_full"]["scores"]["positive"]
        for mode in era_modes.values():
            mode.pop("scores")
        results["eras"][era] = {"n_negative": len(e_neg), **era_modes}
        results["eras"][era]["rule_base_rates"] = rule_base_rates(model, e_neg)
        results["eras"][era]["rule_decided_rates"] = rule_decided_rates(model, e_neg)
        results["eras"][era]["rule_trades"] = {
            rule: {
                "family": trade.family,
                "rows": rule_trade(model, rule, e_neg, e_fraud[e_fam == FAMILY_INDEX[trade.family]], trade.cuts),
            }
            for rule, trade in RULE_TRADES.items()
        }
        long_haul = e_fam == FAMILY_INDEX["long_hauling"]
        results["eras"][era]["long_hauling_reach"] = reach_table(
            model.features, e_neg, e_fraud[long_haul], planted_scores[long_haul] > threshold
        )
    score_arrays = {k: v.pop("scores") for k, v in modes.items()}
    results.update(modes)
    results["baseline_threshold"] = base_threshold
    results["baseline_threshold_matched"] = matched
    sweep_base = base[rng.choice(len(base), size=min(2000, len(base)), replace=False)]
    results["fare_inflation_sweep"] = {
        "full": inflation_sweep(scorers.model, sweep_base, score_arrays["model_full"]["negative"], threshold, seed),
        "seed3": inflation_sweep(
            lambda r: scorers.model(only_fields(r, SEED_FIELDS)),
            sweep_base,
            score_arrays["model_seed3"]["negative"],
            threshold,
            seed,
        ),
    }
    # Other field sets clients may send: FPR with random optional fields missing.
    from export.train import TrainConfig, simulate_missing

    partial = simulate_missing(neg, np.random.default_rng(seed + 1), TrainConfig(p_seed_only=0.0, p_drop_optional=0.3))
    results["fpr_partial_fields"] = round(float((scorers.model(partial) > threshold).mean()), 5)
    results["real_dirt"] = dirt_report(scorers, raw, threshold)
    results["probes"] = probes(scorers, base, threshold, seed + 3)
    # Sensitivity to the cleaning rules: negatives chosen by a looser rule someone else might use.
    r = raw.rows
    col = {name: r[:, COLUMN_INDEX[name]] for name in ("trip_distance", "duration_minutes", "fare_amount")}
    loose = (col["trip_distance"] > 0) & (col["duration_minutes"] > 0) & (col["fare_amount"] > 0)
    loose &= (r[:, COLUMN_INDEX["total_amount"]] > 0) & (col["duration_minutes"] < 300)
    results["fpr_loose_cleaning"] = {
        "rule": "distance > 0, 0 < duration < 300 min, fare > 0, total > 0 (nothing else)",
        "n": int(loose.sum()),
        "full": round(float((scorers.model(r[loose]) > threshold).mean()), 5),
        "seed3": round(float((scorers.model(only_fields(r[loose], SEED_FIELDS)) > threshold).mean()), 5),
    }
    # The 2020 rows without vendor, payment, passengers and rate code are a population of their own
    # (non-meter fares such as $13.63 for 0.4 mi): report their false-positive rate separately.
    no_meta = np.isnan(clean[:, COLUMN_INDEX["rate_code_id"]]) & np.isnan(clean[:, COLUMN_INDEX["payment_type"]])
    results["fpr_by_population"] = {}
    for name, sel in (("meta fields present", ~no_meta), ("meta fields missing (2020)", no_meta)):
        rows = clean[sel]
        results["fpr_by_population"][name] = {
            "n": len(rows),
            "full": round(float((scorers.model(rows) > threshold).mean()), 5) if len(rows) else float("nan"),
            "seed3": round(float((scorers.model(only_fields(rows, SEED_FIELDS)) > threshold).mean()), 5)
            if len(rows)
            else float("nan"),
        }
    # Stability: the false-positive rate month by month (all clean trips of the month, both field sets).
    results["fpr_by_month"] = {}
    clean_months = raw.month[keep]
    for month in [*summary["months"]["test"], *summary.get("recent_months", {}).get("test", [])]:
        rows = clean[clean_months == month]
        results["fpr_by_month"][month] = {
            "n": len(rows),
            "full": round(float((scorers.model(rows) > threshold).mean()), 5),
            "seed3": round(float((scorers.model(only_fields(rows, SEED_FIELDS)) > threshold).mean()), 5),
        }
    # No shared trip carries the congestion relief zone fee: the 2024 ordinary trips re-dated into its era.
    results["relief_zone_redated"] = relief_zone_check(
        scorers.model, per_era[ERAS[1]][0], threshold, tariff.load(data.TARIFF_PATH)
    )
    results["parity"] = parity or {}
    from export import cost

    cost_rows = clean[:BATCH_FOR_COST]
    results["cost"] = cost.compare(
        repository_model_dir / "1" / "model.onnx",
        PREVIOUS_MODEL_DIR / "model.onnx",
        cost_rows,
        cost_rows[:, previous.columns],
    )
    results["training"] = {
        "months": summary["months"],
        "recent_months": summary.get("recent_months", {}),
        "cleaning": summary["cleaning"],
        "calibration": summary["calibration"],
        "config": summary["config"],
        "train_seconds": summary["train_seconds"],
        "final_loss": summary["losses"][-1],
    }

    out_dir = repository_model_dir
    (out_dir / "evaluation.json").write_text(json.dumps(results, indent=1) + "\n")
    from export import report

    report.plots(results, score_arrays, fam, out_dir)
    report.model_card(results, meta, out_dir)
    log.info(
        "test full: %s | seed3 visible: %s",
        results["model_full"]["overall"],
        results["model_seed3"]["seed_visible"],
    )
    return results
