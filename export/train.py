"""Train the fraud autoencoder (and the seed baseline) from the shared monthly samples.

``python -m export.train --out build/model`` writes ``model_state.npz`` (all tensors, no pickle),
``baseline_state.npz`` and ``training.json`` (months, cleaning counts, calibration, baseline stats).
``export.export_onnx`` turns those into the committed model repository. Seeded and deterministic on
CPU: same data + same seed = same weights, so the committed ONNX can be reproduced.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

from export import calibrate, data
from export.feature_specs import BOROUGH_CODES, GROUPS, N_HOUR_SLOTS, N_ZONE_SLOTS, PASS_RATE_ERA_DAY, SEED_FIELDS
from export.features import FeatureGraph
from export.model import FraudAutoencoder, SeedBaseline
from taxifraud import tariff
from taxifraud.click_main import run_command
from taxifraud.robust import ROBUST_SIGMA
from taxifraud.wire import COLUMN_INDEX

log = logging.getLogger(__name__)

DEFAULT_OUT = data.REPO_ROOT / "build" / "model"
TARIFF_PATH = data.TARIFF_PATH


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines the trained artefact; written to ``training.json`` and the model card.

    Budgets are validation false-positive rates (see ``export.calibrate.budget_schedule``). The masking
    probabilities decide which field sets the network sees: 30% seed-only rows because the seed's body is
    the commonest partial request; 15% per optional field unit so every other subset occurs too.
    """

    seed: int = 20261128
    epochs: int = 12
    batch_size: int = 512
    lr: float = 2e-3
    weight_decay: float = 1e-5
    hidden: tuple[int, int] = (32, 16)
    bottleneck: int = 8
    threads: int = 1
    fpr_budget: float = 0.002  # validation FPR allowed for full-field requests
    fpr_budget_seed: float = 0.005  # ... and for the 3-field seed body (interpolated in between)
    p_seed_only: float = 0.3
    p_drop_optional: float = 0.15
    visible_weight: float = 0.1
    baseline_epochs: int = 8
    recent_weight: int = 1


#: Units of optional fields that clients leave out together (or not at all).
OPTIONAL_UNITS: tuple[tuple[str, ...], ...] = (
    ("pickup_hour", "pickup_weekday", "pickup_day"),
    ("pickup_location_id",),
    ("dropoff_location_id",),
    ("passenger_count",),
    ("rate_code_id",),
    ("payment_type",),
    ("vendor_id",),
    ("extra", "mta_tax", "improvement_surcharge"),
    ("congestion_surcharge",),
    ("airport_fee", "cbd_congestion_fee"),
    ("cbd_congestion_fee",),
    ("tip_amount",),
    ("tolls_amount",),
    ("total_amount",),
)


def simulate_missing(rows: np.ndarray, rng: np.random.Generator, cfg: TrainConfig) -> np.ndarray:
    """Blank out fields the way clients do: the 3-field seed body, or random optional fields."""
    out = rows.copy()
    n = len(out)
    seed_only = rng.random(n) < cfg.p_seed_only
    keep = [COLUMN_INDEX[c] for c in SEED_FIELDS]
    drop_cols = [j for j in range(out.shape[1]) if j not in keep]
    out[np.ix_(seed_only, np.array(drop_cols))] = np.nan
    for unit in OPTIONAL_UNITS:
        hit = ~seed_only & (rng.random(n) < cfg.p_drop_optional)
        out[np.ix_(hit, np.array([COLUMN_INDEX[c] for c in unit]))] = np.nan
    return out


