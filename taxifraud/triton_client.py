"""Async gRPC client for the fraud model on Triton, shared by the consumer and the gateway's ``/score``.

One call takes a whole encoded batch; it is split into chunks of the model's ``max_batch_size`` (read
from Triton's model config at connect time, never assumed) and the chunks are sent concurrently, so
Triton's dynamic batcher can pack them with other clients' requests.

Requests go straight to Triton's generated gRPC stub with the rows as one raw byte buffer, and outputs are
read back with ``np.frombuffer``: at the consumer's batch sizes (a few rows a call) tritonclient's
``InferInput`` / ``InferResult`` wrappers cost about a tenth of the client's CPU per call.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
import numpy as np
from tritonclient.grpc import MAX_GRPC_MESSAGE_SIZE, KeepAliveOptions, service_pb2, service_pb2_grpc
from tritonclient.utils import triton_to_np_dtype

from taxifraud import wire
from taxifraud.config import DEFAULT_MODEL_VERSION, TritonSettings

log = logging.getLogger(__name__)


class TritonUnavailable(RuntimeError):
    """Triton could not be reached, was not ready, or failed the call: retry later, do not drop data."""


def infer_request(model: str, version: str, rows: np.ndarray) -> Any:
    """``ModelInferRequest`` for ``rows`` ([n, C] float32) asking for every output of the model, by name."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    return service_pb2.ModelInferRequest(
        model_name=model,
        model_version=version,
        inputs=[
            service_pb2.ModelInferRequest.InferInputTensor(
                name=wire.INPUT_TENSOR, datatype="FP32", shape=list(rows.shape)
            )
        ],
        outputs=[service_pb2.ModelInferRequest.InferRequestedOutputTensor(name=name) for name in wire.OUTPUT_TENSORS],
        raw_input_contents=[rows.tobytes()],
    )


def response_outputs(response: Any) -> dict[str, np.ndarray]:
    """Every output of a ``ModelInferResponse`` by name, as read-only arrays over the response's raw bytes."""
    if len(response.raw_output_contents) != len(response.outputs):
        raise TritonUnavailable(
            f"Triton answered {len(response.outputs)} outputs with {len(response.raw_output_contents)} raw buffers"
        )
    out: dict[str, np.ndarray] = {}
    for tensor, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        dtype = triton_to_np_dtype(tensor.datatype)
        if dtype is None or dtype is np.object_:
            raise TritonUnavailable(f"output {tensor.name} has datatype {tensor.datatype}, not a numeric tensor")
        out[tensor.name] = np.frombuffer(raw, dtype=dtype).reshape(tuple(tensor.shape))
    missing = [name for name in wire.OUTPUT_TENSORS if name not in out]
    if missing:
        raise TritonUnavailable(f"Triton's answer lacks {missing}")
    return out


def _channel(settings: TritonSettings) -> grpc.aio.Channel:
    """The channel tritonclient would open for these settings (message size, keepalive, TLS from files)."""
    keepalive = KeepAliveOptions()
    options = [
        ("grpc.max_send_message_length", MAX_GRPC_MESSAGE_SIZE),
        ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE_SIZE),
        ("grpc.keepalive_time_ms", keepalive.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", keepalive.keepalive_timeout_ms),
        ("grpc.keepalive_permit_without_calls", keepalive.keepalive_permit_without_calls),
        ("grpc.http2.max_pings_without_data", keepalive.http2_max_pings_without_data),
    ]
    if not settings.triton_ssl:
        return grpc.aio.insecure_channel(settings.triton_grpc_url, options=options)

    def read(path: Any) -> bytes | None:
        return path.read_bytes() if path else None

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(settings.triton_ssl_ca_file),
        private_key=read(settings.triton_ssl_key_file),
        certificate_chain=read(settings.triton_ssl_cert_file),
    )
    return grpc.aio.secure_channel(settings.triton_grpc_url, credentials, options=options)


def _why(exc: grpc.RpcError) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return f"RPC error: {exc}"


class TritonScorer:
    """Scores encoded trips (``[B, C]`` float32) on Triton; returns the model's outputs by name."""

    def __init__(self, settings: TritonSettings) -> None:
        self.settings = settings
        self.model_name = settings.triton_model_name
        self.model_version = settings.triton_model_version or DEFAULT_MODEL_VERSION
        self.max_batch_size = 0
        self._channel: grpc.aio.Channel | None = None
        self._stub: service_pb2_grpc.GRPCInferenceServiceStub | None = None

    async def connect(self) -> TritonScorer:
        """Open the channel and read ``max_batch_size`` from the served model's config."""
        self._channel = _channel(self.settings)
        self._stub = service_pb2_grpc.GRPCInferenceServiceStub(self._channel)
        await self.refresh_config()
        return self

    async def refresh_config(self) -> None:
        stub = self._require_stub()
        request = service_pb2.ModelConfigRequest(name=self.model_name, version=self.model_version)
        try:
            response = await stub.ModelConfig(request, timeout=self.settings.triton_timeout_s)
        except grpc.RpcError as exc:
            raise TritonUnavailable(f"cannot read config of {self.model_name}: {_why(exc)}") from exc
        self.max_batch_size = int(response.config.max_batch_size) or 1
        log.info("Triton model %s: max_batch_size=%d", self.model_name, self.max_batch_size)

    async def ready(self, version: str | None = None) -> bool:
        """Whether Triton serves ``version`` (default: ``TRITON_MODEL_VERSION``) now."""
        stub = self._require_stub()
        request = service_pb2.ModelReadyRequest(
            name=self.model_name, version=self.model_version if version is None else version
        )
        try:
            response = await stub.ModelReady(request, timeout=self.settings.triton_timeout_s)
        except grpc.RpcError:
            return False
        return bool(response.ready)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
            self._stub = None

    def _require_stub(self) -> service_pb2_grpc.GRPCInferenceServiceStub:
        if self._stub is None:
            raise RuntimeError("TritonScorer.connect() was not awaited")
        return self._stub

    async def _infer_chunk(self, rows: np.ndarray, version: str) -> dict[str, np.ndarray]:
        stub = self._require_stub()
        try:
            response = await stub.ModelInfer(
                infer_request(self.model_name, version, rows), timeout=self.settings.triton_timeout_s
            )
        except grpc.RpcError as exc:
            raise TritonUnavailable(f"inference failed: {_why(exc)}") from exc
        return response_outputs(response)

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
