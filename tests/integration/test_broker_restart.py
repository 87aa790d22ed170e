"""The embedded Kafka stopped mid-stream (SIGTERM, then SIGKILL) under a gateway taking traffic, and
restarted on the same data: nothing that got a 202 is lost, nothing that got a 503 appears later, and
the gateway and consumer carry on without a restart of their own.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from operations.stack import Stack
from tests.integration.conftest import stack_settings
from tests.integration.kafka_reader import read_until
from tests.trips import NORMAL_FULL

pytestmark = pytest.mark.integration

PRODUCE_TIMEOUT_S = 2.0
BATCH = 20


@dataclass
class Sent:
    """One request of the load thread: its ids, when it started and ended, and the answer."""

    ids: list[str]
    started: float
    ended: float
    status: int


@dataclass
class Load:
    """Posts batches of trips with known ids to ``/transactions`` until stopped; records every answer."""

    url: str
    sent: list[Sent] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                ids = [f"r-{uuid.uuid4().hex}" for _ in range(BATCH)]
                body = [dict(NORMAL_FULL, transaction_id=i) for i in ids]
                started = time.monotonic()
                try:
                    status = client.post(f"{self.url}/transactions", json=body).status_code
                except httpx.HTTPError:
                    status = 0
                self.sent.append(Sent(ids, started, time.monotonic(), status))
                time.sleep(0.02)

    def accepted(self, after: float = 0.0) -> list[str]:
        return [i for s in list(self.sent) if s.status == 202 and s.started >= after for i in s.ids]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    run_dir = tmp_path_factory.mktemp(f"restart-{uuid.uuid4().hex[:6]}")
    env = {"GATEWAY_PRODUCE_TIMEOUT_S": str(PRODUCE_TIMEOUT_S)}
    with Stack(stack_settings(run_dir), extra_env=env) as running:
        yield running


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_broker_restart_mid_stream_loses_nothing(stack: Stack, sig: signal.Signals) -> None:
    others = {p.name: p.pid for p in stack.services if p.name != "broker"}
    load = Load(stack.gateway_url).start()
    try:
        _wait_for(lambda: len(load.accepted()) >= 200, 60, "traffic before the stop")
        broker = stack.service("broker")
        if sig == signal.SIGKILL:
            broker.kill()
        else:
            assert broker.stop(timeout=30) is not None
        dead_at = time.monotonic()
        # While it is down every request must fail within the produce timeout (plus grace), never hang.
        _wait_for(lambda: any(s.status == 503 and s.started > dead_at for s in list(load.sent)), 30, "a 503")
        time.sleep(2)
        stack.restart_broker()
        restarted_at = time.monotonic()
        # The gateway and the consumer recover by themselves: fresh 202s after the restart.
        _wait_for(lambda: len(load.accepted(after=restarted_at)) >= 200, 90, "202s after the restart")
    finally:
        load.stop()

    assert {p.name: p.pid for p in stack.services if p.name != "broker"} == others, "a service was restarted"
    assert not stack.dead_services(), [p.name for p in stack.dead_services()]
    statuses = {s.status for s in load.sent}
    assert statuses <= {202, 503}, f"unexpected answers: {statuses}"

    accepted = load.accepted()
    verdicts = read_until(stack.bootstrap, stack.settings.topic_verdicts, set(accepted), timeout=120)
    missing = set(accepted) - verdicts.keys()
    assert not missing, f"{len(missing)} of {len(accepted)} accepted transactions have no verdict"
    duplicates = sum(len(verdicts[i]) - 1 for i in accepted)
    print(f"{sig.name}: {len(accepted)} accepted, all verdicted, {duplicates} duplicate verdicts")

    # A 503 for a request sent after the broker was gone must never turn into a stored transaction.
    refused_while_down = {i for s in load.sent if s.status == 503 and s.started > dead_at for i in s.ids}
    assert refused_while_down
    stored = read_until(stack.bootstrap, stack.settings.topic_transactions, set(accepted), timeout=60, settle=2)
    assert set(accepted) <= stored.keys(), "an acknowledged transaction is missing from the topic"
    resurrected = refused_while_down & stored.keys()
    assert not resurrected, f"{len(resurrected)} transactions answered 503 were stored after all"
