"""Run the gateway under uvicorn, with one or many worker processes.

Several workers need two things a single process does not:

* uvicorn starts workers by *importing* the app, so it gets an import string plus ``factory=True``
  (``gateway.app:create_app``), and the workers read their settings from the environment. ``run`` therefore
  exports the settings it was given as environment variables first, so that workers see exactly them even
  when they were built in code rather than read from the environment.
* Prometheus counters live in each worker's memory; with ``PROMETHEUS_MULTIPROC_DIR`` every worker writes
  them to files there and ``/metrics`` sums them. ``run`` creates a private directory when none is set,
  and empties a given one at start, since files left by a previous run would be added to the new totals.
"""

from __future__ import annotations

import copy
import logging
import logging.config
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import SecretStr
from uvicorn.config import LOGGING_CONFIG

from .settings import Settings

log = logging.getLogger(__name__)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment variables that recreate ``settings`` in a worker process."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue  # unset optional (a path): the worker's default is None too
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[name.upper()] = str(value)
    return env


def prepare_multiprocess_dir() -> Path:
    """Create (or empty) the directory for multi-process Prometheus metrics and export its path."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    path = Path(configured) if configured else Path(tempfile.mkdtemp(prefix="gateway-metrics-"))
    if path.exists():
        for child in path.iterdir():
            if child.is_file() and child.suffix == ".db":
                child.unlink()
            elif child.is_dir():
                shutil.rmtree(child)
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging setup plus our own loggers, applied in every worker (basicConfig in the parent
    would not reach spawned workers, and their INFO lines would be lost)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["app"] = {
        "format": "%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s",
    }
    config["handlers"]["app"] = {"class": "logging.StreamHandler", "formatter": "app", "stream": "ext://sys.stderr"}
    level = level.upper().replace("TRACE", "DEBUG")
    for name in ("gateway", "taxifraud"):
        config["loggers"][name] = {"handlers": ["app"], "level": level, "propagate": False}
    return config


def run(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM; returns after a graceful shutdown."""
    config = log_config(settings.gateway_log_level)
    logging.config.dictConfig(config)
    common = {
        "host": settings.gateway_host,
        "port": settings.gateway_port,
        "log_level": settings.gateway_log_level.lower(),
        "log_config": config,
        "access_log": False,  # per-request logging would cost more than the request; /metrics counts them
        "timeout_graceful_shutdown": int(settings.gateway_produce_timeout_s) + 5,
    }
    if settings.gateway_ssl_certfile is not None:  # HTTPS only: a plaintext client fails its handshake
        common |= {"ssl_certfile": str(settings.gateway_ssl_certfile), "ssl_keyfile": str(settings.gateway_ssl_keyfile)}
    if settings.gateway_workers == 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from .app import create_app

        log.info("gateway on %s://%s:%d (1 worker)", _scheme(settings), settings.gateway_host, settings.gateway_port)
        uvicorn.run(create_app(settings), **common)  # type: ignore[arg-type]
        return
    private = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    metrics_dir = prepare_multiprocess_dir()
    os.environ.update(settings_env(settings))
    log.info(
        "gateway on %s://%s:%d (%d workers, metrics in %s)",
        _scheme(settings),
        settings.gateway_host,
        settings.gateway_port,
        settings.gateway_workers,
        metrics_dir,
    )
    try:
        uvicorn.run("gateway.app:create_app", factory=True, workers=settings.gateway_workers, **common)  # type: ignore[arg-type]
    finally:
        if private:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _scheme(settings: Settings) -> str:
    return "https" if settings.gateway_ssl_certfile is not None else "http"
