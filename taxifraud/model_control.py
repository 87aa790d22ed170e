"""Which model version is live and which one shadows it: the record on the ``model-control`` topic.

Triton serves every version in the model's directory (``version_policy: { all {} }``); what is *live* is
not Triton's choice but this record, so shipping a version is a record, not a restart:

    {"model": "fraud_autoencoder", "live": "1", "shadow": "2" | null, "previous": "1" | null,
     "changed_at": RFC 3339 UTC, "action": "shadow" | "promote" | "rollback" | "pin"}

The topic is compacted with one partition, keyed by model name: the latest record is the state. Each
consumer reads it between batches, so a switch takes effect for the next batch it submits; the batches
already in Triton finish on the version they were sent to, and every verdict names the version that made
it. The transitions are pure functions here; ``taxifraud model`` writes them, the consumer follows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from taxifraud.config import KafkaSettings
from taxifraud.kafka import consumer_config


class ControlError(ValueError):
    """A transition that cannot be made (unknown version, nothing to roll back to, ...)."""


@dataclass(frozen=True)
class ModelControl:
    model: str
    live: str
    shadow: str | None = None
    previous: str | None = None
    changed_at: str = ""
    action: str = "pin"

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ModelControl | None:
        """The state in a ``model-control`` record, or None when it is not one."""
        model, live = record.get("model"), record.get("live")
        if not isinstance(model, str) or not isinstance(live, str) or not live:
            return None
        shadow, previous = record.get("shadow"), record.get("previous")
        return cls(
            model=model,
            live=live,
            shadow=shadow if isinstance(shadow, str) and shadow else None,
            previous=previous if isinstance(previous, str) and previous else None,
            changed_at=str(record.get("changed_at", "")),
            action=str(record.get("action", "pin")),
        )

    def record(self) -> dict[str, Any]:
        return asdict(self)

    def roles(self) -> tuple[str, str | None]:
        """What a scorer acts on: the live version and the shadow one."""
        return self.live, self.shadow


def _known(version: str, available: set[str]) -> None:
    if version not in available:
        raise ControlError(f"version {version} is not in the model repository (has: {', '.join(sorted(available))})")


def shadow(state: ModelControl, version: str, available: set[str], at: str) -> ModelControl:
    """Score ``version`` beside the live one; its verdicts go to the shadow topic only."""
    _known(version, available)
    if version == state.live:
        raise ControlError(f"version {version} is already live")
    return replace(state, shadow=version, changed_at=at, action="shadow")


def promote(state: ModelControl, version: str, available: set[str], at: str) -> ModelControl:
    """Make ``version`` live; the old live version is kept as ``previous`` for a rollback."""
    _known(version, available)
    if version == state.live:
        raise ControlError(f"version {version} is already live")
    return replace(
        state,
        live=version,
        previous=state.live,
        shadow=None if state.shadow == version else state.shadow,
        changed_at=at,
        action="promote",
    )


def rollback(state: ModelControl, available: set[str], at: str) -> ModelControl:
    """Make the previous live version live again (and the one rolled back from its ``previous``)."""
    if state.previous is None:
        raise ControlError("nothing to roll back to: no version was live before this one")
    _known(state.previous, available)
    return replace(
        state,
        live=state.previous,
        previous=state.live,
        shadow=None if state.shadow == state.previous else state.shadow,
        changed_at=at,
        action="rollback",
    )


def numbered_versions(names: list[str]) -> list[str]:
    """Triton's version directories (positive integers), in numeric order."""
    return sorted((n for n in names if n.isdigit() and int(n) > 0), key=int)


class ControlReader:
    """Reads the ``model-control`` topic (one partition, from its start) and keeps the latest state of one
    model; :meth:`poll` never blocks, so callers read it between batches or requests. Shared by the consumer
    and the gateway's ``/score``, so both follow the same switches."""

    def __init__(self, settings: KafkaSettings, model: str, client_id: str, logger: Any = None) -> None:
        self.model = model
        self.state: ModelControl | None = None
        conf = consumer_config(
            settings, f"model-control-{client_id}", **{"enable.auto.commit": False, "fetch.wait.max.ms": 10}
        )
        self._consumer = Consumer(conf, logger=logger) if logger is not None else Consumer(conf)
        self._consumer.assign([TopicPartition(settings.topic_model_control, 0, OFFSET_BEGINNING)])

    def poll(self) -> ModelControl | None:
        """Read what has arrived; returns the new state if it changed, else None."""
        latest = None
        for msg in self._consumer.consume(100, 0):
            if msg.error() is not None:
                continue
            try:
                record = orjson.loads(msg.value() or b"null")
            except orjson.JSONDecodeError:
                continue
            state = ModelControl.from_record(record) if isinstance(record, dict) else None
            if state is not None and state.model == self.model:
                latest = state
        unchanged = self.state is not None and latest is not None and latest.roles() == self.state.roles()
        if latest is None or unchanged:
            return None
        self.state = latest
        return latest

    def close(self) -> None:
        self._consumer.close()
