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
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from operations.embedded import prometheus as prom
from operations.embedded import tls
from operations.embedded.broker import DEFAULT_LIBS_DIR, BrokerOptions, BrokerSecurity, start_broker
from operations.embedded.model_check import VersionCheck
from operations.embedded.process import ManagedProcess, free_port_runs, port_open, require_free_ports
from operations.embedded.triton import load_servable, servable_versions, triton_process
from operations.verdict_collector import VerdictCollector
from taxifraud.config import REPO_ROOT, KafkaSettings, TritonSettings
from taxifraud.kafka import ensure_topics
from taxifraud.lifecycle import ENV_DIE_WITH_PARENT

log = logging.getLogger(__name__)


class StackSettings(KafkaSettings, TritonSettings):
    """Ports and switches of the embedded stack (``STACK_*``); broker/Triton keys are shared ones."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True, populate_by_name=True)

    stack_host: str = "127.0.0.1"
    stack_broker_port: int = Field(9092, description="embedded Kafka; ignored if STACK_EMBEDDED_BROKER=false")
    stack_embedded_broker: bool = Field(True, description="false: use KAFKA_BOOTSTRAP_SERVERS as given")
    stack_broker_controller_port: int = Field(9093, description="the embedded Kafka's KRaft controller listener")
    stack_broker_metrics_port: int = Field(9404, description="the embedded Kafka's JMX exporter (Prometheus)")
    stack_broker_heap_mb: int = Field(384, ge=128, le=16384, description="the embedded Kafka's JVM heap (-Xms/-Xmx)")
    stack_broker_retention_hours: float = Field(
        24.0, gt=0, description="the embedded Kafka deletes log segments older than this"
    )
    stack_broker_retention_mb: int = Field(
        1024, ge=1, description="...and the oldest segments of a partition once it holds more than this"
    )
    stack_kafka_security: Literal["plaintext", "sasl_ssl"] = Field(
        "plaintext", description="sasl_ssl: the embedded Kafka takes SCRAM logins over TLS only (own CA, users)"
    )
    stack_tls: bool = Field(False, description="Triton gRPC and the gateway over TLS, with the stack's own CA")
    stack_broker_data_dir: Path | None = Field(
        None, description="the embedded Kafka's log (kept across restarts); empty: STACK_RUN_DIR/kafka-data"
    )
    stack_triton_http_port: int = Field(8010, description="moved off 8000, which the gateway uses")
    stack_triton_grpc_port: int = 8001
    stack_triton_metrics_port: int = 8002
    stack_triton_config_name: str = Field("embedded", description="model/configs/NAME.pbtxt to serve")
    # The gateway, consumer and review page are configured by the names they read themselves, so one key sets
    # a port whether the service runs alone or in the stack; the STACK_* names still work (older .env files).
    stack_gateway_port: int = Field(
        8000, validation_alias=AliasChoices("GATEWAY_PORT", "STACK_GATEWAY_PORT"), description="the gateway"
    )
    stack_gateway_workers: int = Field(1, ge=1, le=64)
    stack_consumers: int = Field(1, ge=0, le=64, description="consumer processes in one group")
    stack_consumer_metrics_port: int = Field(
        9101,
        validation_alias=AliasChoices("CONSUMER_METRICS_PORT", "STACK_CONSUMER_METRICS_PORT"),
        description="first consumer; the next ones count up",
    )
    stack_review: bool = Field(True, description="run the analyst review page (review/)")
    stack_review_port: int = Field(
        8020,
        validation_alias=AliasChoices("REVIEW_PORT", "STACK_REVIEW_PORT"),
        description="the analyst review page and its /metrics",
    )
    stack_prometheus: bool = Field(True, description="start Debian's prometheus if it is installed")
    stack_prometheus_port: int = 9090
    stack_run_dir: Path = Field(REPO_ROOT / "run", description="logs and scratch files of this stack")
    stack_kafka_libs: Path = Field(DEFAULT_LIBS_DIR, description="the embedded Kafka's jars (from make setup)")
    stack_metrics_port: int = Field(9405, description="the supervisor's /metrics (restarts, broken versions)")
    stack_restart_max: int = Field(5, ge=0, description="restarts of one service per window, then the stack stops")
    stack_restart_window_s: float = Field(300.0, gt=0, description="the window that STACK_RESTART_MAX counts in")
    stack_restart_backoff_s: float = Field(1.0, ge=0, description="delay before the first restart; doubles per restart")
    stack_restart_backoff_max_s: float = Field(30.0, ge=0, description="the longest delay between restarts")
    stack_warmup_transactions: int = Field(
        32, ge=0, le=10000, description="warm-up trips sent end to end before the stack says ready (0: none)"
    )


CONSUMER_PORTS_RESERVED = 8  # consumers count their metrics ports up from the first


def free_ports() -> dict[str, Any]:
    """A free port for every ``stack_*_port`` setting: for tests, the bench and stacks side by side.

    Derived from :class:`StackSettings`, so a port setting added there is covered everywhere at once.
    """
    widths = {
        name: CONSUMER_PORTS_RESERVED if name == "stack_consumer_metrics_port" else 1
        for name in StackSettings.model_fields
        if name.startswith("stack_") and name.endswith("_port")
    }
    return dict(free_port_runs(widths))


@dataclass
class Stack:
    """A running embedded stack. Use as a context manager, or ``start()`` / ``stop()``."""

    settings: StackSettings
    extra_env: dict[str, str] = field(default_factory=dict)
    services: list[ManagedProcess] = field(default_factory=list)
    model_checks: list[VersionCheck] = field(default_factory=list)  # of the last Triton start
    supervised: bool = False  # a supervisor serves STACK_METRICS_PORT: Prometheus scrapes it too

    # -- addresses ---------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        s = self.settings
        return f"{s.stack_host}:{s.stack_broker_port}" if s.stack_embedded_broker else s.kafka_bootstrap_servers

    @property
    def triton_grpc(self) -> str:
        return f"{self.settings.stack_host}:{self.settings.stack_triton_grpc_port}"

    @property
    def gateway_url(self) -> str:
        scheme = "https" if self.settings.stack_tls else "http"
        return f"{scheme}://{self.settings.stack_host}:{self.settings.stack_gateway_port}"

    @property
    def ca_file(self) -> Path | None:
        """The CA that signed this stack's certificates, for its clients (None when nothing is TLS)."""
        s = self.settings
        if s.stack_tls or self.broker_security is not None:
            return tls.ensure_ca(self.tls_dir).cert
        return None

    @property
    def review_url(self) -> str:
        return f"http://{self.settings.stack_host}:{self.settings.stack_review_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.settings.stack_host}:{self.settings.stack_prometheus_port}"

    @property
    def broker_metrics_url(self) -> str | None:
        s = self.settings
        return f"http://{s.stack_host}:{s.stack_broker_metrics_port}/metrics" if s.stack_embedded_broker else None

    @property
    def tls_dir(self) -> Path:
        """The stack's throwaway CA, certificates and Kafka credentials (keys and passwords 0600)."""
        return self.settings.stack_run_dir / "tls"

    @property
    def broker_security(self) -> BrokerSecurity | None:
        if not self.settings.stack_embedded_broker or self.settings.stack_kafka_security == "plaintext":
            return None
        return BrokerSecurity(self.tls_dir)

    def kafka_settings(self) -> KafkaSettings:
        """What a client of this stack (tests, bench, demo) needs: the address and, if secured, the login."""
        s = self.settings
        update: dict[str, object] = {"kafka_bootstrap_servers": self.bootstrap}
        security = self.broker_security
        if security is not None:
            env = security.client_env()
            update |= {
                "kafka_security_protocol": env["KAFKA_SECURITY_PROTOCOL"],
                "kafka_sasl_mechanism": env["KAFKA_SASL_MECHANISM"],
                "kafka_sasl_username": env["KAFKA_SASL_USERNAME"],
                "kafka_sasl_password": SecretStr(env["KAFKA_SASL_PASSWORD"]),
                "kafka_ssl_ca_file": Path(env["KAFKA_SSL_CA_FILE"]),
            }
        return s.model_copy(update=update)

    def verdict_collector(self, prefix: str = "") -> VerdictCollector:
        """A (not yet started) reader of this stack's verdicts, logged in like its services."""
        return VerdictCollector(
            self.bootstrap,
            self.settings.topic_verdicts,
            prefix=prefix,
            client_config=self.kafka_settings().kafka_client_config(),
        )

    def broker_options(self) -> BrokerOptions:
        s = self.settings
        security = self.broker_security
        default_data = "kafka-data" if security is None else "kafka-data-sasl_ssl"  # users live in the log
        return BrokerOptions(
            host=s.stack_host,
            port=s.stack_broker_port,
            controller_port=s.stack_broker_controller_port,
            metrics_port=s.stack_broker_metrics_port,
            security=security,
            data_dir=s.stack_broker_data_dir or s.stack_run_dir / default_data,
            log_path=s.stack_run_dir / "broker.log",
            partitions=s.topic_partitions,
            heap_mb=s.stack_broker_heap_mb,
            retention_hours=s.stack_broker_retention_hours,
            retention_bytes=s.stack_broker_retention_mb << 20,
            libs_dir=s.stack_kafka_libs,
        )

    def ports(self, *, full: bool = True) -> dict[str, int]:
        """Every port this stack will listen on, named after the setting that chooses it."""
        s = self.settings
        ports: dict[str, int] = {}
        if s.stack_embedded_broker:
            ports |= {
                "STACK_BROKER_PORT": s.stack_broker_port,
                "STACK_BROKER_CONTROLLER_PORT": s.stack_broker_controller_port,
                "STACK_BROKER_METRICS_PORT": s.stack_broker_metrics_port,
            }
        ports["GATEWAY_PORT"] = s.stack_gateway_port
        if full:
            ports |= {
                "STACK_TRITON_HTTP_PORT": s.stack_triton_http_port,
                "STACK_TRITON_GRPC_PORT": s.stack_triton_grpc_port,
                "STACK_TRITON_METRICS_PORT": s.stack_triton_metrics_port,
            }
            if s.stack_review:
                ports["REVIEW_PORT"] = s.stack_review_port
            for i in range(s.stack_consumers):
                ports[f"CONSUMER_METRICS_PORT (+{i})" if i else "CONSUMER_METRICS_PORT"] = self.consumer_metrics_port(i)
            if s.stack_prometheus and prom.prometheus_binary():
                ports["STACK_PROMETHEUS_PORT"] = s.stack_prometheus_port
            if self.supervised:
                ports["STACK_METRICS_PORT"] = s.stack_metrics_port
        return ports

    def consumer_metrics_port(self, index: int) -> int:
        return self.settings.stack_consumer_metrics_port + index

    def service_env(self) -> dict[str, str]:
        """Environment every child service gets, so they all agree on the broker, Triton and topics."""
        s = self.settings
        security = self.broker_security
        return {
            **(s.security_env() if security is None else security.client_env()),
            **(self._triton_tls_env() if s.stack_tls else s.triton_env()),
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "TOPIC_TRANSACTIONS": s.topic_transactions,
            "TOPIC_VERDICTS": s.topic_verdicts,
            "TOPIC_ALERTS": s.topic_alerts,
            "TOPIC_DLQ": s.topic_dlq,
            "TOPIC_LABELS": s.topic_labels,
            "TOPIC_VERDICTS_SHADOW": s.topic_verdicts_shadow,
            "TOPIC_MODEL_CONTROL": s.topic_model_control,
            "TOPIC_PARTITIONS": str(s.topic_partitions),
            "KAFKA_SESSION_TIMEOUT_MS": str(s.kafka_session_timeout_ms),
            "TRITON_GRPC_URL": self.triton_grpc,
            "TRITON_MODEL_NAME": s.triton_model_name,
            "MODEL_REPOSITORY": str(s.model_repository),
            "PYTHONUNBUFFERED": "1",
            ENV_DIE_WITH_PARENT: "1",
            **self.extra_env,
        }

    def _triton_tls_env(self) -> dict[str, str]:
        return {"TRITON_SSL": "true", "TRITON_SSL_CA_FILE": str(tls.ensure_ca(self.tls_dir).cert)}

    def triton_certificate(self) -> tls.Certificate | None:
        return tls.ensure_certificate(self.tls_dir, "triton") if self.settings.stack_tls else None

    def gateway_certificate(self) -> tls.Certificate | None:
        return tls.ensure_certificate(self.tls_dir, "gateway") if self.settings.stack_tls else None

    # -- lifecycle ---------------------------------------------------------------------------
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
