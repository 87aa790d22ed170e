"""Export the trained model to the Triton model repository, check parity, and write the evaluation.

``taxifraud export`` (:mod:`operations.model_export`, which starts the tritonserver) writes
``model_repository/fraud_autoencoder/1/model.onnx`` and ``model_meta.json``, then compares torch with
ONNX Runtime and the real tritonserver on validation rows, hand-made trips
and random garbage within 1e-5, and finally runs ``export.evaluate`` (evaluation.json, plots, model
card) unless ``--skip-eval``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import numpy as np
import torch

from export import data
from export.features import FEATURE_NAMES, GROUPS, SCORED, SEED_FIELDS
from export.model import FraudAutoencoder
from export.train import DEFAULT_OUT, load_state
from taxifraud import congestion_passes, tariff
from taxifraud.config import MODEL_NAME
from taxifraud.wire import (
    INPUT_TENSOR,
    MODEL_INPUT_COLUMNS,
    N_INPUT_COLUMNS,
    OUTPUT_FEATURE_ERRORS,
    OUTPUT_FEATURE_EXPECTED,
    OUTPUT_TENSORS,
)

log = logging.getLogger(__name__)

OPSET = 17
PARITY_TOL = 1e-5
DEFAULT_REPOSITORY = data.REPO_ROOT / "model_repository"


def load_trained(model_dir: Path) -> tuple[FraudAutoencoder, dict[str, Any]]:
    """The trained module (architecture from ``training.json``, tensors from the .npz) and the summary."""
    summary = json.loads((model_dir / "training.json").read_text())
    cfg = summary["config"]
    model = FraudAutoencoder(hidden=tuple(cfg["hidden"]), bottleneck=cfg["bottleneck"])
    load_state(model, model_dir / "model_state.npz")
    model.eval()
    return model, summary


def export_onnx(model: FraudAutoencoder, path: Path) -> None:
    """Trace with the TorchScript exporter: a static, small graph of standard opset-17 ops.

    The dynamo exporter would work too, but the classic one gives a stable, byte-reproducible file and
    no onnxscript functions that older ONNX Runtime builds inside Triton might not know.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(4, N_INPUT_COLUMNS)
    torch.onnx.export(
        model,
        (example,),
        str(path),
        dynamo=False,
        opset_version=OPSET,
        input_names=[INPUT_TENSOR],
        output_names=list(OUTPUT_TENSORS),
        dynamic_axes={name: {0: "batch"} for name in (INPUT_TENSOR, *OUTPUT_TENSORS)},
        do_constant_folding=True,
    )
    import onnx

    traced = len(onnx.load(str(path)).graph.node)
    proto = optimise_graph(path)
    onnx.checker.check_model(proto, full_check=True)
    proto.producer_name = "taxifraud.export"
    proto.doc_string = "taxi fraud masked autoencoder; see MODEL_CARD.md"
    onnx.save(proto, str(path))
    log.info("graph: %d nodes traced, %d after ONNX Runtime's basic optimisations", traced, len(proto.graph.node))


def optimise_graph(path: Path) -> Any:
    """The graph at ``path`` after ONNX Runtime's *basic* optimisations, as an ONNX ``ModelProto``.

    Basic rewrites (constant folding, redundant-node elimination) keep standard ONNX ops and run before
    ONNX Runtime assigns nodes to execution providers, so the saved graph stays portable to the
    production config (TensorRT FP16 on a GPU). The extended and layout levels would write Microsoft-domain
    ops and CPU-specific layouts that TensorRT cannot take, and every runtime applies them at load anyway.
    """
    import tempfile

    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    with tempfile.TemporaryDirectory() as scratch:
        options.optimized_model_filepath = str(Path(scratch) / "optimised.onnx")
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        proto = onnx.load(options.optimized_model_filepath)
    # ONNX Runtime declares every domain it knows; keep the ones the graph uses (older runtimes may not know the rest).
    used = {node.domain for node in proto.graph.node} | {""}
    kept = [entry for entry in proto.opset_import if entry.domain in used]
    del proto.opset_import[:]
    proto.opset_import.extend(kept)
    return proto


def model_version(summary: dict[str, Any], onnx_path: Path) -> str:
    """Date of training plus a content hash, so two different models never share a version string."""
    import hashlib

    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()[:8]
    return f"{summary['trained_at'][:10]}-{digest}"


