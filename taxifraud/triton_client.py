"""Async gRPC client for the fraud model on Triton, shared by the consumer and the gateway's ``/score``.

One call takes a whole encoded batch; it is split into chunks of the model's ``max_batch_size`` (read
from Triton's model config at connect time, never assumed) and the chunks are sent concurrently, so
Triton's dynamic batcher can pack them with other clients' requests.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from taxifraud import wire
from taxifraud.config import DEFAULT_MODEL_VERSION, TritonSettings

log = logging.getLogger(__name__)


class TritonUnavailable(RuntimeError):
    """Triton could not be reached, was not ready, or failed the call: retry later, do not drop data."""


class TritonScorer:
    """Scores encoded trips (``[B, C]`` float32) on Triton; returns the model's outputs by name."""

    def __init__(self, settings: TritonSettings) -> None:
        self.settings = settings
        self.model_name = settings.triton_model_name
        self.model_version = settings.triton_model_version or DEFAULT_MODEL_VERSION
        self.max_batch_size = 0
        self._client: grpcclient.InferenceServerClient | None = None

    async def connect(self) -> TritonScorer:
        """Open the channel and read ``max_batch_size`` from the served model's config."""
        self._client = grpcclient.InferenceServerClient(**self.settings.triton_client_kwargs())
        await self.refresh_config()
        return self

    async def refresh_config(self) -> None:
        client = self._require_client()
        try:
            config = await client.get_model_config(
                self.model_name, self.model_version, as_json=True, client_timeout=self.settings.triton_timeout_s
            )
        except InferenceServerException as exc:
            raise TritonUnavailable(f"cannot read config of {self.model_name}: {exc.message()}") from exc
        self.max_batch_size = int(config["config"].get("max_batch_size", 0)) or 1
        log.info("Triton model %s: max_batch_size=%d", self.model_name, self.max_batch_size)

    async def ready(self, version: str | None = None) -> bool:
        """Whether Triton serves ``version`` (default: ``TRITON_MODEL_VERSION``) now."""
        client = self._require_client()
        try:
            return bool(
                await client.is_model_ready(
                    self.model_name,
                    self.model_version if version is None else version,
                    client_timeout=self.settings.triton_timeout_s,
                )
            )
        except InferenceServerException:
            return False

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _require_client(self) -> grpcclient.InferenceServerClient:
        if self._client is None:
            raise RuntimeError("TritonScorer.connect() was not awaited")
        return self._client

    async def _infer_chunk(self, rows: np.ndarray, version: str) -> dict[str, np.ndarray]:
        client = self._require_client()
        tensor = grpcclient.InferInput(wire.INPUT_TENSOR, list(rows.shape), "FP32")
        tensor.set_data_from_numpy(np.ascontiguousarray(rows, dtype=np.float32))
        outputs = [grpcclient.InferRequestedOutput(name) for name in wire.OUTPUT_TENSORS]
        try:
            result = await client.infer(
                self.model_name,
                [tensor],
                model_version=version,
                outputs=outputs,
                client_timeout=self.settings.triton_timeout_s,
            )
        except InferenceServerException as exc:
            raise TritonUnavailable(f"inference failed: {exc.status()} {exc.message()}") from exc
        return {name: result.as_numpy(name) for name in wire.OUTPUT_TENSORS}

    async def infer(self, rows: np.ndarray, version: str | None = None) -> dict[str, np.ndarray]:
        """Score ``rows`` on ``version`` (default: ``TRITON_MODEL_VERSION``); chunks above ``max_batch_size`` go
        out concurrently and are re-joined in order."""
        if rows.ndim != 2 or rows.shape[1] != wire.N_INPUT_COLUMNS:
            raise ValueError(f"expected [batch, {wire.N_INPUT_COLUMNS}] rows, got {rows.shape}")
        if len(rows) == 0:
            return _empty_outputs()
        if self.max_batch_size == 0:
            raise RuntimeError("TritonScorer.connect() was not awaited")
        step = self.max_batch_size
        chunks = [rows[i : i + step] for i in range(0, len(rows), step)]
        use = self.model_version if version is None else version
        results = await asyncio.gather(*(self._infer_chunk(chunk, use) for chunk in chunks))
        if len(results) == 1:
            return results[0]
        return {name: np.concatenate([r[name] for r in results]) for name in wire.OUTPUT_TENSORS}


def _empty_outputs() -> dict[str, Any]:
    return {
        wire.OUTPUT_SCORE: np.zeros((0, 1), np.float32),
        wire.OUTPUT_IS_FRAUD: np.zeros((0, 1), bool),
        wire.OUTPUT_FEATURE_ERRORS: np.zeros((0, 0), np.float32),
        wire.OUTPUT_FEATURE_EXPECTED: np.zeros((0, 0), np.float32),
    }
