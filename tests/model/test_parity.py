"""Parity: torch vs ONNX Runtime (fresh export of a small model) and committed ONNX vs real Triton."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from export.data import TARIFF_PATH
from export.export_onnx import PARITY_TOL, compare, export_onnx, parity_rows, torch_outputs
from export.model import FraudAutoencoder
from taxifraud import tariff
from taxifraud.onnx_scorer import OnnxScorer
from taxifraud.wire import N_INPUT_COLUMNS, encode_rows
from tests.model.conftest import NORMAL_TRIP, ONNX_PATH, REPOSITORY


def _rows() -> np.ndarray:
    rng = np.random.default_rng(3)
    base = encode_rows([NORMAL_TRIP, {**NORMAL_TRIP, "pickup_datetime": "2025-02-04 21:10:00"}])
    real = base[rng.integers(0, 2, 300)] * np.abs(rng.normal(1.0, 0.3, (300, N_INPUT_COLUMNS)))
    return parity_rows(real.astype(np.float32))


def test_torch_and_onnxruntime_agree(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = FraudAutoencoder(hidden=(32, 16), bottleneck=6).eval()
    model.features.set_zone_boroughs({i: "Manhattan" if i % 2 else "Queens" for i in range(1, 264)})
    model.features.set_tariff(tariff.load(TARIFF_PATH))
    model.spread.uniform_(0.5, 2.0)
    model.threshold.fill_(1.5)
    export_onnx(model, tmp_path / "fraud_autoencoder" / "1" / "model.onnx")
    rows = _rows()
    report = compare("torch vs ort", torch_outputs(model, rows), OnnxScorer(tmp_path).infer(rows))
    assert max(report.values()) <= PARITY_TOL


def test_compare_catches_a_difference() -> None:
    a = {k: np.zeros((2, 1), np.float32) for k in ("anomaly_score", "feature_errors", "feature_expected")}
    a["is_fraud"] = np.zeros((2, 1), bool)
    b = {**a, "anomaly_score": np.full((2, 1), 1e-3, np.float32)}
    with pytest.raises(AssertionError):
        compare("planted", a, b)


@pytest.fixture(scope="module")
def triton_grpc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not ONNX_PATH.exists():
        pytest.skip("model not exported yet")
    pytest.importorskip("pytriton")
    from operations.embedded.process import free_port
    from operations.embedded.triton import start_triton

    work = tmp_path_factory.mktemp("triton")
    http, grpc, metrics = free_port(), free_port(), free_port()
    proc = start_triton(REPOSITORY, work, "127.0.0.1", http, grpc, metrics, work / "triton.log")
    try:
        yield f"127.0.0.1:{grpc}"
    finally:
        proc.stop()


@pytest.mark.integration
def test_triton_matches_onnxruntime(triton_grpc: str) -> None:
    import tritonclient.grpc as grpcclient

    from export.export_onnx import OUTPUT_TENSORS

    rows = _rows()
    client = grpcclient.InferenceServerClient(triton_grpc)
    inp = grpcclient.InferInput("trip_fields", list(rows.shape), "FP32")
    inp.set_data_from_numpy(rows)
    res = client.infer("fraud_autoencoder", [inp])
    got = {k: res.as_numpy(k) for k in OUTPUT_TENSORS}
    compare("ort vs triton", OnnxScorer(REPOSITORY).infer(rows), got)


@pytest.mark.integration
def test_triton_refuses_a_bad_request_alone(triton_grpc: str) -> None:
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    client = grpcclient.InferenceServerClient(triton_grpc)
    bad = grpcclient.InferInput("trip_fields", [2, 16], "FP32")
    bad.set_data_from_numpy(np.zeros((2, 16), np.float32))
    with pytest.raises(InferenceServerException):
        client.infer("fraud_autoencoder", [bad])
    good = grpcclient.InferInput("trip_fields", [1, N_INPUT_COLUMNS], "FP32")
    good.set_data_from_numpy(np.full((1, N_INPUT_COLUMNS), np.nan, np.float32))
    assert client.infer("fraud_autoencoder", [good]).as_numpy("anomaly_score").shape == (1, 1)


@pytest.mark.integration
def test_our_client_reads_what_tritonclient_reads(triton_grpc: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``TritonScorer`` speaks to the stub directly: the same rows give the same arrays, types and shapes."""
    import asyncio

    import tritonclient.grpc as grpcclient

    from export.export_onnx import OUTPUT_TENSORS
    from taxifraud.config import TritonSettings
    from taxifraud.triton_client import TritonScorer, TritonUnavailable

    rows = _rows()[:40]
    client = grpcclient.InferenceServerClient(triton_grpc)
    inp = grpcclient.InferInput("trip_fields", list(rows.shape), "FP32")
    inp.set_data_from_numpy(rows)
    res = client.infer("fraud_autoencoder", [inp])
    want = {k: res.as_numpy(k) for k in OUTPUT_TENSORS}
    monkeypatch.setenv("TRITON_GRPC_URL", triton_grpc)

    async def ours() -> tuple[dict[str, np.ndarray], bool, int]:
        scorer = await TritonScorer(TritonSettings()).connect()
        try:
            got = await scorer.infer(rows)
            with pytest.raises(TritonUnavailable, match="inference failed"):
                await scorer.infer(rows, version="999")
            return got, await scorer.ready("999"), scorer.max_batch_size
        finally:
            await scorer.close()

    got, ready_999, max_batch = asyncio.run(ours())
    assert max_batch == 1024 and not ready_999
    for name in OUTPUT_TENSORS:
        assert got[name].dtype == want[name].dtype and got[name].shape == want[name].shape
        np.testing.assert_array_equal(got[name], want[name])
