"""Where each service of an embedded stack listens and what it is told: addresses, ports, TLS material and
the environment every child service shares. Nothing here starts a process (:mod:`operations.stack` does)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from operations.embedded import prometheus as prom
from operations.embedded import tls
from operations.embedded.broker import BrokerOptions, BrokerSecurity
from operations.stack_settings import StackSettings
from operations.verdict_collector import VerdictCollector
from taxifraud.config import KafkaSettings
from taxifraud.lifecycle import ENV_DIE_WITH_PARENT


@dataclass
class StackLayout:
    """The addresses and environment of a stack with these settings (started or not)."""

    settings: StackSettings
    extra_env: dict[str, str] = field(default_factory=dict)
    supervised: bool = False  # a supervisor serves STACK_METRICS_PORT: Prometheus scrapes it too

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
