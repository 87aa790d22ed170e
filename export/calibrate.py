"""Calibration on validation months: per-feature error spreads, the threshold, and the drift baseline.

Everything here is fitted on *validation* months only (never training, never test): the spreads must
describe errors on unseen trips, not on trips the network memorised, and the threshold's false-positive
rate must be an honest estimate of what production sees.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from export.feature_specs import FEATURE_NAMES, FEATURES, SEED_FIELDS
from export.model import N_BUCKETS, N_PAY_CLASSES, OUTPUT_LIMIT, TAIL_LEVELS, FraudAutoencoder
from taxifraud.wire import COLUMN_INDEX, MODEL_INPUT_COLUMNS

log = logging.getLogger(__name__)

#: Spread = a Gaussian-equivalent sigma of the *body* of |z - zhat| (its 99th percentile / 2.576). The
#: tail is the rarity curve's job (``fit_tails``): a feature that is exactly right on 99.7% of ordinary
#: trips (a surcharge the tariff explains) keeps a spread of a few cents, so its rare real deviations set
#: the curve's far knots instead of inflating the spread until a charge billed where the rule does not
#: apply looks ordinary.
SPREAD_QUANTILES = ((0.99, 2.5758),)
MIN_BUCKET_COUNT = 2000
#: Smallest spread in feature units: 0.1 in log units is ~10%; below that rounding would look like fraud.
MIN_FEATURE_SPREAD = {"log": 0.1, "log$": 0.1, "units": 0.1, "flag": 0.1, "cyc": 0.1, "raw": 0.5, "tariff$": 0.02}
#: Tariff amounts are exact: 0.02 in signed-log dollars is 2 cents, so a $0.30 charge the tariff does not
#: explain is 13 spreads out, while cents of vendor rounding are not.


def only_fields(rows: np.ndarray, fields: tuple[str, ...]) -> np.ndarray:
    """A copy with every column except ``fields`` set missing (NaN)."""
    out = np.full_like(rows, np.nan)
    for f in fields:
        out[:, COLUMN_INDEX[f]] = rows[:, COLUMN_INDEX[f]]
    return out


@torch.no_grad()
def residuals(model: FraudAutoencoder, rows: np.ndarray, batch: int = 8192) -> tuple[np.ndarray, ...]:
    """(|z - zhat| [N,K], mask [N,K], bucket [N], spread cell [N]) for many rows, in batches."""
    outs: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for i in range(0, len(rows), batch):
        raw = torch.from_numpy(rows[i : i + batch])
        r, m, b, _ = model.score_parts(raw)
        outs.append((r.numpy(), m.numpy(), b.numpy(), model.spread_cell(raw, b).numpy()))
    return tuple(np.concatenate([o[j] for o in outs]) for j in range(4))


def robust_sigma(abs_errors: np.ndarray) -> float:
    return max(float(np.quantile(abs_errors, q)) / z for q, z in SPREAD_QUANTILES)


def fit_spreads(model: FraudAutoencoder, variants: list[np.ndarray]) -> np.ndarray:
    """Spread table [18 buckets x 3 payment classes, K] from validation rows under several field sets.

    A cell (present-column count, payment class) with too few rows for a feature borrows its bucket's
    value over all payment classes, and a bucket with too few rows the value pooled over everything,
    so rare field sets are scored like the average rather than wildly.
    """
    resid, mask, bucket, cell = (np.concatenate(x) for x in zip(*(residuals(model, v) for v in variants), strict=True))
    k = resid.shape[1]
    floors = np.array([MIN_FEATURE_SPREAD[f.unit] for f in FEATURES]) / model.scale.numpy()
    table = np.ones((N_BUCKETS * N_PAY_CLASSES, k), dtype=np.float64)
    for j in range(k):
        present = mask[:, j]
        pooled = robust_sigma(resid[present, j]) if present.any() else 1.0
        for b in range(N_BUCKETS):
            sel = present & (bucket == b)
            in_bucket = robust_sigma(resid[sel, j]) if sel.sum() >= MIN_BUCKET_COUNT else pooled
            for p in range(N_PAY_CLASSES):
                c = b * N_PAY_CLASSES + p
                sel_c = present & (cell == c)
                value = robust_sigma(resid[sel_c, j]) if sel_c.sum() >= MIN_BUCKET_COUNT else in_bucket
                table[c, j] = max(value, floors[j])
    return table.astype(np.float32)


@torch.no_grad()
def spread_errors(model: FraudAutoencoder, rows: np.ndarray, batch: int = 8192) -> tuple[np.ndarray, ...]:
    """(|z - zhat| / spread [N, K], mask [N, K], bucket [N]) per row: errors in spread units."""
    outs = []
    for i in range(0, len(rows), batch):
        raw = torch.from_numpy(rows[i : i + batch])
        resid, mask, bucket, _ = model.score_parts(raw)
        spread = model.spread[model.spread_cell(raw, bucket)]
        z = torch.clamp(torch.where(mask, resid / spread, torch.zeros_like(resid)), 0.0, OUTPUT_LIMIT)
        outs.append((z.numpy(), mask.numpy(), bucket.numpy()))
    return tuple(np.concatenate([o[j] for o in outs]) for j in range(3))


#: |N(0, 1)| quantiles at the tail levels: the rarity curve of a feature whose error is Gaussian with
#: sigma = its spread. A feature is never judged more leniently than that, so one that is exactly zero on
#: every ordinary trip (a tariff check) makes its first deviations rare rather than undefined.
HALF_NORMAL = {0.5: 0.6745, 0.9: 1.6449, 0.99: 2.5758, 0.999: 3.2905, 0.9999: 3.8906}


def fit_tails(model: FraudAutoencoder, variants: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rarity curve knots [K, L+1] and slopes [K, L+1] from validation errors (see ``FraudAutoencoder.rarity``)."""
    z, mask = (
        np.concatenate(x)
        for x in zip(*((e, m) for e, m, _ in (spread_errors(model, v) for v in variants)), strict=True)
    )
    levels = np.array(TAIL_LEVELS)
    surprise = np.concatenate([[0.0], -np.log10(1.0 - levels)])
    k = z.shape[1]
    knots = np.zeros((k, len(levels) + 1))
    for j in range(k):
        values = z[mask[:, j], j]
        empirical = np.quantile(values, levels) if len(values) else np.zeros(len(levels))
        previous = 0.0
        for i, q in enumerate(TAIL_LEVELS):
            previous = max(float(empirical[i]), HALF_NORMAL[q], previous + 0.05)
            knots[j, i + 1] = previous
    slopes = np.diff(surprise)[None, :] / np.diff(knots, axis=1)
    slopes = np.concatenate([slopes, slopes[:, -1:]], axis=1)  # beyond the last knot: the last slope
    return knots.astype(np.float32), slopes.astype(np.float32)


