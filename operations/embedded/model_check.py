"""Which model version directories Triton can load, checked before it tries.

tritonserver 2.51 (the nvidia-pytriton wheel) with ``version_policy: all`` and one broken version (e.g. ``2/``
holding only ``__pycache__``) does not serve the good versions and skip the bad one: the Python stub of the
broken version fails to initialise and the whole model never becomes ready, so the server never answers.
So the stack checks every version directory first and asks Triton to load only the good ones (explicit
model control, the load request carrying the config with ``version_policy: specific``); the broken ones
are named in the log, in ``taxifraud model list`` and in a metric.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from taxifraud.model_control import numbered_versions

log = logging.getLogger(__name__)

META_KEYS = ("model_version", "threshold")


@dataclass(frozen=True)
class VersionCheck:
    """One numbered version directory and, if Triton could not load it, why."""

    version: str
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _onnx_problem(path: Path) -> str | None:
    """None when ONNX Runtime (what the model runs on) can build a session from the file."""
    import onnxruntime as ort

    if not path.is_file():
        return "model.onnx is missing"
    try:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime raises several unrelated types for a bad file
        return f"model.onnx does not load: {str(exc).splitlines()[0][:200]}"
    return None


def _meta_problem(path: Path) -> str | None:
    if not path.is_file():
        return "model_meta.json is missing"
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return f"model_meta.json is not JSON: {exc}"
    missing = [k for k in META_KEYS if not isinstance(meta, dict) or k not in meta]
    return f"model_meta.json lacks {', '.join(missing)}" if missing else None


def check_version(directory: Path, needs_model_py: bool) -> VersionCheck:
    """The first reason ``directory`` (a version of the model) would not load, or none."""
    problem = (
        (
            "model.py is missing (the Python backend runs it)"
            if needs_model_py and not (directory / "model.py").is_file()
            else None
        )
        or _meta_problem(directory / "model_meta.json")
        or _onnx_problem(directory / "model.onnx")
    )
    return VersionCheck(directory.name, problem)


def uses_python_backend(config: Path) -> bool:
    """True when the served config runs the model through ``model.py`` (the embedded one does)."""
    try:
        text = config.read_text()
    except OSError:
        return False
    return any(line.split("#")[0].replace(" ", "") == 'backend:"python"' for line in text.splitlines())


def check_versions(model_dir: Path, config_name: str | None = None) -> list[VersionCheck]:
    """Every numbered version directory of ``model_dir``, in numeric order, with its problem if it has one."""
    config = model_dir / "configs" / f"{config_name}.pbtxt" if config_name else model_dir / "config.pbtxt"
    needs_model_py = uses_python_backend(config)
    names = numbered_versions([p.name for p in model_dir.iterdir() if p.is_dir()])
    return [check_version(model_dir / name, needs_model_py) for name in names]


def log_broken(checks: list[VersionCheck], model: str) -> None:
    for check in checks:
        if not check.ok:
            log.error("%s version %s cannot be served and is skipped: %s", model, check.version, check.problem)
