"""Settings shared by every service: where the broker and Triton are, and the topic names.

Each service has exactly one ``Settings`` class (``gateway.settings``, ``consumer.settings``,
``operations.stack``) that inherits these fields, so one env var means the same thing everywhere.
Values come from the environment (and a ``.env`` file if present); a bad value fails at start-up
with the offending key's name, never halfway through a request.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_REPOSITORY = REPO_ROOT / "model_repository"
MODEL_NAME = "fraud_autoencoder"


class KafkaSettings(BaseSettings):
    """Broker address and topic layout."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka/Redpanda bootstrap list")
    topic_transactions: str = "transactions"
    topic_verdicts: str = "fraud-verdicts"
    topic_alerts: str = "fraud-alerts"
    topic_dlq: str = "transactions.dlq"
    topic_partitions: int = Field(6, ge=1, le=1024, description="partitions for topics we create")
    topic_replication_factor: int = Field(1, ge=1, le=7)
    kafka_session_timeout_ms: int = Field(
        10000,
        ge=1000,
        description="consumer group session timeout: how soon a crashed consumer's partitions move",
    )

    def topics(self) -> list[str]:
        return [self.topic_transactions, self.topic_verdicts, self.topic_alerts, self.topic_dlq]


class TritonSettings(BaseSettings):
    """Where Triton is and which model to call."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    triton_grpc_url: str = Field("127.0.0.1:8001", description="Triton gRPC endpoint host:port")
    triton_model_name: str = MODEL_NAME
    triton_model_version: str = Field("", description="empty: Triton's latest version")
    triton_timeout_s: float = Field(2.0, gt=0, description="deadline of one inference call")
    model_repository: Path = Field(
        DEFAULT_MODEL_REPOSITORY, description="holds model metadata (threshold, feature names) next to the ONNX"
    )
