"""The embedded stack's settings (``STACK_*``): its ports and switches, and a free port for each."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from operations.embedded.broker import DEFAULT_LIBS_DIR
from operations.embedded.process import free_port_runs
from taxifraud.config import REPO_ROOT, KafkaSettings, TritonSettings


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
        10000, ge=0, le=1_000_000, description="warm-up trips sent end to end before the stack says ready (0: none)"
    )
    stack_warmup_rate: float = Field(
        100.0, gt=0, description="single-trip POSTs per second while warming up (gentle: the JIT shares the cores)"
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
