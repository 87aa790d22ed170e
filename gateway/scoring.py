"""``POST /score``: synchronous scoring on Triton, for callers that need the verdict in the response.

The gateway must keep taking transactions while Triton or the model is missing (``/transactions`` does
not need either), so nothing here blocks or fails start-up: the model metadata and the Triton connection
are (re)established on demand, and a missing piece answers 503 with the reason instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from taxifraud import wire
from taxifraud.config import DEFAULT_MODEL_VERSION
from taxifraud.triton_client import TritonScorer, TritonUnavailable

from .settings import Settings

log = logging.getLogger(__name__)

#: After a failed connect, do not hammer Triton on every request for this long.
RECONNECT_BACKOFF_S = 1.0


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

    def _load_meta(self) -> None:
        from taxifraud.model_meta import ModelMeta  # the model may not exist on a transactions-only gateway

        version = self.settings.triton_model_version or DEFAULT_MODEL_VERSION
        self.meta = ModelMeta.load(self.settings.model_repository, self.settings.triton_model_name, version)
        log.info("model %s metadata loaded: threshold %.4f", self.meta.model_version, self.meta.threshold)

    async def start(self) -> None:
        """Best-effort warm-up at start-up; failures are logged and retried on the first request."""
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

        scorer = await self.ensure()
        rows = wire.encode_rows(transactions)
        try:
            outputs = await scorer.infer(rows)
        except TritonUnavailable as exc:
            raise ScoringUnavailable(f"Triton unavailable: {exc}") from None
        return build_verdicts(transactions, rows, outputs, self.meta)

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
        if self.scorer is not None:
            await self.scorer.close()
            self.scorer = None
