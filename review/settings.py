"""The review service's one settings class: shared Kafka keys plus its own ``REVIEW_*`` keys."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from taxifraud.config import KafkaSettings, load_from_env
from taxifraud.config import SettingsError as SettingsError  # raised by load_settings


class Settings(KafkaSettings):
    """Review service configuration. Env var = field name upper-cased (``review_port`` -> ``REVIEW_PORT``)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    review_host: str = Field("127.0.0.1", description="interface to bind; 0.0.0.0 to serve other hosts")
    review_port: int = Field(8020, ge=1, le=65535, description="the analyst review page and its /metrics")
    review_max_alerts: int = Field(
        20_000, ge=10, le=1_000_000, description="newest alerts kept in memory (older ones count as 'unknown')"
    )
    review_page_size: int = Field(50, ge=1, le=1000, description="alerts listed on one page")
    review_label_timeout_s: float = Field(5.0, gt=0, le=60, description="the broker must ack a label within this")
    review_log_level: str = Field("info", pattern=r"(?i)^(critical|error|warning|info|debug)$")


def load_settings() -> Settings:
    """Build :class:`Settings` from the environment; an invalid value raises ``SettingsError`` naming its key."""
    return load_from_env(Settings, "review")
