"""The Triton client's request and response handling, without a server: the bytes Triton reads and writes."""

from __future__ import annotations

import numpy as np
import pytest
from tritonclient.grpc import service_pb2

from taxifraud import wire
from taxifraud.triton_client import TritonUnavailable, infer_request, response_outputs


def _response(outputs: dict[str, np.ndarray], datatypes: dict[str, str]) -> service_pb2.ModelInferResponse:
    response = service_pb2.ModelInferResponse(model_name="m", model_version="1")
    for name, array in outputs.items():
        tensor = response.outputs.add()
        tensor.name, tensor.datatype = name, datatypes[name]
        tensor.shape.extend(array.shape)
        response.raw_output_contents.append(np.ascontiguousarray(array).tobytes())
    return response


def _outputs(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(n)
    return {
        wire.OUTPUT_SCORE: rng.random((n, 1), dtype=np.float32),
        wire.OUTPUT_IS_FRAUD: rng.random((n, 1)) > 0.5,
        wire.OUTPUT_FEATURE_ERRORS: rng.random((n, 7), dtype=np.float32),
        wire.OUTPUT_FEATURE_EXPECTED: rng.random((n, 7), dtype=np.float32),
    }


TYPES = {
    wire.OUTPUT_SCORE: "FP32",
    wire.OUTPUT_IS_FRAUD: "BOOL",
    wire.OUTPUT_FEATURE_ERRORS: "FP32",
    wire.OUTPUT_FEATURE_EXPECTED: "FP32",
}


def test_the_request_carries_the_rows_as_float32_bytes_and_asks_for_every_output() -> None:
    rows = np.arange(3 * wire.N_INPUT_COLUMNS, dtype=np.float64).reshape(3, wire.N_INPUT_COLUMNS)
    request = infer_request("fraud_autoencoder", "7", rows)
    assert (request.model_name, request.model_version) == ("fraud_autoencoder", "7")
    (tensor,) = request.inputs
    assert (tensor.name, tensor.datatype, list(tensor.shape)) == (wire.INPUT_TENSOR, "FP32", [3, wire.N_INPUT_COLUMNS])
    (raw,) = request.raw_input_contents
    np.testing.assert_array_equal(np.frombuffer(raw, np.float32).reshape(rows.shape), rows.astype(np.float32))
    assert [o.name for o in request.outputs] == list(wire.OUTPUT_TENSORS)


def test_the_request_survives_serialisation() -> None:
    rows = np.full((2, wire.N_INPUT_COLUMNS), np.nan, np.float32)
    parsed = service_pb2.ModelInferRequest.FromString(infer_request("m", "", rows).SerializeToString())
    assert np.isnan(np.frombuffer(parsed.raw_input_contents[0], np.float32)).all()


@pytest.mark.parametrize("n", [1, 5])
def test_outputs_are_read_back_by_name_with_their_shape_and_type(n: int) -> None:
    sent = _outputs(n)
    response = service_pb2.ModelInferResponse.FromString(_response(sent, TYPES).SerializeToString())
    got = response_outputs(response)
    assert sorted(got) == sorted(sent)
    for name, array in sent.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape
        np.testing.assert_array_equal(got[name], array)


def test_an_answer_without_an_output_is_an_error_not_a_short_result() -> None:
    sent = _outputs(2)
    del sent[wire.OUTPUT_FEATURE_EXPECTED]
    with pytest.raises(TritonUnavailable, match=wire.OUTPUT_FEATURE_EXPECTED):
        response_outputs(_response(sent, TYPES))


def test_an_answer_with_outputs_but_no_raw_buffers_is_an_error() -> None:
    response = _response(_outputs(2), TYPES)
    del response.raw_output_contents[:]
    with pytest.raises(TritonUnavailable, match="raw buffers"):
        response_outputs(response)


def test_a_string_output_is_refused() -> None:
    with pytest.raises(TritonUnavailable, match="BYTES"):
        response_outputs(_response(_outputs(1), {**TYPES, wire.OUTPUT_SCORE: "BYTES"}))