def zone_slots(graph: FeatureGraph, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pickup, dropoff) zone slots of each row as the graph reads them: 0 for a missing or unknown zone."""
    with torch.no_grad():
        t = torch.from_numpy(rows)
        present = torch.isfinite(t)
        pu = graph.zone_codes(t, present, "pickup_location_id").numpy()
        do = graph.zone_codes(t, present, "dropoff_location_id").numpy()
    return pu, do


ROUTE_PRIOR_WEIGHT = 10.0  # pseudo-trips of the borough-pair median mixed into each zone pair's median


def route_table(
    graph: FeatureGraph,
    rows: np.ndarray,
    values: np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.median,
    keep: np.ndarray | None = None,
    prior_floor: np.ndarray | None = None,
) -> np.ndarray:
    """Typical value (log1p distance or duration, or a rate) per pickup/dropoff zone pair, shrunk towards
    the borough pair.

    ``(n * stat_pair + k * stat_borough_pair) / (n + k)``: a pair seen thousands of times keeps its own
    statistic (median by default), a pair seen twice mostly inherits its boroughs', and unseen pairs get
    the borough (or global) value. Slot 0 (missing zone) holds the global value. ``keep`` selects the rows
    that count; ``prior_floor`` ([slots, slots]) raises the value a pair is shrunk towards where it is higher.
    """
    n_slots = N_ZONE_SLOTS
    pu, do = zone_slots(graph, rows)
    boroughs = graph.zone_borough.numpy()
    logd = values.astype(np.float64)
    ok = (pu > 0) & (do > 0) & np.isfinite(logd)
    if keep is not None:
        ok &= keep
    glob = float(statistic(logd[ok])) if ok.any() else 0.0
    nb = len(BOROUGH_CODES)
    borough_med = np.full((nb, nb), glob)
    pb, db = boroughs[pu], boroughs[do]
    for a in range(nb):
        for b in range(nb):
            sel = ok & (pb == a) & (db == b)
            if sel.sum() >= 30:
                borough_med[a, b] = float(statistic(logd[sel]))
    table = np.full((n_slots, n_slots), glob)
    for i in range(1, n_slots):
        table[i, 1:] = borough_med[boroughs[i], boroughs[1:]]
    if prior_floor is not None:
        table = np.maximum(table, prior_floor)
    pair = pu * n_slots + do
    order = np.argsort(pair[ok], kind="stable")
    pairs_sorted, logd_sorted = pair[ok][order], logd[ok][order]
    uniq, start, count = np.unique(pairs_sorted, return_index=True, return_counts=True)
    flat = table.reshape(-1)
    for p, s0, n in zip(uniq, start, count, strict=True):
        med = float(statistic(logd_sorted[s0 : s0 + n]))
        flat[p] = (n * med + ROUTE_PRIOR_WEIGHT * flat[p]) / (n + ROUTE_PRIOR_WEIGHT)
    return flat.astype(np.float32)


def fit_route_table(graph: FeatureGraph, rows: np.ndarray) -> None:
    """The zone-pair tables of typical distance and typical duration (the graph's only geography), and how
    many training trips each pair's entry rests on."""
    dist = np.log1p(np.clip(rows[:, COLUMN_INDEX["trip_distance"]], 0, None))
    minutes = np.log1p(np.clip(rows[:, COLUMN_INDEX["duration_minutes"]], 0, None))
    graph.route_log_distance.copy_(torch.from_numpy(route_table(graph, rows, dist)))
    graph.route_log_minutes.copy_(torch.from_numpy(route_table(graph, rows, minutes)))
    pu, do = zone_slots(graph, rows)
    known = (pu > 0) & (do > 0) & np.isfinite(dist)
    counts = np.bincount(pu[known] * N_ZONE_SLOTS + do[known], minlength=N_ZONE_SLOTS * N_ZONE_SLOTS)
    graph.route_trips.copy_(torch.from_numpy(counts.astype(np.float32)))


MIN_HOUR_TRIPS = 30  # trips an hour-of-week slot needs before it moves the usual minutes


def route_hour_slots(graph: FeatureGraph, rows: np.ndarray) -> np.ndarray:
    """Each row's slot of ``route_hour_minutes``, as the graph computes it."""
    with torch.no_grad():
        t = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))
        known = torch.isfinite(t[:, [COLUMN_INDEX["pickup_hour"]]]) & torch.isfinite(
            t[:, [COLUMN_INDEX["pickup_weekday"]]]
        )
        hour = torch.nan_to_num(t[:, [COLUMN_INDEX["pickup_hour"]]])
        weekday = torch.nan_to_num(t[:, [COLUMN_INDEX["pickup_weekday"]]])
        return graph.hour_slot(hour, weekday, known)[:, 0].numpy()


