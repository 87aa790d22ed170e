"""The embedded Triton Inference Server: the ``tritonserver`` binary from the ``nvidia-pytriton`` wheel.

PyTriton's own Python proxy (``Triton.bind``) costs ~21 ms a call, so we do not use it: we run the
bare server on our own ``model_repository`` with the Python backend, and the model's
``configs/embedded.pbtxt`` (ONNX Runtime on CPU inside ``model.py``). Clients talk plain gRPC, exactly
as they do to the NGC Triton image in production.

Two environment details make the Python backend stub work outside NVIDIA's container (found the
hard way): it must load *this* interpreter's libpython (``LIBDIR`` first on ``LD_LIBRARY_PATH``), and
it must see this environment's site-packages (``PYTHONPATH``) to import numpy and onnxruntime.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import site
import sys
import sysconfig
import urllib.error
import urllib.request
from pathlib import Path

from operations.embedded.model_check import VersionCheck, check_versions, log_broken
from operations.embedded.process import ManagedProcess, ServiceFailed
from operations.embedded.tls import Certificate, ensure_ca
from taxifraud.config import MODEL_NAME

log = logging.getLogger(__name__)


def pytriton_root() -> Path:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("nvidia-pytriton is not installed: run `make setup` (it ships tritonserver)")
    return Path(spec.origin).parent


def site_packages() -> Path:
    """site-packages of the running environment (the .venv), holding nvidia_pytriton.libs."""
    return Path(pytriton_root()).parent


def prepare_backends(work_dir: Path) -> Path:
    """Assemble a backend directory with the Python backend and the stub for this Python version."""
    root = pytriton_root() / "tritonserver"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.exists():
        raise FileNotFoundError(f"nvidia-pytriton has no Python backend stub for Python {version}")
    python_dir = work_dir / "backends" / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    for src in (
        root / "backends" / "python" / "libtriton_python.so",
        root / "backends" / "python" / "triton_python_backend_utils.py",
        stub,
    ):
        dst = python_dir / src.name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            shutil.copy2(src, dst)
    return work_dir / "backends"


def triton_env() -> dict[str, str]:
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    libs = site_packages() / "nvidia_pytriton.libs"
    paths = [str(site_packages()), *site.getsitepackages()]
    # The stub's embedded interpreter finds its prefix through the first python on PATH; unless that is
    # this environment's, it cannot see our site-packages whatever PYTHONPATH says (seen with make and
    # an inactive venv). So this interpreter's bin directory goes first.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {
        "PATH": path,
        "LD_LIBRARY_PATH": ":".join(p for p in (libdir, str(libs)) if p),
        "PYTHONPATH": ":".join(dict.fromkeys(paths)),
        # ONNX Runtime inside the Python backend: keep it from grabbing every core per instance.
        "OMP_NUM_THREADS": "1",
    }


SHM_DIR = Path("/dev/shm")


def shm_prefix(grpc_port: int) -> str:
    """The Python backend's shared-memory regions of the server on ``grpc_port`` (unique while it holds it)."""
    return f"taxifraud_triton_{grpc_port}_"


def remove_stale_shm(grpc_port: int) -> None:
    """Delete the regions a killed server on this port left in /dev/shm (it frees them only on a clean exit).

    Called before a server starts on ``grpc_port``: no live server can own them then, since the port is ours."""
    for region in SHM_DIR.glob(f"{shm_prefix(grpc_port)}*"):
        log.info("removing %s, left by a Triton that did not exit cleanly", region)
        region.unlink(missing_ok=True)


