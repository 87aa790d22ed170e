"""``taxifraud score`` reads TLC's current files, and scores the old ones exactly as before.

The model is replaced here by a deterministic stand-in (a fixed function of the input row), because
what these tests check is the file handling: which rows reach the model, in which order, under which
ids, and what becomes of the rows that cannot be scored. With the real model, the last test compares
``score_file`` against the previous reader end to end; it runs once the committed model reads today's
input columns (until the new model is exported it skips, saying so).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from export import data
from operations.batch_score import CHUNK_ROWS, score_file, score_records, write_scores
from operations.trip_files import read_trips, records_in_chunks
from taxifraud import wire
from taxifraud.model_meta import ModelMeta
from tests.recent_files import RECENT_FILES, recent_file

REPO = Path(__file__).resolve().parents[2] / "model_repository"


class RowFunctionScorer:
    """Stand-in for :class:`taxifraud.onnx_scorer.OnnxScorer`: score = a fixed weighted sum of the row."""

    def __init__(self) -> None:
        self.weights = np.linspace(0.5, 1.5, wire.N_INPUT_COLUMNS, dtype=np.float64)
        self.rows_seen = 0

    def infer(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        assert rows.dtype == np.float32 and rows.shape[1] == wire.N_INPUT_COLUMNS
        self.rows_seen += len(rows)
        score = np.nan_to_num(rows.astype(np.float64)) @ self.weights
        n = len(rows)
        return {
            wire.OUTPUT_SCORE: score.reshape(n, 1).astype(np.float32),
            wire.OUTPUT_IS_FRAUD: np.zeros((n, 1), dtype=bool),
            wire.OUTPUT_FEATURE_ERRORS: np.zeros((n, 1), dtype=np.float32),
            wire.OUTPUT_FEATURE_EXPECTED: np.zeros((n, 1), dtype=np.float32),
        }


@pytest.fixture(scope="module")
def meta() -> ModelMeta:
    """The stand-in's metadata: only the threshold and version reach the output (nothing is flagged)."""
    return ModelMeta(model_version="stand-in", threshold=1e9, feature_names=["x"], reason_min_z=4.0, baseline={})


def _previous_score_csv(path: Path, output: Path, scorer: Any, meta: ModelMeta) -> None:
    """What ``taxifraud score`` did before it read Parquet: csv.DictReader, TLC names renamed, same output."""
    with open(path, newline="") as src, open(output, "w", newline="") as dst:
        writer = csv.DictWriter(dst, fieldnames=("transaction_id", "score", "is_fraud", "reasons"))
        writer.writeheader()
        line = 0
        for chunk in records_in_chunks((wire.normalize_keys(r) for r in csv.DictReader(src)), CHUNK_ROWS):
            for record in chunk:
                line += 1
                if not record.get("transaction_id"):
                    record["transaction_id"] = f"{path.stem}:{line}"
            for r in score_records(chunk, scorer, meta):
                writer.writerow(
                    {
                        "transaction_id": r["transaction_id"],
                        "score": "" if r["score"] is None else r["score"],
                        "is_fraud": "" if r["is_fraud"] is None else str(r["is_fraud"]).lower(),
                        "reasons": json.dumps(r["reasons"]),
                    }
                )


def _old_files() -> list[Path]:
    root = data.data_dir()
    files = [root / data.SAMPLES_DIR / "yellow_tripdata_sample_2020-05.csv"]  # has rows without vendor or codes
    files += [root / "nyc_tlc_trips_sample_2019-03_raw.csv"]  # TLC names and green-taxi columns
    return [f for f in files if f.is_file()]


def _output(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("path", _old_files(), ids=lambda p: p.name)
def test_old_files_score_exactly_as_before(tmp_path: Path, path: Path, meta: ModelMeta) -> None:
    before, after = tmp_path / "before.csv", tmp_path / "after.csv"
    _previous_score_csv(path, before, RowFunctionScorer(), meta)
    write_scores(read_trips(path), str(after), RowFunctionScorer(), meta, path.stem)  # type: ignore[arg-type]
    assert before.read_bytes() == after.read_bytes()
    assert len(_output(after)) > 1000


@pytest.mark.parametrize("name", RECENT_FILES)
def test_current_files_score_one_row_per_trip(tmp_path: Path, name: str, meta: ModelMeta) -> None:
    path = recent_file(name)
    out = tmp_path / "scores.csv"
    scorer = RowFunctionScorer()
    count, unscorable, flagged = write_scores(read_trips(path), str(out), scorer, meta, path.stem)  # type: ignore[arg-type]
    rows = _output(out)
    expected = list(read_trips(path))
    assert count == len(rows) == len(expected) and flagged == 0
    assert [r["transaction_id"] for r in rows] == [f"{path.stem}:{i}" for i in range(1, len(expected) + 1)]
    missing = [bool(wire.missing_required(r)) for r in expected]
    assert unscorable == sum(missing) and scorer.rows_seen == len(expected) - sum(missing)
    assert [r["score"] == "" for r in rows] == missing
    reference = RowFunctionScorer().infer(
        wire.encode_rows([r for r, m in zip(expected, missing, strict=True) if not m])
    )
    scored = [float(r["score"]) for r in rows if r["score"]]
    np.testing.assert_allclose(scored, reference[wire.OUTPUT_SCORE][:, 0], rtol=1e-6)


def test_unscorable_rows_keep_their_place_and_say_why(tmp_path: Path, meta: ModelMeta) -> None:
    src = tmp_path / "mixed.csv"
    src.write_text(
        "VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,trip_distance,fare_amount,Airport_fee\n"
        "2,2025-02-01 00:12:34,2025-02-01 00:20:00,1.5,9.0,1.75\n"
        "2,2025-02-01 00:12:34,,1.5,9.0,\n"
        "2,2025-02-01 00:12:34,2025-02-01 00:20:00,1.5,abc,0\n"
    )
    out = tmp_path / "out.csv"
    assert write_scores(read_trips(src), str(out), RowFunctionScorer(), meta, "mixed") == (3, 2, 0)  # type: ignore[arg-type]
    first, second, third = _output(out)
    assert first["score"] and json.loads(first["reasons"]) == []
    assert second["transaction_id"] == "mixed:2" and "duration_minutes" in json.loads(second["reasons"])[0]
    assert third["score"] == "" and "abc" in json.loads(third["reasons"])[0]


def _model_reads_todays_columns() -> bool:
    try:
        return tuple(ModelMeta.load(REPO).input_columns) == wire.MODEL_INPUT_COLUMNS
    except (OSError, ValueError, KeyError):
        return False


@pytest.mark.skipif(
    not _model_reads_todays_columns(), reason="committed model predates today's input columns (make export)"
)
@pytest.mark.parametrize("path", _old_files(), ids=lambda p: p.name)
def test_score_file_with_the_real_model_matches_the_previous_reader(tmp_path: Path, path: Path) -> None:
    from taxifraud.onnx_scorer import OnnxScorer

    before, after = tmp_path / "before.csv", tmp_path / "after.csv"
    _previous_score_csv(path, before, OnnxScorer(REPO), ModelMeta.load(REPO))
    score_file(str(path), str(after), str(REPO))
    assert before.read_bytes() == after.read_bytes()