def fit_route_hours(graph: FeatureGraph, rows: np.ndarray) -> None:
    """What each hour of the week adds to a zone pair's usual log1p minutes: the median, over the trips of
    that slot between known zones, of how far their time ran from their pair's all-hours median."""
    pu, do = zone_slots(graph, rows)
    minutes = np.log1p(np.clip(rows[:, COLUMN_INDEX["duration_minutes"]], 0, None))
    residual = minutes - graph.route_log_minutes.numpy()[pu * N_ZONE_SLOTS + do]
    slots = route_hour_slots(graph, rows)
    ok = (pu > 0) & (do > 0) & np.isfinite(residual) & (slots < N_HOUR_SLOTS - 1)
    offset = np.zeros(N_HOUR_SLOTS)
    for k in range(N_HOUR_SLOTS - 1):
        sel = ok & (slots == k)
        if sel.sum() >= MIN_HOUR_TRIPS:
            offset[k] = float(np.median(residual[sel]))
    graph.route_hour_minutes.copy_(torch.from_numpy(offset.astype(np.float32)))


MIN_ROUTE_SPREAD = 0.15  # log units: no zone pair's routes are more alike than about +-15%


def fit_route_spread(graph: FeatureGraph, rows: np.ndarray) -> None:
    """How far each zone pair's trips stray from its usual distance and duration at their hour (robust, shrunk
    like the medians)."""
    pu, do = zone_slots(graph, rows)
    pair = pu * N_ZONE_SLOTS + do
    at_hour = graph.route_hour_minutes.numpy()[route_hour_slots(graph, rows)]
    for col, usual, spread_table in (
        ("trip_distance", graph.route_log_distance.numpy()[pair], graph.route_spread_distance),
        ("duration_minutes", graph.route_log_minutes.numpy()[pair] + at_hour, graph.route_spread_minutes),
    ):
        logv = np.log1p(np.clip(rows[:, COLUMN_INDEX[col]], 0, None))
        deviation = np.abs(logv - usual)
        spread = ROBUST_SIGMA * route_table(graph, rows, deviation)
        spread_table.copy_(torch.from_numpy(np.clip(spread, MIN_ROUTE_SPREAD, None).astype(np.float32)))


def log_speed(rows: np.ndarray) -> np.ndarray:
    """log1p of each trip's average mph, as the graph computes it (a zero duration counts as one second)."""
    miles = np.clip(rows[:, COLUMN_INDEX["trip_distance"]], 0, None)
    hours = np.clip(rows[:, COLUMN_INDEX["duration_minutes"]], 1.0 / 60.0, None) / 60.0
    return np.log1p(np.clip(miles / hours, None, 5.0e4))


def fit_route_speed(graph: FeatureGraph, rows: np.ndarray) -> None:
    """Each zone pair's usual average speed and how far its trips stray from it (robust, shrunk like the
    route tables): a GPS jump adds miles, not minutes, so the speed it implies is one the pair never runs."""
    speed = log_speed(rows)
    usual = route_table(graph, rows, speed)
    graph.route_log_speed.copy_(torch.from_numpy(usual))
    pu, do = zone_slots(graph, rows)
    pair = pu * N_ZONE_SLOTS + do
    spread = ROBUST_SIGMA * route_table(graph, rows, np.abs(speed - usual[pair]))
    graph.route_spread_speed.copy_(torch.from_numpy(np.clip(spread, MIN_ROUTE_SPREAD, None).astype(np.float32)))


TOLL_ZONE_RATE = 0.5  # a zone most of whose trips pay tolls: reached over a tolled crossing (or an airport)
MIN_ZONE_TRIPS = 30  # trips with an end at a zone before its own toll rate counts