def triton_process(
    model_repository: Path,
    work_dir: Path,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
    log_path: Path,
    config_name: str = "embedded",
    tls_certificate: Certificate | None = None,
) -> ManagedProcess:
    backends = prepare_backends(work_dir)
    remove_stale_shm(grpc_port)
    argv = [
        str(pytriton_root() / "tritonserver" / "bin" / "tritonserver"),
        f"--model-repository={model_repository.resolve()}",
        f"--backend-directory={backends.resolve()}",
        f"--model-config-name={config_name}",
        # Explicit model control: `taxifraud model load` (and `recalibrate --write`) makes Triton pick up a new
        # version directory while the loaded versions keep serving; no restart to ship a model. Nothing is
        # loaded at start: start_triton loads the checked versions only (model_check explains why).
        "--model-control-mode=explicit",
        f"--http-port={http_port}",
        f"--grpc-port={grpc_port}",
        f"--metrics-port={metrics_port}",
        "--allow-metrics=true",
        "--allow-cpu-metrics=true",
        "--allow-gpu-metrics=false",
        "--metrics-interval-ms=1000",
        "--exit-timeout-secs=10",
        "--log-verbose=0",
        f"--backend-config=python,shm-region-prefix-name={shm_prefix(grpc_port)}",
    ]
    if tls_certificate is not None:  # gRPC (what every client uses) over TLS; HTTP stays loopback-only, for health
        argv += [
            "--grpc-use-ssl=true",
            f"--grpc-server-cert={tls_certificate.cert}",
            f"--grpc-server-key={tls_certificate.key}",
            f"--grpc-root-cert={ensure_ca(tls_certificate.cert.parent).cert}",
        ]
    return ManagedProcess("triton", argv, log_path, env=triton_env())


def triton_live(host: str, http_port: int) -> bool:
    """The server answers (``/v2/health/live``), whether or not a model is loaded."""
    with urllib.request.urlopen(f"http://{host}:{http_port}/v2/health/live", timeout=1) as resp:
        return bool(resp.status == 200)


def triton_ready(host: str, http_port: int) -> bool:
    """Triton's own readiness: every model loaded (``/v2/health/ready``)."""
    with urllib.request.urlopen(f"http://{host}:{http_port}/v2/health/ready", timeout=1) as resp:
        return bool(resp.status == 200)


def config_with_versions(config: Path, versions: list[str]) -> str:
    """``config`` (pbtxt) as Triton's JSON, serving exactly ``versions``: a load request's config override."""
    from google.protobuf import json_format, text_format
    from tritonclient.grpc import model_config_pb2

    parsed = model_config_pb2.ModelConfig()
    text_format.Parse(config.read_text(), parsed)
    parsed.version_policy.specific.versions[:] = [int(v) for v in versions]
    return str(json_format.MessageToJson(parsed, preserving_proto_field_name=True))


def model_config_path(model_dir: Path, config_name: str | None) -> Path:
    return model_dir / "configs" / f"{config_name}.pbtxt" if config_name else model_dir / "config.pbtxt"


def servable_versions(model_dir: Path, config_name: str | None) -> tuple[list[VersionCheck], str]:
    """The version checks and the config override that loads the good versions only.

    Raises :class:`ServiceFailed` when no version can be served, naming each one and why."""
    checks = check_versions(model_dir, config_name)
    log_broken(checks, model_dir.name)
    good = [c.version for c in checks if c.ok]
    if not good:
        why = "; ".join(f"{c.version}: {c.problem}" for c in checks) or "no numbered version directory"
        raise ServiceFailed(f"no version of {model_dir.name} can be served ({why})")
    return checks, config_with_versions(model_config_path(model_dir, config_name), good)


def load_model(host: str, http_port: int, model: str, config_json: str, timeout: float) -> None:
    """Triton's repository API: load ``model`` with ``config_json`` instead of its config file."""
    body = json.dumps({"parameters": {"config": config_json}}).encode()
    request = urllib.request.Request(
        f"http://{host}:{http_port}/v2/repository/models/{model}/load", data=body, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        raise ServiceFailed(f"triton refused to load {model}: {exc.read().decode(errors='replace')}") from exc


def start_triton(
    model_repository: Path,
    work_dir: Path,
    host: str,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
    log_path: Path,
    config_name: str = "embedded",
    timeout: float = 120.0,
    tls_certificate: Certificate | None = None,
    model_name: str = MODEL_NAME,
) -> ManagedProcess:
    proc = triton_process(
        model_repository, work_dir, http_port, grpc_port, metrics_port, log_path, config_name, tls_certificate
    )
    _checks, config_json = servable_versions(model_repository / model_name, config_name)
    proc.start()
    load_servable(proc, host, http_port, model_name, config_json, timeout)
    return proc


def load_servable(
    proc: ManagedProcess, host: str, http_port: int, model_name: str, config_json: str, timeout: float = 120.0
) -> None:
    """Once the started server answers, load the model with ``config_json`` and wait until it serves."""
    proc.wait_ready(lambda: triton_live(host, http_port), timeout, what="live")
    load_model(host, http_port, model_name, config_json, timeout)
    proc.wait_ready(lambda: triton_ready(host, http_port), timeout, what="serving the model")
