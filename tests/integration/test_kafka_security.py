"""Kafka over SASL_SSL, against the real broker: the pipeline works with credentials, and a client with a
wrong password, with no credentials, or speaking plaintext to the TLS port is turned away; the gateway
says "authentication" in its 503 instead of hanging, and no password shows up in a log or /metrics."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.settings import Settings as GatewaySettings
from operations.embedded.process import ManagedProcess
from operations.stack import Stack
from tests.integration.conftest import stack_settings
from tests.integration.kafka_reader import read_until
from tests.kafka_broker import start_test_broker
from tests.trips import NORMAL_FULL, SEED_BODY

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ManagedProcess, Any]]:
    proc, options = start_test_broker(tmp_path_factory.mktemp("sasl-broker"), secure=True)
    try:
        yield proc, options
    finally:
        proc.stop()


def _metadata(conf: dict[str, Any], timeout: float = 6.0) -> Any:
    return AdminClient({**conf, "log_level": 0}).list_topics(timeout=timeout)


def test_the_services_login_works(secure_broker: tuple[ManagedProcess, Any]) -> None:
    _, options = secure_broker
    meta = _metadata(options.security.client_config(options.bootstrap))
    assert meta.brokers


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"sasl.password": "not-the-password"}, id="wrong-password"),
        pytest.param({"sasl.username": "nobody"}, id="unknown-user"),
        pytest.param(
            {"security.protocol": "SSL", "sasl.mechanism": None, "sasl.username": None, "sasl.password": None},
            id="no-credentials",
        ),
        pytest.param(
            {
                "security.protocol": "PLAINTEXT",
                "sasl.mechanism": None,
                "sasl.username": None,
                "sasl.password": None,
                "ssl.ca.location": None,
            },
            id="plaintext-to-tls-port",
        ),
    ],
)
def test_clients_without_valid_credentials_are_refused(
    secure_broker: tuple[ManagedProcess, Any], change: dict[str, Any]
) -> None:
    _, options = secure_broker
    conf = {k: v for k, v in {**options.security.client_config(options.bootstrap), **change}.items() if v is not None}
    with pytest.raises(KafkaException):
        _metadata(conf, timeout=4.0)


def _gateway_settings(options: Any, password: str, tmp_path: Path) -> GatewaySettings:
    sec = options.security
    return GatewaySettings(
        kafka_bootstrap_servers=options.bootstrap,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism=sec.mechanism,
        kafka_sasl_username=sec.client_user,
        kafka_sasl_password=password,
        kafka_ssl_ca_file=sec.ca_file(),
        topic_transactions=f"sec-{uuid.uuid4().hex[:6]}",
        topic_partitions=1,
        gateway_produce_timeout_s=2.0,
        gateway_score_enabled=False,
    )  # type: ignore[call-arg]


def test_gateway_with_a_wrong_password_answers_503_naming_authentication(
    secure_broker: tuple[ManagedProcess, Any], tmp_path: Path
) -> None:
    _, options = secure_broker
    settings = _gateway_settings(options, "wrong-password", tmp_path)
    with TestClient(create_app(settings)) as client:
        resp = client.post("/transactions", json=SEED_BODY)  # answers (does not hang) with the reason
        assert resp.status_code == 503, resp.text
        assert resp.json()["reason"] == "authentication", resp.json()
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "authentication" in ready.text, ready.text
        metrics = client.get("/metrics").text
        assert 'gateway_produce_failures_total{reason="authentication"} 1.0' in metrics
        assert "wrong-password" not in metrics


@pytest.fixture(scope="module")
def secure_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    run_dir = tmp_path_factory.mktemp(f"secure-stack-{uuid.uuid4().hex[:6]}")
    with Stack(stack_settings(run_dir, stack_kafka_security="sasl_ssl", stack_tls=True)) as stack:
        yield stack


def test_pipeline_end_to_end_over_sasl_ssl_and_tls(secure_stack: Stack) -> None:
    ca = secure_stack.ca_file
    assert ca is not None and secure_stack.gateway_url.startswith("https://")
    ids = [f"sec-{uuid.uuid4().hex}" for _ in range(20)]
    body = [dict(NORMAL_FULL, transaction_id=i) for i in ids]
    resp = httpx.post(f"{secure_stack.gateway_url}/transactions", json=body, verify=str(ca), timeout=30)
    assert resp.status_code == 202, resp.text
    kafka = secure_stack.kafka_settings()
    verdicts = read_until(
        secure_stack.bootstrap,
        secure_stack.settings.topic_verdicts,
        set(ids),
        timeout=90,
        conf=kafka.kafka_client_config(),
    )
    assert set(ids) <= verdicts.keys()
    # /score goes gateway -> Triton over TLS
    scored = httpx.post(f"{secure_stack.gateway_url}/score", json=NORMAL_FULL, verify=str(ca), timeout=30)
    assert scored.status_code == 200, scored.text


def test_warm_up_goes_end_to_end_over_tls(secure_stack: Stack) -> None:
    """``taxifraud up``'s warm-up trusts the stack's own CA, and its verdicts come back over SASL_SSL."""
    from operations.embedded.warmup import PREFIX, warm_up

    collector = secure_stack.verdict_collector(prefix=PREFIX).start()
    try:
        assert warm_up(secure_stack.gateway_url, collector, 200, secure_stack.ca_file, rate=200, timeout=90) > 0
    finally:
        collector.stop()


def test_plaintext_clients_are_refused_by_the_tls_gateway_and_triton(secure_stack: Stack) -> None:
    s = secure_stack.settings
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{s.stack_host}:{s.stack_gateway_port}/healthz", timeout=5)
    import tritonclient.grpc as grpcclient

    plain = grpcclient.InferenceServerClient(url=secure_stack.triton_grpc)
    with pytest.raises(Exception, match=r"(?i)unavailable|ssl|handshake|closed|connect"):
        plain.is_server_live(client_timeout=5)
    tls_client = grpcclient.InferenceServerClient(
        url=f"localhost:{s.stack_triton_grpc_port}", ssl=True, root_certificates=str(secure_stack.ca_file)
    )
    assert tls_client.is_server_live(client_timeout=5)


def test_no_password_in_logs_or_metrics(secure_stack: Stack) -> None:
    security = secure_stack.broker_security
    assert security is not None
    passwords = set(security.passwords().values())
    ca = str(secure_stack.ca_file)
    pages = [httpx.get(f"{secure_stack.gateway_url}/metrics", verify=ca, timeout=10).text]
    for i in range(secure_stack.settings.stack_consumers):
        pages.append(httpx.get(f"http://127.0.0.1:{secure_stack.consumer_metrics_port(i)}/metrics", timeout=10).text)
    logs = [p.read_text(errors="replace") for p in secure_stack.settings.stack_run_dir.glob("*.log")]
    assert logs, "no logs to check"
    for text in pages + logs:
        for password in passwords:
            assert password not in text
    assert oct(security.credentials_file.stat().st_mode & 0o777) == "0o600"
