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

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from taxifraud.config import KafkaSettings
from taxifraud.kafka import consumer_config

log = logging.getLogger(__name__)


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
    and the gateway's ``/score``, so both follow the same switches. It keeps the shared ``fetch.wait.max.ms``:
    a control record answers a held fetch at once, so a shorter wait only adds empty fetches, which the broker
    pays for while the stack is idle."""

    def __init__(self, settings: KafkaSettings, model: str, client_id: str, logger: Any = None) -> None:
        self.model = model
        self.state: ModelControl | None = None
        conf = consumer_config(settings, f"model-control-{client_id}", **{"enable.auto.commit": False})
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


#: ``can_serve(version)``: None when the version can be scored now, else the reason it cannot.
CanServe = Callable[[str], str | None]
#: ``on_fallback(role, version, reason)``: a control record named a version that cannot be served.
OnFallback = Callable[[str, str, str], None]


class VersionSelector:
    """The versions a scorer uses, following the control records but never onto a version it cannot serve.

    Shared by the consumer and the gateway's ``/score``. A record whose live version cannot be served (its
    directory is half-copied, Triton failed to load it, its ``model_meta.json`` is unreadable) keeps the
    last good live version, loudly: an error log and ``on_fallback`` (a metric). A shadow that cannot be
    served is dropped the same way. The wanted state is kept, so :meth:`recheck` switches once it loads.
    """

    def __init__(self, live: str, can_serve: CanServe, on_fallback: OnFallback | None = None) -> None:
        self.live = live
        self.shadow: str | None = None
        self.wanted: ModelControl | None = None
        self._can_serve = can_serve
        self._on_fallback = on_fallback

    def roles(self) -> tuple[str, str | None]:
        return self.live, self.shadow

    def apply(self, state: ModelControl | None) -> bool:
        """Follow a new control record; True when the roles changed."""
        if state is None:
            return False
        self.wanted = state
        return self._select(state, loud=True)

    def recheck(self) -> bool:
        """Try the wanted roles again (a version that failed to load may serve now); True when they changed."""
        if self.wanted is None or self.wanted.roles() == self.roles():
            return False
        return self._select(self.wanted, loud=False)

    def _select(self, state: ModelControl, loud: bool) -> bool:
        live, shadow = self.live, None
        refusals = []
        if state.live == self.live:
            live = state.live
        else:
            why = self._can_serve(state.live)
            if why is None:
                live = state.live
            else:
                refusals.append(("live", state.live, why))
        if state.shadow is not None and state.shadow != live:
            why = self._can_serve(state.shadow)
            if why is None:
                shadow = state.shadow
            else:
                refusals.append(("shadow", state.shadow, why))
        for role, version, why in refusals:
            if loud:
                log.error(
                    "model control (%s) names %s version %s, which cannot be served (%s): %s",
                    state.action,
                    role,
                    version,
                    why,
                    f"staying on live version {self.live}" if role == "live" else "no shadow",
                )
                if self._on_fallback is not None:
                    self._on_fallback(role, version, why)
        if (live, shadow) == self.roles():
            return False
        log.warning(
            "model control (%s): live %s -> %s, shadow %s -> %s",
            state.action,
            self.live,
            live,
            self.shadow,
            shadow,
        )
        self.live, self.shadow = live, shadow
        return True
