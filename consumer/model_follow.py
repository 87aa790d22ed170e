"""Following the model-control topic: which versions the next batch is scored on.

Reads the topic between batches (never inside one), and hands each record to the shared
:class:`taxifraud.model_control.VersionSelector`, which refuses a version Triton cannot serve or whose
``model_meta.json`` cannot be read, keeping the last good live version (``consumer_model_fallback_total``).
A refused version is tried again every :data:`RECHECK_S`, so a version that finishes loading is taken up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from consumer.metrics import ConsumerMetrics
from consumer.settings import Settings
from taxifraud.config import DEFAULT_MODEL_VERSION
from taxifraud.model_control import ControlReader, VersionSelector
from taxifraud.model_meta import ModelMeta

log = logging.getLogger(__name__)

#: How often the model-control topic is read (between batches).
CONTROL_INTERVAL_S = 0.1
#: How often a refused version is tried again.
RECHECK_S = 5.0


class ModelFollower:
    """The live/shadow roles, each version's metadata, and the ``consumer_model_version`` gauge."""

    def __init__(
        self,
        settings: Settings,
        live: str,
        meta: ModelMeta,
        metrics: ConsumerMetrics,
        triton_ready: Callable[[str], str | None],
    ) -> None:
        self.s = settings
        self.metrics = metrics
        self.metas: dict[str, ModelMeta] = {live: meta}
        self._triton_ready = triton_ready
        self.selector = VersionSelector(live, self._can_serve, self._fallback)
        self.control: ControlReader | None = None
        self._next_poll = 0.0
        self._next_recheck = 0.0
        self._publish()

    def roles(self) -> tuple[str, str | None]:
        return self.selector.roles()

    def meta(self, version: str) -> ModelMeta:
        """``model_meta.json`` of a Triton version ("" = the configured one), read once per version."""
        version = version or self.s.triton_model_version or DEFAULT_MODEL_VERSION
        meta = self.metas.get(version)
        if meta is None:
            meta = self.metas[version] = ModelMeta.load(self.s.model_repository, self.s.triton_model_name, version)
        return meta

    def reload(self) -> None:
        """Forget every version's metadata (read again on next use) after a model/metadata mismatch."""
        self.metas.clear()
        try:
            self.meta(self.selector.live)
        except (OSError, ValueError, KeyError) as exc:
            log.error("cannot re-read model metadata: %s", exc)

    def start(self, client_id: str, logger: logging.Logger) -> None:
        """Read the model-control topic (one partition, compacted) from its start: the latest record wins."""
        self.control = ControlReader(self.s, self.s.triton_model_name, client_id, logger=logger)

    def close(self) -> None:
        if self.control is not None:
            self.control.close()
            self.control = None

    def follow(self, now: float) -> None:
        """Take up a new control record, or a version refused before that serves now."""
        changed = False
        if self.control is not None and now >= self._next_poll:
            self._next_poll = now + CONTROL_INTERVAL_S
            changed = self.selector.apply(self.control.poll())
        if not changed and now >= self._next_recheck:
            self._next_recheck = now + RECHECK_S
            changed = self.selector.recheck()
        if changed:
            self._publish()

    def _can_serve(self, version: str) -> str | None:
        try:  # its metadata must be readable before anything is sent to it
            self.meta(version)
        except (OSError, ValueError, KeyError) as exc:
            return f"cannot read model_meta.json: {exc}"
        return self._triton_ready(version)

    def _fallback(self, role: str, version: str, _why: str) -> None:
        self.metrics.model_fallback.labels(role=role, version=version).inc()

    def _publish(self) -> None:
        live, shadow = self.selector.roles()
        self.metrics.model_version.clear()
        self.metrics.model_version.labels(role="live", version=live).set(1)
        if shadow is not None:
            self.metrics.model_version.labels(role="shadow", version=shadow).set(1)
