"""The supervisor's own ``/metrics``: restarts per service, which services are up, broken model versions.

Served on ``STACK_METRICS_PORT`` from a registry of its own (not the process-global one), so a test that runs
several stacks in one process never mixes their counts; Prometheus scrapes it as job ``stack``.
"""

from __future__ import annotations

from collections.abc import Iterable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from operations.embedded.model_check import VersionCheck


class SupervisorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.restarts = Counter(
            "stack_restarts", "Restarts of a crashed service by the supervisor", ["service"], registry=self.registry
        )
        self.up = Gauge("stack_service_up", "1 while the service's process runs", ["service"], registry=self.registry)
        self.broken_versions = Gauge(
            "stack_model_version_broken",
            "1 for a model version directory Triton cannot load (skipped at start)",
            ["model", "version"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "stack_ready", "1 once warm-up traffic went end to end; 0 before and after", registry=self.registry
        )
        self._server: WSGIServer | None = None

    def serve(self, host: str, port: int) -> None:
        self._server, _thread = start_http_server(port, addr=host, registry=self.registry)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def known_services(self, names: Iterable[str]) -> None:
        """Every service's restart counter at 0 from the start: its first restart is then an increase."""
        for name in names:
            self.restarts.labels(service=name)
            self.up.labels(service=name).set(1)

    def set_services(self, states: Iterable[tuple[str, bool]]) -> None:
        for name, alive in states:
            self.up.labels(service=name).set(1 if alive else 0)

    def set_versions(self, model: str, checks: Iterable[VersionCheck]) -> None:
        """One series per broken version; a version repaired since the last Triton start drops out."""
        self.broken_versions.clear()
        for check in checks:
            if not check.ok:
                self.broken_versions.labels(model=model, version=check.version).set(1)

    def restarted(self, service: str) -> None:
        self.restarts.labels(service=service).inc()
