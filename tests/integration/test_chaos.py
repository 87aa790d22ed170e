"""kill -9 of one service at a time under a steady stream, on the real stack run by its supervisor.

Each kill must heal by itself: the supervisor restarts the service (its log and ``stack_restarts_total``
say so), every transaction answered 202 gets its verdict (duplicates counted and bounded), and ingestion
answers 202 throughout, except while the broker itself is down (503) or the gateway itself is being
restarted (refused connections, counted). The stack also starts next to a broken model version directory,
serves with the good one, and names the broken one. Timing is measured by ``make chaos``, not asserted here.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from operations.benchmarks.chaos import KILLS, chaos_settings, kill_and_recover, restarts
from operations.embedded.foreground import Supervised
from operations.model_versions import write_control
from operations.stack import Stack
from taxifraud.config import REPO_ROOT
from taxifraud.model_control import ModelControl

pytestmark = pytest.mark.integration

BATCH_MAX = 256
#: Replays after a crash are bounded by the batches in flight plus one commit interval (consumer/worker.py).
DUPLICATES_BOUND = 2 * BATCH_MAX
MODEL = "fraud_autoencoder"


@pytest.fixture(scope="module")
def supervised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supervised]:
    """A supervised stack whose model repository holds the good version 1 and a broken version 2."""
    root = tmp_path_factory.mktemp(f"chaos-{uuid.uuid4().hex[:6]}")
    source = REPO_ROOT / "model_repository" / MODEL
    if not (source / "1" / "model.onnx").is_file():
        pytest.skip("no exported model in the repository")
    repository = root / "model_repository"
    shutil.copytree(source, repository / MODEL, ignore=shutil.ignore_patterns("*.png"))
    (repository / MODEL / "2" / "__pycache__").mkdir(parents=True)  # a copy interrupted half-way
    settings = chaos_settings(root / "run", model_repository=repository)
    with Supervised(Stack(settings, extra_env={"CONSUMER_BATCH_MAX": str(BATCH_MAX)})) as running:
        yield running


def test_a_broken_version_next_to_the_live_one_is_named_and_the_stack_serves(supervised: Supervised) -> None:
    stack = supervised.stack
    broken = {c.version: c.problem for c in stack.model_checks if not c.ok}
    assert list(broken) == ["2"] and "model.py is missing" in (broken["2"] or "")
    metrics = _metrics(supervised)
    assert f'stack_model_version_broken{{model="{MODEL}",version="2"}} 1.0' in metrics
    assert "stack_ready 1.0" in metrics  # warm-up trips went end to end before the fixture got the stack
    env = {**os.environ, **stack.service_env()}
    listed = _model_list(env)
    assert "BROKEN" in listed and "model.py is missing" in listed, listed
    # A control record naming a version that is not there: `model list` says so.
    write_control(stack.kafka_settings(), ModelControl(model=MODEL, live="1", shadow="7"))
    try:
        listed = _model_list(env)
        assert "shadow version 7 cannot be served (no such version directory)" in listed, listed
    finally:
        write_control(stack.kafka_settings(), ModelControl(model=MODEL, live="1"))


@pytest.mark.parametrize("service", KILLS)
def test_kill_9_heals_and_every_accepted_transaction_gets_its_verdict(
    supervised: Supervised, service: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="operations.embedded.supervisor")
    before = restarts(supervised.metrics_url, service)
    result = kill_and_recover(supervised, service)
    print(result)

    assert result.accepted > 0
    assert result.missing == 0, f"{result.missing} accepted transactions without a verdict: {result.missing_ids}"
    assert result.duplicates <= DUPLICATES_BOUND, result
    assert result.restarts_metric == before + 1
    assert any(f"restarted {service}" in r.getMessage() for r in caplog.records), caplog.text
    assert supervised.failure is None, supervised.failure
    if service == "broker":
        assert set(result.not_accepted) <= {"503"}, result.not_accepted  # refused within the produce timeout
    elif service == "gateway":
        assert set(result.not_accepted) <= {"0"}, result.not_accepted  # only while it was down: no answer
        assert result.not_accepted_after_recovery == 0, result
    else:
        assert result.not_accepted == {}, f"ingestion faltered while {service} was down: {result.not_accepted}"


def _metrics(supervised: Supervised) -> str:
    import urllib.request

    with urllib.request.urlopen(supervised.metrics_url, timeout=5) as resp:
        return str(resp.read().decode())


def _model_list(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "operations.cli", "model", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
