"""Settings shared by every service: where the broker and Triton are, and the topic names.

Each service has exactly one ``Settings`` class (``gateway.settings``, ``consumer.settings``,
``operations.stack``) that inherits these fields, so one env var means the same thing everywhere.
Values come from the environment (and a ``.env`` file if present); a bad value fails at start-up
with the offending key's name, never halfway through a request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_REPOSITORY = REPO_ROOT / "model_repository"
MODEL_NAME = "fraud_autoencoder"
#: The version used when TRITON_MODEL_VERSION is empty. Triton serves every version in the directory, so an
#: empty version would mean "the highest", a freshly written shadow candidate: always name one instead.
DEFAULT_MODEL_VERSION = "1"


def _empty_as_none(value: object) -> object:
    return None if value == "" else value  # compose sets unused keys to ""


#: An optional file setting; an empty value means "not set".
OptionalPath = Annotated[Path | None, BeforeValidator(_empty_as_none)]


def _file_env(**paths: Path | None) -> dict[str, str]:
    """The environment entries of the TLS files that are set (a child process reads the same files)."""
    return {key: str(path) for key, path in paths.items() if path is not None}


def check_tls_files(files: dict[str, Path | None], pair: tuple[str, str], unused_because: str | None = None) -> None:
    """The one rule for TLS file settings, named by env key: set only where TLS is on (``unused_because``
    says why not), existing, and a client certificate only with its key."""
    for key, path in files.items():
        if path is None:
            continue
        if unused_because is not None:
            raise ValueError(f"{key} is set but {unused_because}")
        if not path.is_file():
            raise ValueError(f"{key}={path} does not exist")
    cert, private_key = pair
    if (files[cert] is None) != (files[private_key] is None):
        raise ValueError(f"{cert} and {private_key} go together (a certificate needs its key)")


class KafkaSettings(BaseSettings):
    """Broker address and topic layout."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka/Redpanda bootstrap list")
    topic_transactions: str = "transactions"
    topic_verdicts: str = "fraud-verdicts"
    topic_alerts: str = "fraud-alerts"
    topic_dlq: str = "transactions.dlq"
    topic_labels: str = Field(
        "fraud-labels", description="analyst labels, keyed by transaction_id; compacted (the latest label wins)"
    )
    topic_verdicts_shadow: str = Field(
        "fraud-verdicts-shadow", description="verdicts of the shadow model version (taxifraud model shadow N)"
    )
    topic_model_control: str = Field(
        "model-control", description="which model version is live and which shadows it; compacted, one partition"
    )
    topic_partitions: int = Field(6, ge=1, le=1024, description="partitions for topics we create")
    topic_replication_factor: int = Field(1, ge=1, le=7)
    kafka_session_timeout_ms: int = Field(
        10000,
        ge=1000,
        description="consumer group session timeout: how soon a crashed consumer's partitions move",
    )

    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="how clients reach the broker; managed Kafka services need SASL_SSL"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism (SASL_* protocols only)"
    )
    kafka_sasl_username: str = Field("", description="SASL user (SASL_* protocols only)")
    kafka_sasl_password: SecretStr = Field(SecretStr(""), description="SASL password; never logged or shown")
    kafka_ssl_ca_file: OptionalPath = Field(
        None, description="PEM CA that signed the broker's certificate (SSL, SASL_SSL)"
    )
    kafka_ssl_cert_file: OptionalPath = Field(None, description="PEM client certificate for mutual TLS (with the key)")
    kafka_ssl_key_file: OptionalPath = Field(None, description="PEM private key of the client certificate")
    kafka_ssl_check_hostname: bool = Field(True, description="verify that the broker's certificate names its host")

    @model_validator(mode="after")
    def _security_is_consistent(self) -> KafkaSettings:
        """Refuse, at start-up and naming the key, a combination that could only fail later or leak."""
        protocol = self.kafka_security_protocol
        sasl, tls = protocol.startswith("SASL_"), protocol.endswith("SSL")
        if sasl and not self.kafka_sasl_username:
            raise ValueError(f"KAFKA_SASL_USERNAME is required with KAFKA_SECURITY_PROTOCOL={protocol}")
        if sasl and not self.kafka_sasl_password.get_secret_value():
            raise ValueError(f"KAFKA_SASL_PASSWORD is required with KAFKA_SECURITY_PROTOCOL={protocol}")
        if not sasl and (self.kafka_sasl_username or self.kafka_sasl_password.get_secret_value()):
            raise ValueError(
                f"KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD are set but KAFKA_SECURITY_PROTOCOL={protocol} "
                "would not use them (SASL_PLAINTEXT or SASL_SSL)"
            )
        if sasl and protocol == "SASL_PLAINTEXT" and self.kafka_sasl_mechanism == "PLAIN":
            raise ValueError(
                "KAFKA_SASL_MECHANISM=PLAIN with KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT sends the password "
                "in clear text: use SASL_SSL or a SCRAM mechanism"
            )
        check_tls_files(
            {
                "KAFKA_SSL_CA_FILE": self.kafka_ssl_ca_file,
                "KAFKA_SSL_CERT_FILE": self.kafka_ssl_cert_file,
                "KAFKA_SSL_KEY_FILE": self.kafka_ssl_key_file,
            },
            pair=("KAFKA_SSL_CERT_FILE", "KAFKA_SSL_KEY_FILE"),
            unused_because=None if tls else f"KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS",
        )
        return self

    def kafka_client_config(self) -> dict[str, Any]:
        """librdkafka settings every client of ours uses: where the broker is and how to authenticate."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.kafka_bootstrap_servers,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_security_protocol.startswith("SASL_"):
            conf |= {
                "sasl.mechanism": self.kafka_sasl_mechanism,
                "sasl.username": self.kafka_sasl_username,
                "sasl.password": self.kafka_sasl_password.get_secret_value(),
            }
        if self.kafka_security_protocol.endswith("SSL"):
            conf["ssl.endpoint.identification.algorithm"] = "https" if self.kafka_ssl_check_hostname else "none"
            if self.kafka_ssl_ca_file:
                conf["ssl.ca.location"] = str(self.kafka_ssl_ca_file)
            if self.kafka_ssl_cert_file and self.kafka_ssl_key_file:
                conf["ssl.certificate.location"] = str(self.kafka_ssl_cert_file)
                conf["ssl.key.location"] = str(self.kafka_ssl_key_file)
        return conf

    def security_env(self) -> dict[str, str]:
        """The environment that gives a child process the same broker security settings."""
        env = {
            "KAFKA_SECURITY_PROTOCOL": self.kafka_security_protocol,
            "KAFKA_SASL_MECHANISM": self.kafka_sasl_mechanism,
            "KAFKA_SSL_CHECK_HOSTNAME": "true" if self.kafka_ssl_check_hostname else "false",
        }
        if self.kafka_sasl_username:
            env["KAFKA_SASL_USERNAME"] = self.kafka_sasl_username
            env["KAFKA_SASL_PASSWORD"] = self.kafka_sasl_password.get_secret_value()
        return env | _file_env(
            KAFKA_SSL_CA_FILE=self.kafka_ssl_ca_file,
            KAFKA_SSL_CERT_FILE=self.kafka_ssl_cert_file,
            KAFKA_SSL_KEY_FILE=self.kafka_ssl_key_file,
        )

    def topics(self) -> list[str]:
        return [
            self.topic_transactions,
            self.topic_verdicts,
            self.topic_alerts,
            self.topic_dlq,
            self.topic_labels,
            self.topic_verdicts_shadow,
            self.topic_model_control,
        ]

    def topic_configs(self) -> dict[str, dict[str, str]]:
        """Per-topic settings for the topics we create: labels and model control are compacted, so only the
        latest record of a key stays."""
        return {
            self.topic_labels: {"cleanup.policy": "compact"},
            self.topic_model_control: {"cleanup.policy": "compact"},
        }

    def topic_partition_count(self, topic: str) -> int:
        """Partitions of a topic we create: one for model control (one ordered stream of switches)."""
        return 1 if topic == self.topic_model_control else self.topic_partitions


class TritonSettings(BaseSettings):
    """Where Triton is and which model to call."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    triton_grpc_url: str = Field("127.0.0.1:8001", description="Triton gRPC endpoint host:port")
    triton_model_name: str = MODEL_NAME
    triton_model_version: str = Field(
        "", description="empty: version 1, whose model_meta.json is read (the consumers follow `taxifraud model`)"
    )
    triton_timeout_s: float = Field(2.0, gt=0, description="deadline of one inference call")
    model_repository: Path = Field(
        DEFAULT_MODEL_REPOSITORY, description="holds model metadata (threshold, feature names) next to the ONNX"
    )
    triton_ssl: bool = Field(False, description="gRPC over TLS to Triton")
    triton_ssl_ca_file: OptionalPath = Field(None, description="PEM CA that signed Triton's certificate (TRITON_SSL)")
    triton_ssl_cert_file: OptionalPath = Field(None, description="PEM client certificate, if Triton wants mutual TLS")
    triton_ssl_key_file: OptionalPath = Field(None, description="PEM private key of that client certificate")

    @model_validator(mode="after")
    def _tls_is_consistent(self) -> TritonSettings:
        check_tls_files(
            {
                "TRITON_SSL_CA_FILE": self.triton_ssl_ca_file,
                "TRITON_SSL_CERT_FILE": self.triton_ssl_cert_file,
                "TRITON_SSL_KEY_FILE": self.triton_ssl_key_file,
            },
            pair=("TRITON_SSL_CERT_FILE", "TRITON_SSL_KEY_FILE"),
            unused_because=None if self.triton_ssl else "TRITON_SSL is false",
        )
        return self

    def triton_client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of tritonclient's gRPC ``InferenceServerClient`` for this endpoint."""
        if not self.triton_ssl:
            return {"url": self.triton_grpc_url}
        return {  # tritonclient takes file paths and reads them itself
            "url": self.triton_grpc_url,
            "ssl": True,
            "root_certificates": str(self.triton_ssl_ca_file) if self.triton_ssl_ca_file else None,
            "private_key": str(self.triton_ssl_key_file) if self.triton_ssl_key_file else None,
            "certificate_chain": str(self.triton_ssl_cert_file) if self.triton_ssl_cert_file else None,
        }

    def triton_env(self) -> dict[str, str]:
        """The environment that gives a child process the same Triton TLS settings."""
        env = {"TRITON_SSL": "true" if self.triton_ssl else "false"}
        return env | _file_env(
            TRITON_SSL_CA_FILE=self.triton_ssl_ca_file,
            TRITON_SSL_CERT_FILE=self.triton_ssl_cert_file,
            TRITON_SSL_KEY_FILE=self.triton_ssl_key_file,
        )


class ToolSettings(BaseSettings):
    """Settings of the command-line tools (``taxifraud train``, ``score``, ``replay``, ``label``, the demo's
    reviewer): where the shared TLC data is, and the key they present to the gateway."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    taxifraud_data_dir: Path = Field(
        REPO_ROOT.parent / "shared" / "data", description="the shared TLC data (read-only): training and replay files"
    )
    taxifraud_api_key: SecretStr = Field(
        SecretStr(""), description="X-API-Key the tools send to the gateway (label, demo --review); empty: none"
    )


class SettingsError(ValueError):
    """A service's environment variable has an invalid value; the message names the key."""


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_from_env(cls: type[SettingsT], service: str) -> SettingsT:
    """Build a service's settings from the environment, turning pydantic's error into one naming the env keys."""
    try:
        return cls()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors())
        raise SettingsError(f"invalid {service} settings: {problems}") from exc