def sync_config_dims(model_dir: Path) -> None:
    """Write the input and feature widths into every Triton config, so a feature change cannot leave a
    config that Triton would refuse (or, worse, a client that sends the old width)."""
    widths = {INPUT_TENSOR: N_INPUT_COLUMNS, OUTPUT_FEATURE_ERRORS: len(FEATURE_NAMES)}
    widths[OUTPUT_FEATURE_EXPECTED] = len(FEATURE_NAMES)
    for path in [model_dir / "config.pbtxt", *sorted((model_dir / "configs").glob("*.pbtxt"))]:
        text = path.read_text()
        for name, width in widths.items():
            text = re.sub(
                rf'(name: "{name}"\s*\n\s*data_type: \w+\s*\n\s*dims: \[ )\d+( \])', rf"\g<1>{width}\g<2>", text
            )
        # Warmup requests send the input too: `key: "trip_fields"  value: { data_type ... dims: [ N ] }`.
        text = re.sub(
            rf'(key: "{INPUT_TENSOR}"\s*\n\s*value: \{{\s*\n\s*data_type: \w+\s*\n\s*dims: \[ )\d+( \])',
            rf"\g<1>{N_INPUT_COLUMNS}\g<2>",
            text,
        )
        path.write_text(text)


def write_meta(
    model: FraudAutoencoder, summary: dict[str, Any], version_dir: Path, tariff_doc: tariff.Tariff
) -> dict[str, Any]:
    """``model_meta.json``: what clients need besides the graph (threshold copy, names, baseline, tariff)."""
    cfg = summary["config"]
    meta = {
        "model_name": MODEL_NAME,
        "model_version": model_version(summary, version_dir / "model.onnx"),
        "input_columns": list(MODEL_INPUT_COLUMNS),
        "feature_names": list(FEATURE_NAMES),
        "feature_groups": {name: spec for name, spec in _feature_info().items()},
        "scored_features": [name for name, scored in zip(FEATURE_NAMES, SCORED, strict=True) if scored],
        "column_groups": {k: list(v) for k, v in GROUPS.items()},
        "seed_fields": list(SEED_FIELDS),
        "threshold": float(model.threshold),
        "fpr_budget": cfg["fpr_budget"],
        "fpr_budget_seed": cfg["fpr_budget_seed"],
        "reason_min_z": summary["calibration"]["reason_min_z"],
        "score": "max over computable scored features of |z - z_hat| / validation spread, divided by "
        "that max's validation tail quantile for the row's number of present columns",
        "calibration": summary["calibration"],
        "months": summary["months"],
        "baseline": summary["baseline"],
        "tariff": tariff_doc.document,
        congestion_passes.META_KEY: congestion_passes.CongestionPasses.from_flat(
            model.features.may_pass_congestion_zone().numpy()
        ).to_doc(),
        "created_at": summary["trained_at"],
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "opset": OPSET,
    }
    (version_dir / "model_meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def _feature_info() -> dict[str, dict[str, Any]]:
    """Per feature: its raw inputs, group and unit (reasons use the unit to turn values into dollars/miles)."""
    from export.features import FEATURES

    return {f.name: {"inputs": list(f.inputs), "group": f.group, "unit": f.unit} for f in FEATURES}


def parity_rows(model_dir_rows: np.ndarray, seed: int = 0) -> np.ndarray:
    """Real rows, the same rows with 3 fields, and adversarial garbage (NaN, inf, huge, negative)."""
    from export.calibrate import only_fields

    rng = np.random.default_rng(seed)
    real = model_dir_rows[rng.choice(len(model_dir_rows), size=min(2000, len(model_dir_rows)), replace=False)]
    garbage = rng.normal(0, 1e3, size=(200, N_INPUT_COLUMNS)).astype(np.float32)
    garbage[rng.random(garbage.shape) < 0.3] = np.nan
    garbage[0] = np.inf
    garbage[1] = -np.inf
    garbage[2] = 3.0e38
    garbage[3] = np.nan
    return np.concatenate([real, only_fields(real, SEED_FIELDS), garbage]).astype(np.float32)


def compare(name: str, ref: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> dict[str, float]:
    """Worst ``|a - b| / (1 + |a|)`` per output; raises unless ``np.allclose(a, b, rtol=1e-5, atol=1e-5)``.

    That is "within 1e-5" in numpy's sense: absolute near zero, relative for large values (float32 has
    ~7 significant digits, and different GEMM kernels legitimately differ in the last ones). ``is_fraud``
    must agree exactly and no NaN may appear anywhere.
    """
    out = {}
    for key in OUTPUT_TENSORS:
        a, b = ref[key], got[key]
        if a.shape != b.shape:
            raise AssertionError(f"{name}: {key} shape {b.shape} != {a.shape}")
        if key == "is_fraud":
            diff = float((a != b).sum())
            ok = diff == 0
        else:
            if np.isnan(b).any() or np.isnan(a).any():
                raise AssertionError(f"{name}: NaN in {key}")
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            diff = float((np.abs(a64 - b64) / (1.0 + np.abs(a64))).max()) if a.size else 0.0
            ok = bool(np.allclose(b64, a64, rtol=PARITY_TOL, atol=PARITY_TOL))
        out[key] = diff
        if not ok:
            raise AssertionError(f"{name}: {key} differs by {diff:g} (tolerance {PARITY_TOL})")
    log.info("parity %s: %s", name, out)
    return out


@torch.no_grad()
def torch_outputs(model: FraudAutoencoder, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The reference outputs for parity, by tensor name."""
    outs = model(torch.from_numpy(rows))
    return {k: v.numpy() for k, v in zip(OUTPUT_TENSORS, outs, strict=True)}


#: Serves ``repository`` on a real tritonserver, infers ``rows`` over gRPC and returns the outputs by tensor
#: name; ``work_dir`` is its scratch space. The operations layer provides it (it starts the server):
#: :func:`operations.model_export.triton_outputs`.
TritonOutputs = Callable[[Path, np.ndarray, Path], dict[str, np.ndarray]]


def run_parity(
    model: FraudAutoencoder, repository: Path, rows: np.ndarray, triton: TritonOutputs | None, work_dir: Path
) -> dict[str, Any]:
    """torch vs ONNX Runtime (and vs the real tritonserver): the same numbers everywhere, or an error."""
    from taxifraud.onnx_scorer import OnnxScorer

    ref = torch_outputs(model, rows)
    report: dict[str, Any] = {"rows": len(rows), "tolerance": PARITY_TOL}
    report["onnxruntime"] = compare("torch vs onnxruntime", ref, OnnxScorer(repository).infer(rows))
    if triton is not None:
        report["triton"] = compare("torch vs triton", ref, triton(repository, rows, work_dir))
    return report


def command(triton: TritonOutputs | None = None) -> click.Command:
    """``taxifraud export``'s command; :mod:`operations.model_export` passes ``triton`` (without it only
    ``--no-triton`` and ``--card-only`` run)."""

    @click.command("export", help=__doc__.splitlines()[0])
    @click.option(
        "--model-dir", type=click.Path(path_type=Path), default=DEFAULT_OUT, help="training output (build/model)"
    )
    @click.option("--repository", type=click.Path(path_type=Path), default=DEFAULT_REPOSITORY, help="model_repository/")
    @click.option("--data-dir", type=click.Path(path_type=Path), default=None)
    @click.option(
        "--tariff", type=click.Path(path_type=Path), default=data.TARIFF_PATH, help="tariff baked into the graph"
    )
    @click.option("--no-triton", is_flag=True, help="skip the parity check against tritonserver")
    @click.option("--skip-eval", is_flag=True, help="skip evaluation, plots and the model card")
    @click.option("--card-only", is_flag=True, help="only re-render MODEL_CARD.md from the committed evaluation.json")
    def export(**options: Any) -> int:
        args = SimpleNamespace(**options)
        if args.card_only:
            from export import report

            log.info("rendered %s", report.card_from_evaluation(args.repository / MODEL_NAME))
            return 0
        if triton is None and not args.no_triton:
            raise click.UsageError("the parity check against tritonserver needs a server: pass --no-triton")
        return main(args, triton)

    return export


def main(args: SimpleNamespace, triton: TritonOutputs | None) -> int:
    """The export pipeline behind :func:`command`'s options; a parity failure raises."""
    torch.set_num_threads(2)
    model, summary = load_trained(args.model_dir)
    # The tariff is data: the graph always prices trips with the file as it is now, so a new TLC period
    # needs this export, not a retraining (the network only ever sees tariff-relative money features).
    tariff_doc = tariff.load(args.tariff)
    model.features.set_tariff(tariff_doc)
    version_dir = args.repository / MODEL_NAME / "1"
    export_onnx(model, version_dir / "model.onnx")
    meta = write_meta(model, summary, version_dir, tariff_doc)
    sync_config_dims(args.repository / MODEL_NAME)
    log.info("exported %s (threshold %.4f)", meta["model_version"], meta["threshold"])

    val = data.load_role("validation", summary["months"]["validation"], args.data_dir)
    keep, _ = data.clean_mask(val)
    rows = parity_rows(val.rows[keep])
    work = args.model_dir / "triton_parity"
    parity = run_parity(model, args.repository, rows, None if args.no_triton else triton, work)
    (args.model_dir / "parity.json").write_text(json.dumps(parity, indent=1))
    if not args.skip_eval:
        from export import evaluate

        evaluate.run(model, summary, args.repository / MODEL_NAME, args.data_dir, parity, args.model_dir)
    return 0
