"""``taxifraud score``: batch-score a CSV through the same ONNX graph Triton serves, in-process.

Every input row yields exactly one output row. Rows that cannot be scored (a missing required
field, an unparseable value) get an empty score and the reason in ``reasons``: they never vanish.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from taxifraud import wire
from taxifraud.config import TritonSettings
from taxifraud.model_meta import ModelMeta
from taxifraud.onnx_scorer import OnnxScorer
from taxifraud.verdicts import build_verdicts

OUTPUT_COLUMNS = ("transaction_id", "score", "is_fraud", "reasons")
CHUNK_ROWS = 4096


def _chunks(reader: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for record in reader:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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


def score_csv(input_path: str, output_path: str, model_repository: str | None = None) -> tuple[int, int, int]:
    """Score ``input_path`` into ``output_path``; returns (rows, unscorable rows, flagged rows)."""
    repo = Path(model_repository) if model_repository else TritonSettings().model_repository
    meta = ModelMeta.load(repo)
    scorer = OnnxScorer(repo)
    stem = Path(input_path).stem
    count = unscorable = flagged = 0
    with open(input_path, newline="") as src, open(output_path, "w", newline="") as dst:
        writer = csv.DictWriter(dst, fieldnames=OUTPUT_COLUMNS)
        writer.writeheader()
        records = (wire.normalize_keys(r) for r in csv.DictReader(src))
        line = 0
        for chunk in _chunks(records, CHUNK_ROWS):
            for record in chunk:
                line += 1
                if not record.get("transaction_id"):
                    record["transaction_id"] = f"{stem}:{line}"
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
