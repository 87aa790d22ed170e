"""Consumer settings: the shared Kafka/Triton keys plus the worker's own ``CONSUMER_*`` keys.

One class, read once at start-up, so a bad value fails with its key's name before any message is
consumed. Defaults suit the embedded stack on a small machine; each knob says what it trades.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from taxifraud.config import KafkaSettings, TritonSettings


class Settings(KafkaSettings, TritonSettings):
    """Environment of ``taxifraud consumer`` / ``python -m consumer``."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    consumer_group_id: str = Field("fraud-consumer", description="consumer group; instances share partitions")
    consumer_client_id: str = Field("", description="client.id; empty: consumer-<host>-<pid>")
    consumer_metrics_port: int = Field(9101, ge=0, le=65535, description="Prometheus port; 0 disables it")
    consumer_metrics_host: str = Field("0.0.0.0", description="address the metrics server binds")
    consumer_batch_max: int = Field(
        1024, ge=1, le=100_000, description="messages per consume() call, i.e. per Triton request batch"
    )
    consumer_batch_wait_ms: int = Field(
        5, ge=0, le=10_000, description="how long an idle consume waits for a first message (never delays one)"
    )
    consumer_max_in_flight_batches: int = Field(
        4, ge=1, le=256, description="batches consumed but not yet scored (bounds memory while Triton is slow)"
    )
    consumer_max_unacked_batches: int = Field(
        32, ge=1, le=10_000, description="scored batches whose outputs the broker has not acknowledged yet"
    )
    consumer_retry_backoff_ms: int = Field(100, ge=1, description="first retry delay after a Triton failure")
    consumer_retry_backoff_max_ms: int = Field(5000, ge=1, description="cap of the exponential retry delay")
    consumer_backpressure_pause_s: float = Field(
        1.0, ge=0, description="pause partitions when the pipeline has been full this long (broker slow)"
    )
    consumer_drain_timeout_s: float = Field(
        15.0, gt=0, description="SIGTERM/rebalance: how long to finish in-flight batches before giving up"
    )
    consumer_commit_interval_ms: int = Field(
        250, ge=10, description="auto-commit period of stored offsets: bounds the replay after a crash"
    )
    consumer_fetch_wait_max_ms: int = Field(
        100, ge=0, description="fetch.wait.max.ms: how long the broker holds an empty fetch (data wakes it)"
    )
    consumer_lag_interval_s: float = Field(5.0, gt=0, description="how often consumer_lag_messages is refreshed")
    consumer_psi_window: int = Field(20_000, ge=100, description="scored rows in the rolling drift window")
    consumer_psi_interval_s: float = Field(15.0, gt=0, description="how often the PSI gauges are recomputed")
    consumer_log_level: str = Field("INFO", description="logging level of the worker")
