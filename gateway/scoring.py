"""``POST /score``: synchronous scoring on Triton, for callers that need the verdict in the response.

The gateway must keep taking transactions while Triton or the model is missing (``/transactions`` does
not need either), so nothing here blocks or fails start-up: the model metadata and the Triton connection
are (re)established on demand, and a missing piece answers 503 with the reason instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from taxifraud import wire
from taxifraud.config import DEFAULT_MODEL_VERSION
from taxifraud.model_control import ControlReader, VersionSelector
from taxifraud.triton_client import TritonScorer, TritonUnavailable

from .settings import Settings

log = logging.getLogger(__name__)
RDKAFKA_LOG = logging.getLogger("gateway.rdkafka.control")

#: After a failed connect, do not hammer Triton on every request for this long.
RECONNECT_BACKOFF_S = 1.0
#: How often a request looks at the model-control topic for a promotion or rollback (never blocking).
CONTROL_INTERVAL_S = 0.2


class ScoringUnavailable(Exception):
    """Scoring cannot run now (Triton down or not ready, model metadata missing); retry later."""


class ScoreService:
    """Owns the model metadata and the Triton client of one gateway process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.meta: Any = None  # taxifraud.model_meta.ModelMeta once loaded
        self.scorer: TritonScorer | None = None
        self._lock = asyncio.Lock()
        self._last_attempt = 0.0
        self._last_error = "not connected yet"
        # The live version follows `taxifraud model promote/rollback`, like the consumers' (no shadow here).
        self.live = settings.triton_model_version or DEFAULT_MODEL_VERSION
        self.metas: dict[str, Any] = {}
        self.control: ControlReader | None = None
        self.selector = VersionSelector(self.live, self._can_serve)
        self._next_control = 0.0

    def _meta_of(self, version: str) -> Any:
        from taxifraud.model_meta import ModelMeta  # the model may not exist on a transactions-only gateway

        meta = self.metas.get(version)
        if meta is None:
            meta = ModelMeta.load(self.settings.model_repository, self.settings.triton_model_name, version)
            self.metas[version] = meta
            log.info(
                "model %s (version %s) metadata loaded: threshold %.4f", meta.model_version, version, meta.threshold
            )
        return meta

    def _load_meta(self) -> None:
        self.meta = self._meta_of(self.live)

    def _can_serve(self, version: str) -> str | None:
        try:  # /score needs the version's metadata before it sends anything to it
            self._meta_of(version)
        except (OSError, ValueError, KeyError) as exc:
            return f"cannot read model_meta.json: {exc}"
        return None

    def _follow_control(self) -> None:
        """Switch the live version at a promotion or rollback (read between requests, never blocking); a
        version whose metadata cannot be read is refused by :class:`VersionSelector`, as in the consumer."""
        now = time.monotonic()
        if self.control is None or now < self._next_control:
            return
        self._next_control = now + CONTROL_INTERVAL_S
        if self.selector.apply(self.control.poll()) or self.selector.recheck():
            self.live = self.selector.live
            self.meta = self._meta_of(self.live)
            log.warning("/score now on version %s", self.live)

    async def start(self) -> None:
        """Best-effort warm-up at start-up; failures are logged and retried on the first request."""
        self.control = ControlReader(
            self.settings, self.settings.triton_model_name, f"gateway-{os.getpid()}", logger=RDKAFKA_LOG
        )
        try:
            await self.ensure()
        except ScoringUnavailable as exc:
            log.warning("/score not available yet: %s", exc)

    async def ensure(self) -> TritonScorer:
        """A connected scorer with metadata loaded, or :class:`ScoringUnavailable`."""
        scorer = self.scorer
        if scorer is not None and scorer.max_batch_size > 0 and self.meta is not None:
            return scorer
        async with self._lock:
            if self.scorer is not None and self.scorer.max_batch_size > 0 and self.meta is not None:
                return self.scorer
            if time.monotonic() - self._last_attempt < RECONNECT_BACKOFF_S:
                raise ScoringUnavailable(self._last_error)
            self._last_attempt = time.monotonic()
            try:
                if self.meta is None:
                    self._load_meta()
                if self.scorer is None:
                    self.scorer = TritonScorer(self.settings)
                    await self.scorer.connect()
                else:
                    await self.scorer.refresh_config()
            except TritonUnavailable as exc:
                self._last_error = f"Triton unavailable: {exc}"
                raise ScoringUnavailable(self._last_error) from None
            except (OSError, ValueError, KeyError, ImportError) as exc:
                self._last_error = f"model metadata not loadable from {self.settings.model_repository}: {exc}"
                raise ScoringUnavailable(self._last_error) from None
            return self.scorer

    async def score(self, transactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Verdicts for stamped transactions, in order (the consumer's exact code path for the same trip)."""
        from taxifraud.verdicts import build_verdicts

        self._follow_control()
        scorer = await self.ensure()
        rows = wire.encode_rows(transactions)
        meta = self.meta
        try:
            outputs = await scorer.infer(rows, self.live)
        except TritonUnavailable as exc:
            raise ScoringUnavailable(f"Triton unavailable: {exc}") from None
        return build_verdicts(transactions, rows, outputs, meta)

    async def readiness(self) -> dict[str, Any]:
        """For ``/readyz``: model metadata loaded and Triton reports the model ready."""
        try:
            scorer = await self.ensure()
        except ScoringUnavailable as exc:
            return {"ok": False, "error": str(exc)}
        if not await scorer.ready():
            return {"ok": False, "error": f"model {scorer.model_name} not ready on {self.settings.triton_grpc_url}"}
        return {"ok": True, "model": scorer.model_name, "model_version": self.meta.model_version}

    async def close(self) -> None:
        if self.control is not None:
            self.control.close()
        if self.scorer is not None:
            await self.scorer.close()
            self.scorer = None
