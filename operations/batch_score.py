"""``taxifraud score``: batch-score a trip file through the same ONNX graph Triton serves, in-process.

The input is a CSV or Parquet file as TLC publishes it, or one with our wire names
(:mod:`operations.trip_files` reads both). Every input row yields exactly one output row. Rows that
cannot be scored (a missing required field, an unparseable value) get an empty score and the reason in
``reasons``: they never vanish.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from operations.trip_files import read_trips, records_in_chunks
from taxifraud import wire
from taxifraud.config import TritonSettings
from taxifraud.model_meta import ModelMeta
from taxifraud.onnx_scorer import OnnxScorer
from taxifraud.verdicts import build_verdicts

OUTPUT_COLUMNS = ("transaction_id", "score", "is_fraud", "reasons")
CHUNK_ROWS = 4096


def score_records(records: list[dict[str, Any]], scorer: OnnxScorer, meta: ModelMeta) -> list[dict[str, Any]]:
    """Verdict-like dicts for ``records`` in order; unscorable rows carry the error as their reason."""
    results: list[dict[str, Any] | None] = [None] * len(records)
    good_idx: list[int] = []
    rows = np.full((len(records), wire.N_INPUT_COLUMNS), np.nan, dtype=np.float32)
    for i, record in enumerate(records):
        missing = wire.missing_required(record)
        if missing:
            results[i] = _unscorable(record, "unscorable: missing " + ", ".join(missing))
            continue
        try:
            wire.encode_row(record, rows[i])
        except (ValueError, TypeError) as exc:
            results[i] = _unscorable(record, f"unscorable: {exc}")
            continue
        good_idx.append(i)
    if good_idx:
        good_rows = rows[good_idx]
        outputs = scorer.infer(good_rows)
        verdicts = build_verdicts([records[i] for i in good_idx], good_rows, outputs, meta)
        for i, verdict in zip(good_idx, verdicts, strict=True):
            results[i] = verdict
    return [r for r in results if r is not None]


def _unscorable(record: dict[str, Any], reason: str) -> dict[str, Any]:
    return {"transaction_id": record.get("transaction_id"), "score": None, "is_fraud": None, "reasons": [reason]}


def score_file(input_path: str, output_path: str, model_repository: str | None = None) -> tuple[int, int, int]:
    """Score ``input_path`` (CSV or Parquet) into the CSV ``output_path``; returns (rows, unscorable, flagged).

    A row without a ``transaction_id`` is named ``<file stem>:<row number>`` (1-based, header excluded).
    """
    repo = Path(model_repository) if model_repository else TritonSettings().model_repository
    meta = ModelMeta.load(repo)
    scorer = OnnxScorer(repo)
    return write_scores(read_trips(input_path), output_path, scorer, meta, Path(input_path).stem)


def write_scores(
    records: Iterable[dict[str, Any]], output_path: str, scorer: OnnxScorer, meta: ModelMeta, id_prefix: str
) -> tuple[int, int, int]:
    """Score ``records`` in chunks into the CSV ``output_path``, one row each, in order; see :func:`score_file`."""
    count = unscorable = flagged = 0
    with open(output_path, "w", newline="") as dst:
        writer = csv.DictWriter(dst, fieldnames=OUTPUT_COLUMNS)
        writer.writeheader()
        line = 0
        for chunk in records_in_chunks(records, CHUNK_ROWS):
            for record in chunk:
                line += 1
                if not record.get("transaction_id"):
                    record["transaction_id"] = f"{id_prefix}:{line}"
            for result in score_records(chunk, scorer, meta):
                count += 1
                unscorable += result["score"] is None
                flagged += bool(result["is_fraud"])
                writer.writerow(
                    {
                        "transaction_id": result["transaction_id"],
                        "score": "" if result["score"] is None else result["score"],
                        "is_fraud": "" if result["is_fraud"] is None else str(result["is_fraud"]).lower(),
                        "reasons": json.dumps(result["reasons"]),
                    }
                )
    return count, unscorable, flagged
