"""The embedded stack: broker, Triton, consumer(s), gateway and Prometheus as real processes.

``taxifraud up`` runs it in the foreground; the integration tests, ``make demo`` and ``make bench``
use the same :class:`Stack`, so what is tested is what users run. Services start in dependency order
and stop in reverse; a service that dies is started again by :mod:`operations.embedded.supervisor`
(``taxifraud up`` and :class:`operations.embedded.foreground.Supervised` run one), in the same place.
"""

from __future__ import annotations

import logging
import ssl
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from operations.embedded import prometheus as prom
from operations.embedded.broker import start_broker
from operations.embedded.model_check import VersionCheck
from operations.embedded.process import ManagedProcess, port_open, require_free_ports
from operations.embedded.triton import load_servable, servable_versions, triton_process
from operations.embedded.warmup import PREFIX, warm_up
from operations.stack_layout import StackLayout
from operations.stack_settings import CONSUMER_PORTS_RESERVED, StackSettings, free_ports
from taxifraud.config import REPO_ROOT
from taxifraud.kafka import ensure_topics

__all__ = ["CONSUMER_PORTS_RESERVED", "Stack", "StackSettings", "free_ports", "run_foreground"]

log = logging.getLogger(__name__)


@dataclass
class Stack(StackLayout):
    """A running embedded stack. Use as a context manager, or ``start()`` / ``stop()``."""

    services: list[ManagedProcess] = field(default_factory=list)
    model_checks: list[VersionCheck] = field(default_factory=list)  # of the last Triton start

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_broker(self) -> None:
        """The embedded broker (unless an external one is configured) and our topics on it."""
        s = self.settings
        s.stack_run_dir.mkdir(parents=True, exist_ok=True)
        if s.stack_embedded_broker:
            self._register(start_broker(self.broker_options()))
        ensure_topics(self.kafka_settings())

    def start(self) -> Stack:
        s = self.settings
        require_free_ports(s.stack_host, self.ports())
        self._start_broker()
        self.start_triton()
        for i in range(s.stack_consumers):
            self.start_consumer(i)
        self.start_gateway()
        if s.stack_review:
            self.start_review()
        if s.stack_prometheus and prom.prometheus_binary():
            self.start_prometheus()
        elif s.stack_prometheus:
            log.warning("prometheus not installed: metrics are still served, but nothing scrapes them")
        return self

    def warm_up(self) -> float:
        """``STACK_WARMUP_TRANSACTIONS`` trips end to end at ``STACK_WARMUP_RATE``: what "ready" waits for.

        ``taxifraud up``, ``make demo`` and ``make bench`` call it after :meth:`start`, so their first
        request meets a warm stack; tests that count traffic start without it. Returns the seconds it took."""
        s = self.settings
        if not s.stack_warmup_transactions:
            return 0.0
        collector = self.verdict_collector(prefix=PREFIX).start()
        try:
            return warm_up(self.gateway_url, collector, s.stack_warmup_transactions, self.ca_file, s.stack_warmup_rate)
        finally:
            collector.stop()

    def _register(self, proc: ManagedProcess) -> ManagedProcess:
        """Keep ``proc`` in start order: a restarted service takes its predecessor's place (and stop order)."""
        for i, old in enumerate(self.services):
            if old.name == proc.name:
                self.services[i] = proc
                return proc
        self.services.append(proc)
        return proc

    def start_triton(self) -> ManagedProcess:
        """Triton serving the version directories that can load (the broken ones named in the log)."""
        s = self.settings
        run = s.stack_run_dir
        checks, config_json = servable_versions(s.model_repository / s.triton_model_name, s.stack_triton_config_name)
        self.model_checks = checks
        proc = self._register(
            triton_process(
                s.model_repository,
                run / "triton",
                s.stack_triton_http_port,
                s.stack_triton_grpc_port,
                s.stack_triton_metrics_port,
                run / "triton.log",
                config_name=s.stack_triton_config_name,
                tls_certificate=self.triton_certificate(),
            ).start()
        )
        load_servable(proc, s.stack_host, s.stack_triton_http_port, s.triton_model_name, config_json)
        return proc

    def restart_service(self, name: str) -> ManagedProcess:
        """Start ``name`` again on its ports (and data): what the supervisor does after a crash.

        A restart that fails leaves the new process stopped (and registered), so the caller sees it dead."""
        old = self.service(name)
        if old.alive():
            old.stop()
        starters = {
            "broker": lambda: self._register(start_broker(self.broker_options())),
            "triton": self.start_triton,
            "gateway": self.start_gateway,
            "review": self.start_review,
            "prometheus": self.start_prometheus,
        }
        if name.startswith("consumer-"):
            index = int(name.removeprefix("consumer-"))
            starters[name] = lambda: self.start_consumer(index)
        try:
            return starters[name]()
        except BaseException:
            self.service(name).stop()
            raise

    def service(self, name: str) -> ManagedProcess:
        """The running (or last started) service called ``name``: broker, triton, gateway, consumer-0, ..."""
        for proc in self.services:
            if proc.name == name:
                return proc
        raise KeyError(f"no service {name!r} in this stack")

    def restart_broker(self) -> ManagedProcess:
        """Start the embedded broker again on the same port and data (after a test stopped or killed it)."""
        old = self.service("broker")
        if old.alive():
            raise RuntimeError("the broker is still running")
        return self._register(start_broker(self.broker_options()))  # same place: it still stops last

    def start_ingest_only(self) -> Stack:
        """Broker and gateway only: what ``POST /transactions`` needs, for measuring the gateway alone."""
        try:
            require_free_ports(self.settings.stack_host, self.ports(full=False))
            self._start_broker()
            self.start_gateway()
        except BaseException:
            self.stop()
            raise
        return self

    def start_consumer(self, index: int, wait: bool = True) -> ManagedProcess:
        port = self.consumer_metrics_port(index)
        env = {**self.service_env(), "CONSUMER_METRICS_PORT": str(port)}
        proc = ManagedProcess(
            f"consumer-{index}",
            [sys.executable, "-m", "operations.cli", "consumer"],
            self.settings.stack_run_dir / f"consumer-{index}.log",
            env=env,
        ).start()
        self._register(proc)
        if wait:
            proc.wait_ready(lambda: port_open(self.settings.stack_host, port), 60, what="serving metrics")
        return proc

    def start_gateway(self) -> ManagedProcess:
        s = self.settings
        env = {
            **self.service_env(),
            "GATEWAY_HOST": s.stack_host,
            "GATEWAY_PORT": str(s.stack_gateway_port),
            "GATEWAY_WORKERS": str(s.stack_gateway_workers),
            "PROMETHEUS_MULTIPROC_DIR": str(s.stack_run_dir / "gateway-metrics"),
        }
        cert = self.gateway_certificate()
        if cert is not None:
            env |= {"GATEWAY_SSL_CERTFILE": str(cert.cert), "GATEWAY_SSL_KEYFILE": str(cert.key)}
        proc = ManagedProcess(
            "gateway", [sys.executable, "-m", "operations.cli", "gateway"], s.stack_run_dir / "gateway.log", env=env
        ).start()
        self._register(proc)
        proc.wait_ready(lambda: _http_ok(f"{self.gateway_url}/healthz", self.ca_file), 60, what="answering /healthz")
        return proc

    def start_review(self) -> ManagedProcess:
        """The analyst review page; ready once it has read the backlog of alerts and labels."""
        s = self.settings
        env = {**self.service_env(), "REVIEW_HOST": s.stack_host, "REVIEW_PORT": str(s.stack_review_port)}
        proc = ManagedProcess(
            "review", [sys.executable, "-m", "operations.cli", "review"], s.stack_run_dir / "review.log", env=env
        ).start()
        self._register(proc)
        proc.wait_ready(lambda: _http_ok(f"{self.review_url}/readyz"), 60, what="answering /readyz")
        return proc

    def start_prometheus(self) -> ManagedProcess:
        s = self.settings
        host = s.stack_host
        targets = {
            "gateway": [f"{host}:{s.stack_gateway_port}"],
            "consumer": [f"{host}:{self.consumer_metrics_port(i)}" for i in range(max(1, s.stack_consumers))],
            "triton": [f"{host}:{s.stack_triton_metrics_port}"],
            "prometheus": [f"{host}:{s.stack_prometheus_port}"],
        }
        if s.stack_review:
            targets["review"] = [f"{host}:{s.stack_review_port}"]
        if s.stack_embedded_broker:
            targets["kafka"] = [f"{host}:{s.stack_broker_metrics_port}"]
        if self.supervised:
            targets["stack"] = [f"{host}:{s.stack_metrics_port}"]
        # Over TLS the gateway's /metrics is HTTPS too: Prometheus verifies it against the stack's CA.
        overrides = (
            {"gateway": {"scheme": "https", "tls_config": {"ca_file": str(self.ca_file)}}} if s.stack_tls else {}
        )
        config = prom.render_config(
            REPO_ROOT / "prometheus" / "prometheus.embedded.yml",
            targets,
            s.stack_run_dir / "prometheus.yml",
            job_overrides=overrides,
        )
        proc = prom.prometheus_process(
            config,
            host,
            s.stack_prometheus_port,
            s.stack_run_dir / "prometheus-data",
            s.stack_run_dir / "prometheus.log",
        ).start()
        self._register(proc)
        proc.wait_ready(lambda: prom.prometheus_ready(host, s.stack_prometheus_port), 60, what="ready")
        return proc

    def stop(self) -> None:
        """Stop services in reverse start order: gateway before consumers before Triton before broker."""
        while self.services:
            proc = self.services.pop()
            try:
                proc.stop()
            except Exception:
                log.exception("stopping %s failed", proc.name)

    def dead_services(self) -> list[ManagedProcess]:
        return [p for p in self.services if not p.alive()]


def _http_ok(url: str, ca_file: Path | None = None) -> bool:
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file and url.startswith("https") else None
    with urllib.request.urlopen(url, timeout=1, context=context) as resp:
        return bool(resp.status == 200)


def run_foreground(settings: StackSettings) -> int:
    """``taxifraud up``: the stack under its supervisor, until Ctrl-C/SIGTERM or a service that keeps failing."""
    from operations.embedded.foreground import run

    return run(Stack(settings))
