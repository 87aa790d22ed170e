"""Triton model configs: each config.pbtxt variant parses as Triton's ModelConfig protobuf and agrees
with 1/model.onnx (tensor names, types, dims), with the wire contract and with model_meta.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO_ROOT / "model_repository" / "fraud_autoencoder"
ONNX_PATH = MODEL_DIR / "1" / "model.onnx"
CONFIGS = [MODEL_DIR / "config.pbtxt", *sorted((MODEL_DIR / "configs").glob("*.pbtxt"))]
EXPECTED_VARIANTS = {"config.pbtxt", "cpu.pbtxt", "embedded.pbtxt"}

# ONNX IR version and default-domain opset that the ONNX Runtime inside each pinned NGC image can
# load (conservative: 24.08 ships ONNX Runtime 1.18; IR 9 / opset 20 are supported since 1.17).
# Bump together with the image tag in docker-compose.yml.
TRITON_ONNX_LIMITS = {"24.08": (9, 20)}

pytestmark = pytest.mark.skipif(not ONNX_PATH.exists(), reason="model not exported yet (make export)")

# ONNX TensorProto element type -> Triton data type
ONNX_TO_TRITON = {1: "TYPE_FP32", 9: "TYPE_BOOL", 10: "TYPE_FP16", 11: "TYPE_FP64", 7: "TYPE_INT64"}


def _parse(path: Path):  # -> ModelConfig
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def _onnx_io() -> tuple[dict[str, tuple[int, list]], dict[str, tuple[int, list]]]:
    import onnx

    model = onnx.load(str(ONNX_PATH), load_external_data=False)

    def describe(values) -> dict[str, tuple[int, list]]:
        out = {}
        for v in values:
            t = v.type.tensor_type
            out[v.name] = (t.elem_type, [d.dim_value if d.HasField("dim_value") else d.dim_param for d in t.shape.dim])
        return out

    init = {i.name for i in model.graph.initializer}
    return describe([i for i in model.graph.input if i.name not in init]), describe(model.graph.output)


def _data_type_name(config, value: int) -> str:
    from tritonclient.grpc import model_config_pb2

    return model_config_pb2.DataType.Name(value)


def test_all_variants_present() -> None:
    assert {p.name for p in CONFIGS} == EXPECTED_VARIANTS


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_matches_onnx(path: Path) -> None:
    config = _parse(path)
    assert config.name == MODEL_DIR.name
    assert config.max_batch_size > 0, "the clients send batches; the first ONNX dim is the batch"
    inputs, outputs = _onnx_io()
    for declared, actual, kind in ((config.input, inputs, "input"), (config.output, outputs, "output")):
        assert {t.name for t in declared} == set(actual), f"{path.name}: {kind} names differ from model.onnx"
        for tensor in declared:
            elem_type, dims = actual[tensor.name]
            assert _data_type_name(config, tensor.data_type) == ONNX_TO_TRITON[elem_type], tensor.name
            assert not isinstance(dims[0], int) or dims[0] in (0, -1), f"{tensor.name}: ONNX batch dim is fixed"
            assert list(tensor.dims) == dims[1:], f"{path.name}: {tensor.name} dims {list(tensor.dims)} != {dims[1:]}"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_matches_wire_contract_and_meta(path: Path) -> None:
    from taxifraud.wire import MODEL_INPUT_COLUMNS

    config = _parse(path)
    meta = json.loads((MODEL_DIR / "1" / "model_meta.json").read_text())
    by_name = {t.name: list(t.dims) for t in [*config.input, *config.output]}
    assert by_name["trip_fields"] == [len(MODEL_INPUT_COLUMNS)]
    assert list(meta["input_columns"]) == list(MODEL_INPUT_COLUMNS)
    k = len(meta["feature_names"])
    assert by_name["feature_errors"] == by_name["feature_expected"] == [k]
    assert by_name["anomaly_score"] == by_name["is_fraud"] == [1]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_batching_and_warmup_are_consistent(path: Path) -> None:
    config = _parse(path)
    if config.HasField("dynamic_batching"):
        assert all(0 < b <= config.max_batch_size for b in config.dynamic_batching.preferred_batch_size)
    inputs = {t.name: list(t.dims) for t in config.input}
    for warmup in config.model_warmup:
        assert 0 < warmup.batch_size <= config.max_batch_size, warmup.name
        for name, value in warmup.inputs.items():
            assert list(value.dims) == inputs[name], f"{warmup.name}: {name}"


def test_variants_target_the_right_devices() -> None:
    from tritonclient.grpc import model_config_pb2 as pb

    gpu = _parse(MODEL_DIR / "config.pbtxt")
    cpu = _parse(MODEL_DIR / "configs" / "cpu.pbtxt")
    embedded = _parse(MODEL_DIR / "configs" / "embedded.pbtxt")
    assert gpu.platform == cpu.platform == "onnxruntime_onnx"
    assert {g.kind for g in gpu.instance_group} == {pb.ModelInstanceGroup.KIND_GPU}
    assert {g.kind for g in cpu.instance_group} == {pb.ModelInstanceGroup.KIND_CPU}
    assert not cpu.optimization.execution_accelerators.gpu_execution_accelerator
    assert embedded.backend == "python" and (MODEL_DIR / "1" / "model.py").is_file()


def test_onnx_loads_in_the_pinned_triton_image() -> None:
    import onnx

    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    tag = re.search(r"tritonserver:(\d{2}\.\d{2})", compose["services"]["triton"]["image"]).group(1)
    assert tag in TRITON_ONNX_LIMITS, f"add the ONNX Runtime limits of Triton {tag} to TRITON_ONNX_LIMITS"
    max_ir, max_opset = TRITON_ONNX_LIMITS[tag]
    model = onnx.load(str(ONNX_PATH), load_external_data=False)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    assert model.ir_version <= max_ir, f"IR {model.ir_version} > {max_ir}: Triton {tag} cannot load it"
    assert opset <= max_opset, f"opset {opset} > {max_opset}: Triton {tag} cannot load it"