@torch.no_grad()
def max_z(model: FraudAutoencoder, rows: np.ndarray, batch: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """(max per-feature rarity over scored features before score scaling, bucket) per row."""
    z, mask, bucket = spread_errors(model, rows, batch)
    rarity = model.rarity(torch.from_numpy(z)).numpy()
    rarity = np.where(mask & model.scored.numpy()[None, :], rarity, 0.0)
    return rarity.max(axis=1), bucket


MIN_SCORE_BUCKET_COUNT = 5000
#: Present-column counts of the two calibrated field sets: the seed body and a full TLC record that lacks
#: the four meta fields and the two newest fees (an old-layout record of 2020); log-interpolated in between.
SEED_COLUMNS, RICH_COLUMNS = 3, 15


def budget_schedule(fpr_full: float, fpr_seed: float) -> np.ndarray:
    """FPR budget per number of present input columns (0..17).

    Fewer fields mean a vaguer reconstruction: to still catch what 3 fields can show, the 3-field body
    gets a larger false-positive budget than a full record (the issue's goal allows 1% for it).
    """
    n = np.arange(N_BUCKETS, dtype=np.float64)
    t = np.clip((n - SEED_COLUMNS) / (RICH_COLUMNS - SEED_COLUMNS), 0.0, 1.0)
    return np.exp((1 - t) * np.log(fpr_seed) + t * np.log(fpr_full))


def fit_score_scale(model: FraudAutoencoder, variants: list[np.ndarray], budgets: np.ndarray) -> np.ndarray:
    """Per bucket, the validation (1 - budget) quantile of the max z: the score's unit.

    Buckets with too few validation rows take the value of the nearest bucket that has enough
    (the larger one on a tie, i.e. the more conservative), so a rare field count is not guessed.
    """
    z, bucket = (np.concatenate(x) for x in zip(*(max_z(model, v) for v in variants), strict=True))
    table = np.full(N_BUCKETS, np.nan)
    for b in range(N_BUCKETS):
        sel = bucket == b
        if sel.sum() >= MIN_SCORE_BUCKET_COUNT:
            table[b] = max(float(np.quantile(z[sel], 1.0 - budgets[b])), 1e-3)
    known = np.flatnonzero(np.isfinite(table))
    if not len(known):
        raise ValueError("no bucket has enough validation rows to calibrate the score")
    for b in np.flatnonzero(~np.isfinite(table)):
        dist = np.abs(known - b)
        nearest = known[dist == dist.min()]
        table[b] = table[nearest].max()
    return table.astype(np.float32)


@torch.no_grad()
def scores(model: torch.nn.Module, rows: np.ndarray, batch: int = 8192) -> np.ndarray:
    out = []
    for i in range(0, len(rows), batch):
        out.append(model(torch.from_numpy(rows[i : i + batch]))[0].numpy()[:, 0])
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def fit_threshold(
    model: FraudAutoencoder, normal_rows: np.ndarray, fpr_budget: float, fpr_budget_seed: float | None = None
) -> dict[str, Any]:
    """Smallest threshold whose validation FPR is within budget for *both* full fields and the 3 seed fields.

    Taking the larger of the two per-field-set quantiles keeps ``is_fraud`` one rule (one constant in
    the graph) while guaranteeing each budget for either kind of client. With the score already in
    units of each field count's tail quantile this lands near 1.0.
    """
    from export.model import DECIDED_SCORE

    seed_budget = fpr_budget if fpr_budget_seed is None else fpr_budget_seed
    full = scores(model, normal_rows)
    seed = scores(model, only_fields(normal_rows, SEED_FIELDS))
    # The budget is the network's, on the trips no deciding rule check flags (their share is reported apart).
    if not (full < DECIDED_SCORE).any() or not (seed < DECIDED_SCORE).any():
        raise ValueError("every validation row breaks a deciding rule check: no rows left to calibrate the network")
    q_full = float(np.quantile(full[full < DECIDED_SCORE], 1.0 - fpr_budget, method="higher"))
    q_seed = float(np.quantile(seed[seed < DECIDED_SCORE], 1.0 - seed_budget, method="higher"))
    threshold = max(q_full, q_seed)
    return {
        "threshold": threshold,
        "quantile_full": q_full,
        "quantile_seed": q_seed,
        "validation_fpr_full": float((full > threshold).mean()),
        "validation_fpr_seed": float((seed > threshold).mean()),
        "validation_decided_share": float((full >= DECIDED_SCORE).mean()),
        "validation_rows": len(normal_rows),
    }


def reason_cutoff(model: FraudAutoencoder, margin: float = 0.9) -> float:
    """The z above which a feature is worth a reason: low enough that every flagged row has one.

    A flagged row's largest scored z is above ``threshold * score_scale[bucket]``; the smallest such
    product over field counts (times a margin) is therefore a cut-off no flagged row can fall under,
    while normal rows (score well below 1) rarely reach it.
    """
    return float(np.floor(margin * float(model.threshold) * float(model.score_scale.min()) * 100.0) / 100.0)


def _hist(values: np.ndarray, edges: np.ndarray) -> list[float]:
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
    return (counts / max(1, counts.sum())).round(6).tolist()


def quantile_bins(values: np.ndarray, n_bins: int = 10) -> dict[str, list[float]]:
    """Decile edges and the fraction of values per bin: what PSI compares live traffic against."""
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return {"edges": [], "fractions": []}
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1)))
    if len(edges) < 2:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    return {"edges": edges.round(6).tolist(), "fractions": _hist(values, edges)}


