"""Threshold round trip: calibration -> graph constant -> model_meta.json -> is_fraud, all one number."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from export import calibrate
from export.model import OUTPUT_LIMIT, FraudAutoencoder
from taxifraud.model_meta import ModelMeta
from taxifraud.wire import COLUMN_INDEX, N_INPUT_COLUMNS, encode_rows
from tests.model.conftest import NORMAL_TRIP, REPOSITORY


def test_is_fraud_is_score_above_the_meta_threshold(scorer, meta) -> None:
    rng = np.random.default_rng(1)
    rows = np.repeat(encode_rows([NORMAL_TRIP]), 4000, axis=0)
    for col in ("trip_distance", "duration_minutes", "fare_amount", "tip_amount", "total_amount"):
        rows[:, COLUMN_INDEX[col]] *= rng.lognormal(0, 0.5, 4000).astype(np.float32)
    out = scorer.infer(rows)
    score, flag = out["anomaly_score"][:, 0], out["is_fraud"][:, 0]
    assert flag.any() and not flag.all(), "the sample must straddle the threshold to test anything"
    np.testing.assert_array_equal(flag, score > np.float32(meta.threshold))


def test_meta_carries_calibration_and_baseline(meta) -> None:
    doc = json.loads((REPOSITORY / "fraud_autoencoder" / "1" / "model_meta.json").read_text())
    assert doc["threshold"] == pytest.approx(doc["calibration"]["threshold"], rel=1e-6)
    assert 0 < meta.fpr_budget < 0.05
    # The network keeps its budget on the trips no deciding rule check flags; those add their own share.
    decided = doc["calibration"]["validation_decided_share"]
    assert 0 <= decided < 0.01
    assert doc["calibration"]["validation_fpr_full"] <= meta.fpr_budget + decided + 1e-9
    assert doc["calibration"]["validation_fpr_seed"] <= doc["fpr_budget_seed"] + 1e-9
    assert {"score", "features", "input_columns"} <= set(meta.baseline)
    assert not set(doc["months"]["test"]) & set(doc["months"]["train"])
    assert not set(doc["months"]["validation"]) & set(doc["months"]["train"])


def undecided(model: FraudAutoencoder) -> FraudAutoencoder:
    """The network's calibration alone: random rows break the deciding rule checks (rate code 4 in the
    city, any extra), which would flag them whatever the network says."""
    model.decisive_cut.fill_(OUTPUT_LIMIT)
    return model


def test_fit_threshold_refuses_when_every_row_is_decided() -> None:
    model = FraudAutoencoder(hidden=(16, 8), bottleneck=4).eval()
    rows = encode_rows([{**NORMAL_TRIP, "rate_code_id": 4}] * 10)
    with pytest.raises(ValueError, match="deciding rule"):
        calibrate.fit_threshold(model, rows, 0.01)


def test_fit_threshold_keeps_both_field_sets_within_budget() -> None:
    torch.manual_seed(0)
    model = undecided(FraudAutoencoder(hidden=(16, 8), bottleneck=4).eval())
    rng = np.random.default_rng(0)
    rows = np.abs(rng.normal(5, 2, size=(5000, N_INPUT_COLUMNS))).astype(np.float32)
    result = calibrate.fit_threshold(model, rows, 0.01)
    assert result["validation_fpr_full"] <= 0.01 and result["validation_fpr_seed"] <= 0.01
    assert result["threshold"] == max(result["quantile_full"], result["quantile_seed"])
    model.threshold.fill_(result["threshold"])
    with torch.no_grad():
        _, flag, _, _ = model(torch.from_numpy(rows))
    assert float(flag.float().mean()) <= 0.01


def test_meta_refuses_foreign_input_columns() -> None:
    doc = {"model_version": "x", "threshold": 1.0, "feature_names": ["a"], "input_columns": ["fare_amount"]}
    with pytest.raises(ValueError):
        ModelMeta.from_dict(doc)


def test_budget_schedule_runs_from_seed_to_full_budget() -> None:
    b = calibrate.budget_schedule(0.002, 0.005)
    assert b[3] == pytest.approx(0.005) and b[0] == pytest.approx(0.005)
    assert b[calibrate.RICH_COLUMNS] == pytest.approx(0.002) and b[N_INPUT_COLUMNS] == pytest.approx(0.002)
    assert np.all(np.diff(b) <= 1e-12), "more fields never buy a larger false-positive budget"


def test_score_unit_is_the_tail_quantile_per_field_count() -> None:
    """After fit_score_scale, each calibrated field set has ~budget of its rows above 1.0."""
    torch.manual_seed(0)
    model = undecided(FraudAutoencoder(hidden=(16, 8), bottleneck=4).eval())
    rng = np.random.default_rng(0)
    rows = np.abs(rng.normal(5, 2, size=(6000, N_INPUT_COLUMNS))).astype(np.float32)
    seed_rows = calibrate.only_fields(rows, ("trip_distance", "fare_amount", "duration_minutes"))
    budgets = calibrate.budget_schedule(0.01, 0.05)
    model.score_scale.copy_(torch.from_numpy(calibrate.fit_score_scale(model, [rows, seed_rows], budgets)))
    assert float((calibrate.scores(model, rows) > 1.0).mean()) == pytest.approx(0.01, abs=0.004)
    assert float((calibrate.scores(model, seed_rows) > 1.0).mean()) == pytest.approx(0.05, abs=0.01)
