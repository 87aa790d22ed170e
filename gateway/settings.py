"""The gateway's one settings class: shared Kafka/Triton keys plus its own ``GATEWAY_*`` keys.

Every knob the gateway has lives here, read once from the environment (or ``.env``) and validated at
start-up, so a typo in a deployment fails before the first request instead of during one. API keys are
held as a secret so that neither ``repr(settings)`` nor a log line can leak them.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from taxifraud.config import KafkaSettings, OptionalPath, TritonSettings, check_tls_files, load_from_env
from taxifraud.config import SettingsError as SettingsError  # raised by load_settings


class Settings(KafkaSettings, TritonSettings):
    """Gateway configuration. Env var = field name upper-cased (``gateway_port`` -> ``GATEWAY_PORT``)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    gateway_host: str = Field("127.0.0.1", description="interface to bind; 0.0.0.0 to serve other hosts")
    gateway_port: int = Field(8000, ge=1, le=65535)
    gateway_workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes")
    gateway_api_keys: SecretStr = Field(
        SecretStr(""), description="comma-separated accepted X-API-Key values; empty disables auth"
    )
    gateway_max_batch: int = Field(1000, ge=1, le=100_000, description="transactions per request (413 above)")
    gateway_max_body_bytes: int = Field(
        1_048_576, ge=1024, le=256 * 1024 * 1024, description="request body limit (413 above)"
    )
    gateway_produce_timeout_s: float = Field(
        5.0, gt=0, le=300, description="broker must ack within this, else 503 and the message is dropped"
    )
    gateway_max_in_flight: int = Field(
        100_000, ge=1, le=10_000_000, description="unacknowledged messages per worker before 503 queue_full"
    )
    gateway_max_concurrent_requests: int = Field(
        256,
        ge=1,
        le=1_000_000,
        description="write requests in progress per worker; above it 503 overloaded with Retry-After, nothing stored",
    )
    gateway_score_max_rows: int = Field(
        512, ge=1, le=100_000, description="most transactions per Triton call when concurrent /score requests coalesce"
    )
    gateway_warmup_timeout_s: float = Field(
        10.0,
        ge=0,
        le=300,
        description="start-up waits up to this for the first produce and Triton round trip (skipped if no broker)",
    )
    gateway_kafka_linger_ms: float = Field(
        0.0,
        ge=0,
        le=1000,
        description="producer linger; 0 because every request waits for its ack (under load batches form anyway)",
    )
    gateway_audit_linger_ms: float = Field(
        0.0,
        ge=0,
        le=1000,
        description="linger of /score's own producer (audit verdicts and alerts); the caller waits for their ack",
    )
    gateway_readiness_timeout_s: float = Field(1.0, gt=0, le=30, description="per-check budget of /readyz")
    gateway_score_enabled: bool = Field(
        True, description="serve POST /score (needs Triton and model_meta.json); /readyz then checks Triton"
    )
    gateway_docs_enabled: bool = Field(True, description="serve /docs and /openapi.json")
    gateway_log_level: str = Field("info", pattern=r"(?i)^(critical|error|warning|info|debug|trace)$")
    gateway_ssl_certfile: OptionalPath = Field(None, description="PEM certificate: serve HTTPS only (with the key)")
    gateway_ssl_keyfile: OptionalPath = Field(None, description="PEM private key of GATEWAY_SSL_CERTFILE")
    taxifraud_api_key: SecretStr = Field(
        SecretStr(""),
        description="X-API-Key that clients of this gateway send (`taxifraud label`); one of GATEWAY_API_KEYS",
    )

    @model_validator(mode="after")
    def _tls_files(self) -> Settings:
        check_tls_files(
            {"GATEWAY_SSL_CERTFILE": self.gateway_ssl_certfile, "GATEWAY_SSL_KEYFILE": self.gateway_ssl_keyfile},
            pair=("GATEWAY_SSL_CERTFILE", "GATEWAY_SSL_KEYFILE"),
        )
        return self

    def api_keys(self) -> tuple[bytes, ...]:
        """Accepted keys as bytes (for ``hmac.compare_digest``); empty tuple means auth is off."""
        raw = self.gateway_api_keys.get_secret_value()
        return tuple(k.strip().encode() for k in raw.split(",") if k.strip())


def load_settings() -> Settings:
    """Build :class:`Settings` from the environment; an invalid value raises ``SettingsError`` naming its key."""
    return load_from_env(Settings, "gateway")
