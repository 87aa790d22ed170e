"""The exported graph is ONNX Runtime's basic-optimised one and stays portable (standard ONNX ops only)."""

from __future__ import annotations

from pathlib import Path

import onnx
import torch

from export.data import TARIFF_PATH
from export.export_onnx import OPSET, export_onnx
from export.model import FraudAutoencoder
from taxifraud import tariff


def test_exported_graph_is_folded_and_uses_standard_ops_only(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = FraudAutoencoder(hidden=(16, 8), bottleneck=4).eval()
    model.features.set_tariff(tariff.load(TARIFF_PATH))
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    proto = onnx.load(str(path))
    # TensorRT (the production config) takes only the standard domain; ORT's extended level would add com.microsoft.
    assert {node.domain for node in proto.graph.node} == {""}
    assert [(entry.domain, entry.version) for entry in proto.opset_import] == [("", OPSET)]
    # Constant folding turned every Constant node into an initializer, and the threshold is still one by name
    # (recalibration replaces it there).
    assert not [node for node in proto.graph.node if node.op_type == "Constant"]
    assert "threshold" in {init.name for init in proto.graph.initializer}
