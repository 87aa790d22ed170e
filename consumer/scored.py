"""What every output stage reads: a batch with its Triton result and live verdicts, and the topic names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from consumer.batch import Batch
from consumer.scoring import ScoreResult
from taxifraud.config import KafkaSettings
from taxifraud.model_meta import ModelMeta


@dataclass(frozen=True)
class Topics:
    verdicts: str
    alerts: str
    shadow: str
    dlq: str

    @classmethod
    def of(cls, settings: KafkaSettings) -> Topics:
        return cls(settings.topic_verdicts, settings.topic_alerts, settings.topic_verdicts_shadow, settings.topic_dlq)


@dataclass
class Scored:
    """A batch with its Triton result and live verdicts: what every output stage reads."""

    batch: Batch
    result: ScoreResult
    verdicts: list[dict[str, Any]]
    skip: np.ndarray | None  # rows of revoked partitions: produce nothing for them
    meta_of: Callable[[str], ModelMeta]
    topics: Topics
    shadow_failed: bool = False
