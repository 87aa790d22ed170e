"""Triton Python-backend model for the embedded stack: ``model.onnx`` (next to this file) on ONNX Runtime.

The embedded ``tritonserver`` (from the nvidia-pytriton wheel) has only the Python backend, so this
file stands in for Triton's ONNX Runtime backend. It keeps the production contract: the same tensors,
exactly one response per request, and a per-request error (not a crashed batch) for a bad request.
All requests Triton hands us in one ``execute`` call are concatenated into one ONNX Runtime run,
because the per-call overhead dominates for rows this small. Only numpy and onnxruntime are imported:
they are what the backend stub can see on its PYTHONPATH.
"""

import gc
import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

INPUT = "trip_fields"
OUTPUTS = ("anomaly_score", "is_fraud", "feature_errors", "feature_expected")


class TritonPythonModel:
    """One ONNX Runtime session per model instance, single-threaded (instances give the parallelism)."""

    def initialize(self, args):
        self.model_config = json.loads(args["model_config"])
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        # The row width comes from the config (which the export writes from the graph), never from code.
        self.width = int(pb_utils.get_input_config_by_name(self.model_config, INPUT)["dims"][0])
        self.output_dtypes = {}
        for name in OUTPUTS:
            cfg = pb_utils.get_output_config_by_name(self.model_config, name)
            self.output_dtypes[name] = pb_utils.triton_string_to_numpy(cfg["data_type"])
        # Full GC passes over the start-up heap (numpy, onnxruntime) cost tens of ms each, a stall for every
        # request queued behind them; freeze it and space out young collections (as taxifraud.heap does).
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, *gc.get_threshold()[1:])

    def _check(self, tensor):
        """The request's rows as float32 [n, width], or an error message (the request fails alone)."""
        if tensor is None:
            return None, f"missing input {INPUT}"
        rows = tensor.as_numpy()
        if rows.dtype != np.float32:
            return None, f"{INPUT} must be FP32, got {rows.dtype}"
        if rows.ndim != 2 or rows.shape[1] != self.width:
            return None, f"{INPUT} must be [batch, {self.width}], got {list(rows.shape)}"
        return rows, None

    def execute(self, requests):
        responses = [None] * len(requests)
        good, chunks = [], []
        for i, request in enumerate(requests):
            rows, error = self._check(pb_utils.get_input_tensor_by_name(request, INPUT))
            if error is not None:
                responses[i] = pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(error))
            else:
                good.append((i, len(rows)))
                chunks.append(rows)
        if chunks:
            try:
                batch = np.ascontiguousarray(np.concatenate(chunks))
                outs = self.session.run(list(OUTPUTS), {INPUT: batch})
            except Exception as exc:  # one ORT failure fails this call's requests, never the server
                for i, _ in good:
                    responses[i] = pb_utils.InferenceResponse(
                        output_tensors=[], error=pb_utils.TritonError(f"inference failed: {exc}")
                    )
                return responses
            start = 0
            for i, n in good:
                tensors = [
                    pb_utils.Tensor(name, out[start : start + n].astype(self.output_dtypes[name], copy=False))
                    for name, out in zip(OUTPUTS, outs, strict=True)
                ]
                responses[i] = pb_utils.InferenceResponse(output_tensors=tensors)
                start += n
        return responses

    def finalize(self):
        self.session = None
