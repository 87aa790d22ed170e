"""Triton killed under a running gateway: ingestion goes on (202 after the broker's ack), /score answers 503
with the reason and Retry-After, /readyz says "degraded: triton", liveness stays up; all heal once Triton
is back on the same address."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from gw_helpers import SEED_BODY, read_topic

from gateway.app import create_app
from gateway.settings import Settings
from operations.embedded.process import ManagedProcess, free_port
from taxifraud.config import DEFAULT_MODEL_REPOSITORY, MODEL_NAME

MODEL_FILE = DEFAULT_MODEL_REPOSITORY / MODEL_NAME / "1" / "model.onnx"
#: Generous: a restarted tritonserver loads the model, and gRPC reconnects with backoff.
RECOVERY_WAIT_S = 120

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not MODEL_FILE.exists(), reason=f"no trained model at {MODEL_FILE} yet"),
]


class TritonOnFixedPorts:
    """A tritonserver that can be killed and started again on the same ports (a crash and a restart)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.ports = (free_port(), free_port(), free_port())
        self.proc: ManagedProcess | None = None

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.ports[1]}"

    def start(self) -> None:
        from operations.embedded.triton import start_triton

        http_port, grpc_port, metrics_port = self.ports
        self.proc = start_triton(
            DEFAULT_MODEL_REPOSITORY, self.work, "127.0.0.1", http_port, grpc_port, metrics_port, self.work / "t.log"
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.stop()  # reap it

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


@pytest.fixture
def triton(tmp_path: Path) -> Iterator[TritonOnFixedPorts]:
    server = TritonOnFixedPorts(tmp_path / "triton")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _until(what: str, probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + RECOVERY_WAIT_S
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"not within {RECOVERY_WAIT_S}s: {what}")


def test_triton_killed_degrades_and_heals(
    settings_factory: Callable[..., Settings], triton: TritonOnFixedPorts
) -> None:
    settings = settings_factory(gateway_score_enabled=True, triton_grpc_url=triton.grpc_url)
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text  # warm from the start
        assert client.post("/score", json=SEED_BODY).status_code == 200

        triton.kill()

        def score_refused() -> Any:
            resp = client.post("/score", json=SEED_BODY)
            return resp if resp.status_code != 200 else None

        refused = _until("/score refused", score_refused)
        assert refused.status_code == 503, refused.text
        assert refused.json()["reason"] == "scoring" and "Triton" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) >= 1

        accepted = []
        for i in range(5):  # ingestion goes on: 202 after the broker's ack
            resp = client.post("/transactions", json={**SEED_BODY, "transaction_id": f"while-triton-down-{i}"})
            assert resp.status_code == 202, resp.text
            accepted += resp.json()["transaction_ids"]
        degraded = client.get("/readyz")
        assert degraded.status_code == 200 and degraded.json()["status"] == "degraded: triton", degraded.text
        assert degraded.json()["checks"]["triton"]["ok"] is False
        assert client.get("/healthz").status_code == 200
        assert client.get("/health").status_code == 200  # the seed's health is the broker's

        triton.start()
        _until("/score answers 200 again", lambda: client.post("/score", json=SEED_BODY).status_code == 200)
        assert client.get("/readyz").json()["status"] == "ready"

    stored = read_topic(settings, settings.topic_transactions, len(accepted))
    assert sorted(m["transaction_id"] for m in stored) == sorted(accepted)