CATEGORICAL_COLUMNS = ("passenger_count", "rate_code_id", "payment_type", "pickup_location_id", "dropoff_location_id")


def column_distributions(rows: np.ndarray) -> dict[str, Any]:
    """Per input column: missing share and either value frequencies or 101 percentiles.

    Enough for a traffic generator to draw realistic marginals (and, via the ``joint_sample`` in the
    baseline, realistic joint rows) without shipping the training data.
    """
    out: dict[str, Any] = {}
    for j, name in enumerate(MODEL_INPUT_COLUMNS):
        col = rows[:, j]
        finite = col[np.isfinite(col)]
        entry: dict[str, Any] = {"missing_share": round(float(1.0 - len(finite) / max(1, len(col))), 6)}
        if name in CATEGORICAL_COLUMNS:
            values, counts = np.unique(finite, return_counts=True)
            shares = counts / len(finite)
            entry["values"] = {str(int(v)): round(float(c), 6) for v, c in zip(values, shares, strict=True)}
        elif len(finite):
            entry["percentiles"] = np.quantile(finite, np.linspace(0, 1, 101)).round(4).tolist()
        out[name] = entry
    return out


def baseline_stats(
    model: FraudAutoencoder, train_rows: np.ndarray, val_rows: np.ndarray, seed: int = 0
) -> dict[str, Any]:
    """Training distributions for drift (PSI) and the traffic generator, plus validation score bins.

    ``score``: the validation score distribution of clean full-field trips (20 quantile bins).
    ``input_columns``: per raw wire column, missing share and 101 percentiles or value shares; this is
    what the consumer bins live traffic against for ``model_feature_psi``. ``features``: decile bins of
    the graph's engineered features (log space), for offline drift analysis. ``joint_sample``: 500
    training rows, so a traffic generator can draw realistic *joint* trips, not just marginals.
    """
    with torch.no_grad():
        feats, mask, _ = model.features(torch.from_numpy(train_rows))
    feats_np, mask_np = feats.numpy(), mask.numpy()
    features = {name: quantile_bins(feats_np[mask_np[:, k], k]) for k, name in enumerate(FEATURE_NAMES)}
    val_scores = scores(model, val_rows)
    rng = np.random.default_rng(seed)
    sample = train_rows[rng.choice(len(train_rows), size=min(500, len(train_rows)), replace=False)]
    return {
        "score": quantile_bins(val_scores, 20),
        "score_quantiles": {str(q): float(np.quantile(val_scores, q)) for q in (0.5, 0.9, 0.95, 0.99, 0.995, 0.999)},
        "features": features,
        "input_columns": column_distributions(train_rows),
        "joint_sample": {
            "columns": list(MODEL_INPUT_COLUMNS),
            "rows": [[None if not np.isfinite(v) else round(float(v), 4) for v in r] for r in sample],
        },
        "train_rows": len(train_rows),
    }
