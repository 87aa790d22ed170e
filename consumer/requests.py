"""Stage 2, score requests: which rows go to Triton, on which versions.

A batch is sent to the live version (and the shadow one) as they are *when it is submitted*: a switch
that arrives later applies to later batches only, so no batch is scored twice or held back by a switch.
A batch with no scoreable row (all poison) needs no request at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from consumer.batch import Batch


@dataclass(frozen=True)
class ScoreRequest:
    rows: np.ndarray
    live: str
    shadow: str | None


def score_request(batch: Batch, roles: tuple[str, str | None]) -> ScoreRequest | None:
    """The Triton request for ``batch`` under ``roles`` (live, shadow); None when nothing is scoreable."""
    if not len(batch.decoded.transactions):
        return None
    live, shadow = roles
    return ScoreRequest(batch.decoded.rows, live, shadow)
