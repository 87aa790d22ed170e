"""Kafka, Triton and gateway security settings: invalid combinations fail at start-up naming the key,
and secrets never show in repr or the settings table."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.settings import Settings as GatewaySettings
from taxifraud.config import KafkaSettings, TritonSettings


def _error(cls: type, **values: object) -> str:
    with pytest.raises(ValidationError) as info:
        cls(**values)
    return str(info.value)


def test_sasl_needs_user_and_password() -> None:
    assert "KAFKA_SASL_USERNAME" in _error(KafkaSettings, kafka_security_protocol="SASL_SSL")
    assert "KAFKA_SASL_PASSWORD" in _error(KafkaSettings, kafka_security_protocol="SASL_SSL", kafka_sasl_username="u")


def test_credentials_without_sasl_are_refused() -> None:
    assert "KAFKA_SASL_USERNAME" in _error(KafkaSettings, kafka_sasl_username="u", kafka_sasl_password="p")


def test_plain_over_plaintext_is_refused() -> None:
    msg = _error(
        KafkaSettings,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="u",
        kafka_sasl_password="p",
    )
    assert "KAFKA_SASL_MECHANISM=PLAIN" in msg


def test_tls_files_need_tls_and_must_exist(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert "KAFKA_SSL_CA_FILE" in _error(KafkaSettings, kafka_ssl_ca_file=ca)
    assert "does not exist" in _error(KafkaSettings, kafka_security_protocol="SSL", kafka_ssl_ca_file=tmp_path / "no")
    assert "KAFKA_SSL_KEY_FILE" in _error(KafkaSettings, kafka_security_protocol="SSL", kafka_ssl_cert_file=ca)
    assert "TRITON_SSL_CA_FILE" in _error(TritonSettings, triton_ssl_ca_file=ca)
    assert "GATEWAY_SSL_KEYFILE" in _error(GatewaySettings, gateway_ssl_certfile=ca)


def test_client_config_carries_the_login_and_repr_hides_it(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    s = KafkaSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="svc",
        kafka_sasl_password="s3cret-pw",
        kafka_ssl_ca_file=ca,
    )  # type: ignore[call-arg]
    conf = s.kafka_client_config()
    assert conf["security.protocol"] == "SASL_SSL" and conf["sasl.password"] == "s3cret-pw"
    assert conf["ssl.ca.location"] == str(ca) and conf["ssl.endpoint.identification.algorithm"] == "https"
    assert "s3cret-pw" not in repr(s) and "s3cret-pw" not in str(s.model_dump())
    assert KafkaSettings().kafka_client_config() == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "PLAINTEXT",
    }


def test_settings_table_never_shows_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from operations.settings_doc import markdown

    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "table-leak-check")
    assert "table-leak-check" not in markdown()
