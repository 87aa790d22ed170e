"""Pure: turn transactions plus model outputs into verdict and alert messages.

Kept free of I/O so the consumer and the gateway's ``/score`` build byte-for-byte the same verdicts,
and so the logic is unit-testable without a broker or Triton.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from taxifraud import wire
from taxifraud.model_meta import ModelMeta
from taxifraud.reasons import Reason, explain_batch


def utc_now_rfc3339() -> str:
    """Current UTC time as RFC 3339 with microseconds and a ``Z`` suffix (our wire timestamp format)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def build_verdicts(
    transactions: Sequence[Mapping[str, Any]],
    rows: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    meta: ModelMeta,
    scored_at: str | None = None,
) -> list[dict[str, Any]]:
    """One verdict per transaction, in order: id, decision, score, threshold, reasons and their details, version."""
    scores = np.asarray(outputs[wire.OUTPUT_SCORE], dtype=np.float64).reshape(-1)
    flags = np.asarray(outputs[wire.OUTPUT_IS_FRAUD]).reshape(-1).astype(bool)
    # Reasons are only worth their cost (string formatting) for the few flagged rows.
    flagged = np.flatnonzero(flags)
    reasons: dict[int, list[Reason]] = {}
    if len(flagged):
        explained = explain_batch(
            rows[flagged],
            np.asarray(outputs[wire.OUTPUT_FEATURE_ERRORS])[flagged],
            np.asarray(outputs[wire.OUTPUT_FEATURE_EXPECTED])[flagged],
            meta,
        )
        reasons = dict(zip(flagged.tolist(), explained, strict=True))
    stamp = scored_at or utc_now_rfc3339()
    verdicts = []
    for i, tx in enumerate(transactions):
        verdicts.append(
            {
                "transaction_id": tx.get("transaction_id"),
                "is_fraud": bool(flags[i]),
                "score": round(float(scores[i]), 6),
                "threshold": meta.threshold,
                # Texts for the clients written before the details; the family is read from the details,
                # never re-derived from the words.
                "reasons": [r.text for r in reasons.get(i, [])],
                "reason_details": [r.as_dict() for r in reasons.get(i, [])],
                "model_version": meta.model_version,
                "ingested_at": tx.get("ingested_at"),
                "scored_at": stamp,
            }
        )
    return verdicts


def build_alert(verdict: Mapping[str, Any], transaction: Mapping[str, Any]) -> dict[str, Any]:
    """The alert for a suspicious verdict: the verdict plus the transaction, for whoever investigates."""
    return {**verdict, "transaction": dict(transaction)}
