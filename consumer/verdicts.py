"""Stage 3, verdicts: the live version's outputs for a batch -> one verdict per scoreable row.

A thin, pure wrapper of :func:`taxifraud.verdicts.build_verdicts` that turns "Triton's outputs do not
match this version's ``model_meta.json``" into :class:`ModelMismatch`: a deployment fault (a model
re-exported while running), retried like an outage after the metadata is read again, never a data fault.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consumer.batch import Batch
from consumer.scoring import ScoreResult
from taxifraud.model_meta import ModelMeta
from taxifraud.verdicts import build_verdicts


class ModelMismatch(RuntimeError):
    """The served model's outputs do not fit the metadata of the version that produced them."""


def live_verdicts(batch: Batch, result: ScoreResult, meta_of: Callable[[str], ModelMeta]) -> list[dict[str, Any]]:
    """Verdicts of the batch's rows from ``result.outputs``, with the metadata of ``result.version``."""
    decoded = batch.decoded
    try:
        return build_verdicts(decoded.transactions, decoded.rows, result.outputs, meta_of(result.version))
    except (ValueError, IndexError, KeyError, OSError) as exc:
        raise ModelMismatch(f"{type(exc).__name__}: {exc}") from exc
