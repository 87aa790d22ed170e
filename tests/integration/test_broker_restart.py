"""The embedded Kafka stopped mid-stream (SIGTERM, then SIGKILL) under a gateway taking traffic, and
restarted on the same data: nothing that got a 202 is lost, nothing that got a 503 appears later, and
the gateway and consumer carry on without a restart of their own.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator

import pytest

from operations.stack import Stack
from operations.steady_load import Load, wait_until
from tests.integration.conftest import stack_settings
from tests.integration.kafka_reader import read_until

pytestmark = pytest.mark.integration

PRODUCE_TIMEOUT_S = 2.0
BATCH = 20


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    run_dir = tmp_path_factory.mktemp(f"restart-{uuid.uuid4().hex[:6]}")
    env = {"GATEWAY_PRODUCE_TIMEOUT_S": str(PRODUCE_TIMEOUT_S)}
    with Stack(stack_settings(run_dir), extra_env=env) as running:
        yield running


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_broker_restart_mid_stream_loses_nothing(stack: Stack, sig: signal.Signals) -> None:
    others = {p.name: p.pid for p in stack.services if p.name != "broker"}
    load = Load(stack.gateway_url, f"r-{uuid.uuid4().hex[:8]}-", batch=BATCH, pause_s=0.02).start()
    try:
        wait_until(lambda: len(load.accepted()) >= 200, 60, "traffic before the stop")
        broker = stack.service("broker")
        if sig == signal.SIGKILL:
            broker.kill()
        else:
            assert broker.stop(timeout=30) is not None
        dead_at = time.time()
        # While it is down every request must fail within the produce timeout (plus grace), never hang.
        wait_until(lambda: any(a.status == 503 and a.started > dead_at for a in list(load.answers)), 30, "a 503")
        time.sleep(2)
        stack.restart_broker()
        restarted_at = time.time()
        # The gateway and the consumer recover by themselves: fresh 202s after the restart.
        wait_until(lambda: len(load.accepted(after=restarted_at)) >= 200, 90, "202s after the restart")
    finally:
        load.stop()

    assert {p.name: p.pid for p in stack.services if p.name != "broker"} == others, "a service was restarted"
    assert not stack.dead_services(), [p.name for p in stack.dead_services()]
    statuses = {a.status for a in load.answers}
    assert statuses <= {202, 503}, f"unexpected answers: {statuses}"

    accepted = load.accepted()
    verdicts = read_until(stack.bootstrap, stack.settings.topic_verdicts, set(accepted), timeout=120)
    missing = set(accepted) - verdicts.keys()
    assert not missing, f"{len(missing)} of {len(accepted)} accepted transactions have no verdict"
    duplicates = sum(len(verdicts[i]) - 1 for i in accepted)
    print(f"{sig.name}: {len(accepted)} accepted, all verdicted, {duplicates} duplicate verdicts")

    # A 503 for a request sent after the broker was gone must never turn into a stored transaction.
    refused_while_down = {i for a in load.answers if a.status == 503 and a.started > dead_at for i in a.ids}
    assert refused_while_down
    stored = read_until(stack.bootstrap, stack.settings.topic_transactions, set(accepted), timeout=60, settle=2)
    assert set(accepted) <= stored.keys(), "an acknowledged transaction is missing from the topic"
    resurrected = refused_while_down & stored.keys()
    assert not resurrected, f"{len(resurrected)} transactions answered 503 were stored after all"