def toll_zone_floor(graph: FeatureGraph, rows: np.ndarray, paid: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """[slots, slots] the toll rate of a pair's busier-toll end, for zones whose trips (seen at least
    ``MIN_ZONE_TRIPS`` times) mostly pay tolls, else 0: Randalls Island is reached over the RFK Bridge from
    any borough, so a pair seen rarely with an end there may pay a toll whatever its boroughs' rate."""
    pu, do = zone_slots(graph, rows)
    ok = keep & (pu > 0) & (do > 0)
    pickup, dropoff, paid_ok = pu[ok], do[ok], paid[ok]
    two_ends = pickup != dropoff  # a trip within one zone counts once for it
    ends = np.concatenate([pickup, dropoff[two_ends]])
    paid_ends = np.concatenate([paid_ok, paid_ok[two_ends]])
    trips = np.bincount(ends, minlength=N_ZONE_SLOTS)
    rate = np.bincount(ends, weights=paid_ends, minlength=N_ZONE_SLOTS) / np.maximum(trips, 1)
    zone = np.where((trips >= MIN_ZONE_TRIPS) & (rate >= TOLL_ZONE_RATE), rate, 0.0)
    return np.maximum(zone[:, None], zone[None, :])


def fit_toll_pay_rate(graph: FeatureGraph, rows: np.ndarray) -> None:
    """Per zone pair, the share of trips that paid tolls (shrunk towards the borough pair, or towards an end
    whose trips mostly pay tolls where that is higher): which routes cross a tolled bridge or tunnel at all."""
    tolls = rows[:, COLUMN_INDEX["tolls_amount"]]
    paid = (tolls > 0.01).astype(np.float64)
    keep = np.isfinite(tolls)
    floor = toll_zone_floor(graph, rows, paid, keep)
    table = route_table(graph, rows, paid, statistic=np.mean, keep=keep, prior_floor=floor)
    graph.toll_pay_rate.copy_(torch.from_numpy(np.clip(table, 0.0, 1.0).astype(np.float32)))


def fit_congestion_pass_rate(graph: FeatureGraph, rows: np.ndarray, rates: tariff.Tariff) -> None:
    """Per zone pair with no end in the congestion zone: the share of trips that paid the surcharge anyway
    (they passed through it), from trips of dates when the surcharge was in force: the earlier era's own rates
    for trips before ``PASS_RATE_ERA_DAY``, both eras' for those from it on (see ``PASS_RATE_ERA_DAY``); each
    once from all trips and once from vendor 1's alone."""
    day = rows[:, COLUMN_INDEX["pickup_day"]]
    starts = np.array([p.start_day for p in rates.periods], dtype=np.float64)
    amounts = np.array([p.amounts["congestion_surcharge"] for p in rates.periods])
    in_force = amounts[np.clip(np.searchsorted(starts, np.nan_to_num(day, nan=-1.0), side="right") - 1, 0, None)] > 0
    zone = np.asarray(rates.zones["congestion_zone"])
    outside = ~np.isin(rows[:, COLUMN_INDEX["pickup_location_id"]], zone)
    outside &= ~np.isin(rows[:, COLUMN_INDEX["dropoff_location_id"]], zone)
    cong = rows[:, COLUMN_INDEX["congestion_surcharge"]]
    charged = (cong > 0.01).astype(np.float64)
    keep = in_force & outside & np.isfinite(cong) & np.isfinite(day)
    before = day < PASS_RATE_ERA_DAY
    vendor1 = rows[:, COLUMN_INDEX["vendor_id"]] == 1
    for subset, target in (
        (keep, graph.congestion_pass_rate),
        (before, graph.congestion_pass_rate_before),
        (vendor1, graph.congestion_pass_rate_vendor1),
        (vendor1 & before, graph.congestion_pass_rate_vendor1_before),
    ):
        table = route_table(graph, rows, charged, statistic=np.mean, keep=keep & subset)
        target.copy_(torch.from_numpy(np.clip(table, 0.0, 1.0).astype(np.float32)))


def fit_scaling(model: FraudAutoencoder, rows: np.ndarray) -> None:
    """Median centre and a winsorised standard deviation per feature, from full-field training rows."""
    with torch.no_grad():
        feats, mask, _ = model.features(torch.from_numpy(rows))
    f, m = feats.numpy().astype(np.float64), mask.numpy()
    center = np.zeros(f.shape[1])
    scale = np.ones(f.shape[1])
    for k in range(f.shape[1]):
        v = f[m[:, k], k]
        lo, hi = np.quantile(v, [0.005, 0.995])
        center[k] = np.median(v)
        scale[k] = max(float(np.clip(v, lo, hi).std()), 0.05)
    model.center.copy_(torch.from_numpy(center.astype(np.float32)))
    model.scale.copy_(torch.from_numpy(scale.astype(np.float32)))


def huber(x: torch.Tensor) -> torch.Tensor:
    """Huber loss (delta 1 z): cleaning is not perfect, and a few odd trips must not dominate gradients."""
    return torch.nn.functional.huber_loss(x, torch.zeros_like(x), reduction="none", delta=1.0)


def train_autoencoder(
    model: FraudAutoencoder, rows: np.ndarray, cfg: TrainConfig, weights: np.ndarray | None = None
) -> list[float]:
    """Masked-reconstruction training: hide one random group per row, learn to fill it in.

    ``weights`` (small integers) repeat rows within an epoch: the 2023-2025 trips are about a third of the rows but the
    traffic the model serves, so they are seen ``cfg.recent_weight`` times per epoch.
    """
    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    pool = np.arange(len(rows)) if weights is None else np.repeat(np.arange(len(rows)), weights)
    steps = cfg.epochs * (len(pool) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    hides = model.hides
    n_groups = hides.shape[0]
    losses = []
    model.train()
    for epoch in range(cfg.epochs):
        order = pool[rng.permutation(len(pool))]
        total, count = 0.0, 0
        for i in range(0, len(order) - cfg.batch_size + 1, cfg.batch_size):
            batch = simulate_missing(rows[order[i : i + cfg.batch_size]], rng, cfg)
            raw = torch.from_numpy(batch)
            with torch.no_grad():
                feats, mask, _ = model.features(raw)
                z = model.standardize(feats, mask)
                group = torch.from_numpy(rng.integers(0, n_groups, size=len(batch)))
                hidden = hides[group] & mask
            visible = mask & ~hidden
            zhat = model.reconstruct(z, visible)
            weight = hidden.to(z.dtype) + cfg.visible_weight * visible.to(z.dtype)
            loss = (huber(zhat - z) * weight).sum() / weight.sum().clamp(min=1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
        losses.append(total / max(1, count))
        log.info("epoch %d/%d loss %.4f", epoch + 1, cfg.epochs, losses[-1])
    model.eval()
    return losses


def train_baseline(rows: np.ndarray, cfg: TrainConfig) -> SeedBaseline:
    """The seed's recipe as the seed had it (StandardScaler, MSE, 95th-percentile threshold)."""
    torch.manual_seed(cfg.seed)
    base = SeedBaseline()
    with torch.no_grad():
        f = base.raw_features(torch.from_numpy(rows)).numpy().astype(np.float64)
    f = np.where(np.isfinite(f), f, np.nan)
    base.mean.copy_(torch.from_numpy(np.nanmean(f, axis=0).astype(np.float32)))
    base.std.copy_(torch.from_numpy(np.nanstd(f, axis=0).astype(np.float32)))
    opt = torch.optim.Adam(base.parameters(), lr=1e-3)
    rng = np.random.default_rng(cfg.seed + 1)
    t = torch.from_numpy(rows)
    for _ in range(cfg.baseline_epochs):
        order = torch.from_numpy(rng.permutation(len(rows)))
        for i in range(0, len(order), 256):
            loss = base(t[order[i : i + 256]]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    base.eval()
    with torch.no_grad():
        err = base(t).numpy()
    base.threshold.copy_(torch.tensor(float(np.quantile(err, 0.95))))
    return base


#: Buffers whose shape follows the data they were built from, not the code.
RESIZABLE_BUFFERS = ("features.tariff_start", "features.tariff_amounts")


def save_state(module: torch.nn.Module, path: Path) -> None:
    """All parameters and buffers as a plain .npz (no pickle), loadable with allow_pickle=False."""
    state = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    np.savez(path, **state)


def load_state(module: torch.nn.Module, path: Path) -> None:
    """Inverse of ``save_state``; a shape mismatch (model code changed since training) raises."""
    with np.load(path, allow_pickle=False) as npz:
        state = {k: torch.from_numpy(npz[k]) for k in npz.files}
    # Tables sized by data (the tariff's period count) take the saved shape; weights must match exactly.
    for key in RESIZABLE_BUFFERS:
        owner_name, _, attr = key.rpartition(".")
        if key not in state:
            continue
        owner = module.get_submodule(owner_name) if owner_name else module
        if hasattr(owner, attr):
            setattr(owner, attr, state[key].clone())
    module.load_state_dict(state)


def setup_determinism(cfg: TrainConfig) -> None:
    """Seeded, deterministic kernels, few threads: reproducible weights on a machine shared with tests."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)


def run(out: Path, cfg: TrainConfig, data_root: Path | None = None, tariff_path: Path = TARIFF_PATH) -> dict[str, Any]:
    """Load, clean, fit constants, train, calibrate on validation months; write artefacts to ``out``."""
    started = time.monotonic()
    setup_determinism(cfg)
    split = data.load_split(data_root)
    cleaned: dict[str, Any] = {}
    tables = {}
    for part, table in split.items():
        keep, counts = data.clean_mask(table)
        tables[part] = table.subset(keep)
        cleaned[part] = {"rows": len(table), "kept": int(keep.sum()), "dropped": counts}
        log.info("%s: kept %d of %d rows", part, int(keep.sum()), len(table))
    train_rows, val_rows = tables["train"].rows, tables["validation"].rows
    weights = np.where(data.is_recent(tables["train"]), cfg.recent_weight, 1)
    tariff_doc = tariff.load(tariff_path)

    model = FraudAutoencoder(hidden=cfg.hidden, bottleneck=cfg.bottleneck)
    model.features.set_zone_boroughs(data.load_zone_boroughs(data_root))
    model.features.set_tariff(tariff_doc)
    fit_route_table(model.features, train_rows)
    fit_route_hours(model.features, train_rows)
    fit_route_spread(model.features, train_rows)
    fit_route_speed(model.features, train_rows)
    fit_toll_pay_rate(model.features, train_rows)
    fit_congestion_pass_rate(model.features, train_rows, tariff_doc)
    fit_scaling(model, train_rows)
    losses = train_autoencoder(model, train_rows, cfg, weights)

    rng = np.random.default_rng(cfg.seed + 2)
    variants = [
        val_rows,
        calibrate.only_fields(val_rows, SEED_FIELDS),
        simulate_missing(val_rows, rng, cfg),
        simulate_missing(val_rows, rng, cfg),
    ]
    model.spread.copy_(torch.from_numpy(calibrate.fit_spreads(model, variants)))
    knots, slopes = calibrate.fit_tails(model, variants)
    model.tail_x.copy_(torch.from_numpy(knots))
    model.tail_slope.copy_(torch.from_numpy(slopes))
    budgets = calibrate.budget_schedule(cfg.fpr_budget, cfg.fpr_budget_seed)
    model.score_scale.copy_(torch.from_numpy(calibrate.fit_score_scale(model, variants, budgets)))
    thr = calibrate.fit_threshold(model, val_rows, cfg.fpr_budget, cfg.fpr_budget_seed)
    model.threshold.copy_(torch.tensor(thr["threshold"], dtype=torch.float32))
    thr["reason_min_z"] = calibrate.reason_cutoff(model)
    log.info(
        "threshold %.4f (validation FPR full %.4f, seed %.4f)",
        thr["threshold"],
        thr["validation_fpr_full"],
        thr["validation_fpr_seed"],
    )
    baseline = calibrate.baseline_stats(model, train_rows, val_rows, cfg.seed)

    seed_model = train_baseline(train_rows, cfg)

    out.mkdir(parents=True, exist_ok=True)
    save_state(model, out / "model_state.npz")
    save_state(seed_model, out / "baseline_state.npz")
    summary = {
        "config": asdict(cfg),
        "months": data.split_months(data_root),
        "recent_months": {role: data.recent_months(role) for role in ("train", "validation", "test")},
        "tariff_version": tariff_doc.version,
        "cleaning": cleaned,
        "losses": losses,
        "calibration": thr,
        "baseline": baseline,
        "groups": {k: list(v) for k, v in GROUPS.items()},
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "train_seconds": round(time.monotonic() - started, 1),
    }
    (out / "training.json").write_text(json.dumps(summary, indent=1))
    log.info("trained in %.0f s -> %s", summary["train_seconds"], out)
    return summary


def command() -> click.Command:
    """``taxifraud train``'s command (defaults reproduce the committed model)."""

    @click.command("train", help=__doc__.splitlines()[0])
    @click.option("--out", type=click.Path(path_type=Path), default=DEFAULT_OUT, help="artefact dir (build/model)")
    @click.option("--data-dir", type=click.Path(path_type=Path), help="shared data dir (default $TAXIFRAUD_DATA_DIR)")
    @click.option("--epochs", type=int, default=TrainConfig.epochs, show_default=True)
    @click.option("--seed", type=int, default=TrainConfig.seed, show_default=True)
    @click.option(
        "--fpr-budget", type=float, default=TrainConfig.fpr_budget, help="validation FPR, all fields", show_default=True
    )
    @click.option(
        "--fpr-budget-seed", type=float, default=TrainConfig.fpr_budget_seed, help="3 seed fields", show_default=True
    )
    @click.option("--threads", type=int, default=TrainConfig.threads, show_default=True)
    def train(out: Path, data_dir: Path | None, **config: Any) -> int:
        run(out, TrainConfig(**config), data_dir)
        return 0

    return train


def main(argv: list[str] | None = None) -> int:
    """``python -m export.train``: the same command outside ``taxifraud``; returns the exit code."""
    return run_command(command(), argv, prog_name="python -m export.train")


if __name__ == "__main__":
    raise SystemExit(main())
