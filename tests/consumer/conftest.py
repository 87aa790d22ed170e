"""Fixtures for the consumer's integration tests: a real Kafka broker and a real Triton (the real model).

Both are session-scoped and shared (each test uses its own topics and group); every process started
here is stopped in a finalizer. Ports come from ``free_port()`` so parallel stacks never collide.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from operations.embedded.process import ManagedProcess, free_port, port_open
from operations.embedded.triton import start_triton
from taxifraud.config import DEFAULT_MODEL_REPOSITORY
from tests.consumer import harness

log = logging.getLogger("tests.consumer")

MODEL_REPOSITORY = DEFAULT_MODEL_REPOSITORY


def model_available() -> bool:
    return (MODEL_REPOSITORY / "fraud_autoencoder" / "1" / "model.onnx").exists()


@dataclass
class TritonServer:
    """A Triton on fixed ports, so a test can stop it and start it again where the consumer expects it."""

    work: Path
    http: int = field(default_factory=free_port)
    grpc: int = field(default_factory=free_port)
    metrics: int = field(default_factory=free_port)
    proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.grpc}"

    def start(self) -> TritonServer:
        self.proc = start_triton(
            MODEL_REPOSITORY, self.work, "127.0.0.1", self.http, self.grpc, self.metrics, self.work / "triton.log"
        )
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


@pytest.fixture(scope="session")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    if not model_available():
        pytest.skip("model_repository/fraud_autoencoder/1/model.onnx is not built")
    server = TritonServer(tmp_path_factory.mktemp("triton")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_triton(tmp_path: Path) -> Iterator[TritonServer]:
    """A private, not yet started Triton (for tests that stop it); always stopped at the end."""
    if not model_available():
        pytest.skip("model_repository/fraud_autoencoder/1/model.onnx is not built")
    server = TritonServer(tmp_path / "own-triton")
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Pipeline:
    """Fresh topics and group on the shared broker, plus a way to start consumer processes on them."""

    bootstrap: str
    triton_url: str
    work: Path
    partitions: int = 6
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}")
    procs: list[ManagedProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.topics = harness.topic_names(self.prefix)
        self.group = f"{self.prefix}-group"
        harness.create_topics(self.bootstrap, self.topics, self.partitions)

    @property
    def transactions(self) -> str:
        return self.topics["topic_transactions"]

    def start_consumer(self, name: str = "consumer", **extra: Any) -> tuple[ManagedProcess, int]:
        port = free_port()
        env = harness.consumer_env(
            self.bootstrap,
            self.triton_url,
            self.topics,
            self.group,
            port,
            model_repository=str(MODEL_REPOSITORY),
            consumer_client_id=f"{self.prefix}-{name}",
            **extra,
        )
        proc = harness.consumer_process(env, self.work / f"{name}.log", name=name)
        self.procs.append(proc)
        proc.wait_ready(lambda: port_open("127.0.0.1", port), 30, what="serving metrics")
        return proc, port

    def read(self, key: str, expect: int, timeout: float = 90.0) -> list[Any]:
        """Records of one of our topics, until ``expect`` distinct keys were seen."""
        return harness.read_topic(
            self.bootstrap, self.topics[key], lambda recs: len(harness.count_ids(recs)[0]) >= expect, timeout
        )

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop(timeout=20)


@pytest.fixture
def pipeline_factory(broker: str, triton: TritonServer, tmp_path: Path) -> Iterator[Callable[..., Pipeline]]:
    made: list[Pipeline] = []

    def make(triton_url: str | None = None, partitions: int = 6) -> Pipeline:
        p = Pipeline(broker, triton_url or triton.url, tmp_path, partitions)
        made.append(p)
        return p

    try:
        yield make
    finally:
        for p in made:
            p.stop_all()
