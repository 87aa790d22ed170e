"""The consumer's stages in order; the worker (:mod:`consumer.worker`) only moves batches between them.

    decode (consumer.intake) -> score requests (consumer.requests) -> Triton (consumer.scoring)
      -> verdicts (consumer.verdicts) -> outputs: STAGES below -> acks -> offsets (consumer.offsets)

Every stage after scoring is a plain function ``Scored -> list[Output]``: it may read and enrich the
batch's verdicts and returns the records to produce. A new stage (per-vehicle state, say) is one module
with such a function and one line in :data:`STAGES`; its records count as outputs of the batch, so the
offset rule and the at-least-once guarantee cover it without further work.
"""

from __future__ import annotations

from collections.abc import Callable

from consumer.batch import Batch
from consumer.outputs import Output, live_outputs, revoked_rows
from consumer.scored import Scored, Topics
from consumer.scoring import ScoreResult
from consumer.shadow import shadow_outputs
from consumer.verdicts import live_verdicts
from taxifraud.model_meta import ModelMeta

__all__ = ["STAGES", "Scored", "Stage", "Topics", "outputs", "scored"]


Stage = Callable[[Scored], list[Output]]

#: The output stages, run in this order on every scored batch.
STAGES: tuple[Stage, ...] = (
    live_outputs,
    shadow_outputs,
)


def scored(batch: Batch, result: ScoreResult, meta_of: Callable[[str], ModelMeta], topics: Topics) -> Scored:
    """Stage 3 for a batch: its verdicts (raises :class:`consumer.verdicts.ModelMismatch`)."""
    return Scored(batch, result, live_verdicts(batch, result, meta_of), revoked_rows(batch), meta_of, topics)


def outputs(item: Scored) -> list[Output]:
    """Every record the output stages make of a scored batch, in stage order."""
    out: list[Output] = []
    for stage in STAGES:
        out.extend(stage(item))
    return out
