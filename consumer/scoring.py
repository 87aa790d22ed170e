"""Triton calls on an asyncio loop in a helper thread, so scoring overlaps Kafka I/O in the main thread.

The main thread owns every Kafka object and all pipeline state (no locks); it hands encoded batches to
:meth:`TritonCaller.submit` and gets a ``concurrent.futures.Future`` back. Several batches can be in
flight at once (grpc.aio multiplexes them on one channel), which is what keeps Triton's dynamic
batcher fed while the main thread decodes the next batch and produces the previous one's verdicts.

After a failure the channel is rebuilt before the next call: gRPC's own reconnect backoff grows to
two minutes, far longer than a Triton restart, and a fresh channel also re-reads ``max_batch_size``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from taxifraud.config import TritonSettings
from taxifraud.triton_client import TritonScorer, TritonUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreResult:
    outputs: dict[str, np.ndarray]
    seconds: float  # wall time of the whole call
    chunks: tuple[int, ...]  # rows per Triton request (the batch split by max_batch_size)
    version: str = ""  # the version that scored ``outputs`` ("" = TRITON_MODEL_VERSION)
    shadow_version: str | None = None
    #: the shadow version's outputs for the same rows; None without a shadow or when its call failed
    shadow_outputs: dict[str, np.ndarray] | None = None
    shadow_error: str | None = None
    finished_at: float = 0.0  # time.monotonic() when the live call returned (the span after it starts there)


class TritonCaller:
    """Owns the event loop thread and the (re)connectable :class:`TritonScorer`."""

    def __init__(self, settings: TritonSettings) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="triton-io", daemon=True)
        self._scorer: TritonScorer | None = None
        self._stale = True
        self._lock: asyncio.Lock | None = None

    def _run_loop(self) -> None:
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def start(self) -> TritonCaller:
        self._thread.start()
        return self

    @property
    def max_batch_size(self) -> int:
        return self._scorer.max_batch_size if self._scorer else 0

    def connect(self, timeout: float) -> None:
        """Blocking (re)connect; raises TritonUnavailable if Triton or the model is not there."""
        fut = asyncio.run_coroutine_threadsafe(self._reconnect(force=True), self._loop)
        try:
            fut.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            fut.cancel()
            raise TritonUnavailable(f"no answer from Triton within {timeout:.1f}s") from exc

    def submit(
        self, rows: np.ndarray, version: str | None = None, shadow: str | None = None
    ) -> concurrent.futures.Future[ScoreResult]:
        """Score ``rows`` on ``version``; with ``shadow``, on that version too, concurrently (one Triton request
        per version, the same rows). A failing shadow never fails or delays the live result beyond its own call."""
        return asyncio.run_coroutine_threadsafe(self._score(rows, version, shadow), self._loop)

    def version_ready(self, version: str, timeout: float) -> str | None:
        """Blocking: None when Triton serves ``version`` now, else why not (for the model-version selector)."""
        scorer = self._scorer
        if scorer is None:
            return "not connected to Triton"
        fut = asyncio.run_coroutine_threadsafe(scorer.ready(version), self._loop)
        try:
            ready = fut.result(timeout)
        except Exception as exc:  # a timeout or a broken channel: not servable now, asked again later
            fut.cancel()
            return f"readiness check failed: {type(exc).__name__}: {exc}"
        return None if ready else "Triton does not serve it (not loaded)"

    def stop(self, timeout: float = 5.0) -> None:
        if not self._thread.is_alive():
            if self._thread.ident is None and not self._loop.is_closed():
                self._loop.close()  # never started
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout)
        except Exception:  # closing a broken channel must not mask the real shutdown
            log.debug("closing the Triton client failed", exc_info=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    async def _close(self) -> None:
        if self._scorer is not None:
            await self._scorer.close()
            self._scorer = None

    async def _reconnect(self, force: bool = False) -> TritonScorer:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._scorer is not None and not self._stale and not force:
                return self._scorer  # another call reconnected while we waited
            if self._scorer is not None:
                try:
                    await self._scorer.close()
                except Exception:
                    log.debug("closing the old Triton channel failed", exc_info=True)
                self._scorer = None
            scorer = TritonScorer(self.settings)
            try:
                await scorer.connect()
            except BaseException:
                await scorer.close()
                raise
            self._scorer = scorer
            self._stale = False
            return scorer

    async def _score(self, rows: np.ndarray, version: str | None = None, shadow: str | None = None) -> ScoreResult:
        scorer = self._scorer
        if scorer is None or self._stale:
            scorer = await self._reconnect()
        started = time.perf_counter()
        shadow_task = asyncio.ensure_future(scorer.infer(rows, shadow)) if shadow else None
        try:
            outputs = await scorer.infer(rows, version)
        except TritonUnavailable:
            if shadow_task is not None:
                shadow_task.cancel()
            self._stale = True
            raise
        except Exception as exc:  # an unexpected client error is still "retry later", never data loss
            if shadow_task is not None:
                shadow_task.cancel()
            self._stale = True
            raise TritonUnavailable(f"{type(exc).__name__}: {exc}") from exc
        seconds = time.perf_counter() - started
        finished_at = time.monotonic()
        shadow_outputs, shadow_error = None, None
        if shadow_task is not None:
            try:
                shadow_outputs = await shadow_task
            except Exception as exc:  # the shadow is an experiment: its failure costs only its verdicts
                shadow_error = f"{type(exc).__name__}: {exc}"
        step = scorer.max_batch_size or len(rows)
        chunks = tuple(min(step, len(rows) - i) for i in range(0, len(rows), step))
        return ScoreResult(outputs, seconds, chunks, version or "", shadow, shadow_outputs, shadow_error, finished_at)
