"""Model versions as a lifecycle, against the real broker, Triton and consumer.

Version 2 is version 1's graph with its threshold raised above the known fraud trip's score, so the two
versions disagree on that trip: the shadow test sees the disagreement in the shadow topic and in the
consumer's metrics; the promote/rollback test switches under load and checks every id got exactly one
verdict, from the version that was live when it was scored.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from operations.model_versions import (
    LifecycleSettings,
    current,
    list_versions,
    load_in_triton,
    switch,
    triton_versions,
    write_version,
)
from operations.stack import Stack
from taxifraud.config import REPO_ROOT
from taxifraud.verdicts import parse_rfc3339
from tests.integration.conftest import stack_settings
from tests.integration.kafka_reader import read_until
from tests.trips import FRAUD, NORMAL_FULL

pytestmark = pytest.mark.integration

FRAUD_SCORE_GAP = 0.5  # version 2's threshold sits this far above the fraud trip's score


@pytest.fixture(scope="module")
def versioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, LifecycleSettings]]:
    """The pipeline on a copy of the model repository that has a second version (threshold raised)."""
    root = tmp_path_factory.mktemp(f"lifecycle-{uuid.uuid4().hex[:6]}")
    repo = root / "model_repository"
    shutil.copytree(REPO_ROOT / "model_repository", repo)
    from taxifraud import wire
    from taxifraud.onnx_scorer import OnnxScorer

    score = float(OnnxScorer(repo).infer(wire.encode_rows([FRAUD]))["anomaly_score"][0, 0])
    base = LifecycleSettings(model_repository=repo)
    write_version(base, "1", score + FRAUD_SCORE_GAP)
    with Stack(stack_settings(root / "run", model_repository=repo, stack_review=False)) as stack:
        settings = LifecycleSettings.model_validate(
            {
                **stack.kafka_settings().model_dump(),
                "model_repository": repo,
                "triton_grpc_url": stack.triton_grpc,
            }
        )
        yield stack, settings


def consumer_metric(stack: Stack, sample: str) -> float:
    url = f"http://{stack.settings.stack_host}:{stack.consumer_metrics_port(0)}/metrics"
    for line in httpx.get(url, timeout=5).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def wait_metric(stack: Stack, sample: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while consumer_metric(stack, sample) < 1:
        if time.monotonic() > deadline:
            raise AssertionError(f"{sample} never appeared")
        time.sleep(0.2)


def post(stack: Stack, batch: list[dict[str, object]]) -> None:
    resp = httpx.post(f"{stack.gateway_url}/transactions", json=batch, timeout=30)
    assert resp.status_code == 202, resp.text


def test_both_versions_served_and_listed(versioned: tuple[Stack, LifecycleSettings]) -> None:
    _, settings = versioned
    assert [v.version for v in list_versions(settings)] == ["1", "2"]
    assert triton_versions(settings) == {"1": "READY", "2": "READY"}


def test_shadow_scores_the_same_batches_and_disagrees_on_the_known_trip(
    versioned: tuple[Stack, LifecycleSettings],
) -> None:
    stack, settings = versioned
    versions = {v.version: v for v in list_versions(settings)}
    state = switch(settings, "shadow", "2")
    assert (state.live, state.shadow) == ("1", "2")
    wait_metric(stack, 'consumer_model_version{role="shadow",version="2"}')
    batch = [dict(NORMAL_FULL, transaction_id=f"sh-normal-{i}") for i in range(30)]
    batch.append(dict(FRAUD, transaction_id="sh-fraud"))
    post(stack, batch)
    ids = {str(tx["transaction_id"]) for tx in batch}
    live = read_until(stack.bootstrap, settings.topic_verdicts, ids, timeout=60)
    shadow = read_until(stack.bootstrap, settings.topic_verdicts_shadow, ids, timeout=60)
    assert ids <= live.keys() and ids <= shadow.keys()
    assert (
        live["sh-fraud"][0]["is_fraud"] is True and live["sh-fraud"][0]["model_version"] == versions["1"].model_version
    )
    other = shadow["sh-fraud"][0]
    assert other["is_fraud"] is False and other["live_is_fraud"] is True
    assert other["model_version"] == versions["2"].model_version and other["score"] == live["sh-fraud"][0]["score"]
    assert all(shadow[f"sh-normal-{i}"][0]["is_fraud"] is False for i in range(30))
    labels = f'live_version="{versions["1"].model_version}",shadow_version="{versions["2"].model_version}"'
    assert consumer_metric(stack, f'consumer_shadow_verdicts_total{{agreement="live_only",{labels}}}') >= 1
    assert consumer_metric(stack, f'consumer_shadow_verdicts_total{{agreement="agree_legit",{labels}}}') >= 30
    assert switch(settings, "unshadow").shadow is None


def test_promote_and_rollback_under_load(versioned: tuple[Stack, LifecycleSettings]) -> None:
    stack, settings = versioned
    versions = {v.version: v.model_version for v in list_versions(settings)}
    sent: list[str] = []
    stop = threading.Event()

    def load() -> None:  # ~200 transactions a second, each batch with one known fraud
        n = 0
        while not stop.is_set():
            batch = [dict(NORMAL_FULL, transaction_id=f"pr-{n}-{i}") for i in range(19)]
            batch.append(dict(FRAUD, transaction_id=f"pr-{n}-fraud"))
            post(stack, batch)
            sent.extend(str(tx["transaction_id"]) for tx in batch)
            n += 1
            time.sleep(0.1)

    sender = threading.Thread(target=load, daemon=True)
    sender.start()
    try:
        time.sleep(3)
        promoted = switch(settings, "promote", "2")
        assert (promoted.live, promoted.previous) == ("2", "1")
        promote_applied = applied(stack, "2")
        time.sleep(4)
        assert score_version(stack) == versions["2"]  # the gateway's /score follows the promotion too
        rolled = switch(settings, "rollback")
        assert (rolled.live, rolled.previous) == ("1", "2")
        rollback_applied = applied(stack, "1")
        time.sleep(3)
        assert score_version(stack) == versions["1"]
    finally:
        stop.set()
        sender.join(30)
    verdicts = read_until(stack.bootstrap, settings.topic_verdicts, set(sent), timeout=90)
    missing = set(sent) - verdicts.keys()
    assert not missing, f"{len(missing)} transactions without a verdict"
    duplicates = [k for k in sent if len(verdicts[k]) != 1]
    assert not duplicates, f"{len(duplicates)} transactions with more than one verdict"

    # The version on each verdict is the one live when it was scored. A switch reaches the consumer within
    # its control poll and applies from the next batch it submits: verdicts scored between the switch and a
    # second after the consumer reported it (the batches already in Triton) may still carry the old version,
    # nothing later does.
    promote_window = (parse_rfc3339(promoted.changed_at), promote_applied + timedelta(seconds=1))
    rollback_window = (parse_rfc3339(rolled.changed_at), rollback_applied + timedelta(seconds=1))
    by_version = {"1": 0, "2": 0}
    for tid in sent:
        v = verdicts[tid][0]
        at = parse_rfc3339(v["scored_at"])
        expected = expected_version(at, promote_window, rollback_window)
        if expected is not None:
            assert v["model_version"] == versions[expected], (tid, v["scored_at"], v["model_version"])
        served_by = "2" if v["model_version"] == versions["2"] else "1"
        by_version[served_by] += 1
        if tid.endswith("-fraud"):  # the threshold each version bakes into its graph decides the known trip
            assert v["is_fraud"] is (served_by == "1"), v
    assert by_version["1"] > 0 and by_version["2"] > 0, by_version


def score_version(stack: Stack) -> str:
    """The version the gateway's synchronous /score uses now (the first answer after a switch may still be the
    old one: the gateway reads the control topic between requests)."""
    for _ in range(2):
        resp = httpx.post(f"{stack.gateway_url}/score", json=FRAUD, timeout=30)
        assert resp.status_code == 200, resp.text
        version = str(resp.json()["verdicts"][0]["model_version"])
    return version


def applied(stack: Stack, live: str) -> datetime:
    """When the consumer reported ``live`` as its live version (it reads the control topic between batches;
    on a loaded machine the record can take over a second to arrive)."""
    wait_metric(stack, f'consumer_model_version{{role="live",version="{live}"}}')
    return datetime.now(UTC)


def expected_version(
    at: datetime, promote: tuple[datetime, datetime], rollback: tuple[datetime, datetime]
) -> str | None:
    if at < promote[0]:
        return "1"
    if promote[1] <= at < rollback[0]:
        return "2"
    if at >= rollback[1]:
        return "1"
    return None  # inside a switch window: either


def test_recalibrate_from_labels_writes_a_version_that_triton_loads_live(
    versioned: tuple[Stack, LifecycleSettings],
) -> None:
    from operations.recalibrate import labelled_verdicts, recalibrate

    stack, settings = versioned
    batch = [dict(NORMAL_FULL, transaction_id=f"rc-normal-{i}") for i in range(10)]
    batch += [dict(FRAUD, transaction_id=f"rc-fraud-{i}") for i in range(5)]
    post(stack, batch)
    ids = {str(tx["transaction_id"]) for tx in batch}
    read_until(stack.bootstrap, settings.topic_verdicts, ids, timeout=60)
    labels = [{"transaction_id": f"rc-fraud-{i}", "label": "fraud" if i < 4 else "legit"} for i in range(5)]
    labels += [{"transaction_id": f"rc-normal-{i}", "label": "legit"} for i in range(10)]
    resp = httpx.post(f"{stack.gateway_url}/labels", json=labels, timeout=30)
    assert resp.status_code == 202, resp.text

    items = [i for i in labelled_verdicts(settings) if i.transaction_id.startswith("rc-")]
    assert len(items) == 15
    result = recalibrate(items, min_precision=0.7)
    assert result.at_current["true_positives"] == 4 and result.at_current["false_positives"] == 1
    assert result.at_current["precision"] == 0.8 and result.at_current["recall"] == 1.0
    assert result.threshold is not None

    info = write_version(settings, "1", result.threshold)
    assert info.version == "3"
    assert load_in_triton(settings) == {"1": "READY", "2": "READY", "3": "READY"}  # loaded while serving
    assert switch(settings, "shadow", "3").shadow == "3"
    wait_metric(stack, 'consumer_model_version{role="shadow",version="3"}')
    post(stack, [dict(NORMAL_FULL, transaction_id="rc-after")])
    shadow = read_until(stack.bootstrap, settings.topic_verdicts_shadow, {"rc-after"}, timeout=60)
    assert shadow["rc-after"][0]["model_version"] == info.model_version


def test_model_command_lists_versions_roles_and_triton_state(
    versioned: tuple[Stack, LifecycleSettings], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from operations.cli import main as cli_main

    _, settings = versioned
    for key, value in {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "MODEL_REPOSITORY": str(settings.model_repository),
        "TRITON_GRPC_URL": settings.triton_grpc_url,
        "TOPIC_MODEL_CONTROL": settings.topic_model_control,
    }.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    assert cli_main(["model", "list"]) == 0
    out = capsys.readouterr().out
    state = out.splitlines()[0]
    assert state.startswith("model fraud_autoencoder: live 1, shadow 3"), out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert set(rows) == {"1", "2", "3"}
    assert rows["1"][1:3] == ["live", "READY"] and rows["3"][1:3] == ["shadow", "READY"]
    assert cli_main(["model", "promote", "9"]) == 2  # not in the repository: refused, nothing written
    assert cli_main(["model", "unshadow"]) == 0
    assert "shadow -" in capsys.readouterr().out


def test_a_version_triton_cannot_serve_keeps_the_last_good_live_one(
    versioned: tuple[Stack, LifecycleSettings],
) -> None:
    """Issue 23: a half-copied version (metadata, no graph, never loaded) named live by a control record."""
    stack, settings = versioned
    live = current(settings).live
    model = settings.model_repository / settings.triton_model_name
    broken = model / "9"
    broken.mkdir()
    meta = orjson.loads((model / live / "model_meta.json").read_bytes())
    (broken / "model_meta.json").write_bytes(orjson.dumps({**meta, "model_version": "broken-9"}))
    try:
        assert switch(settings, "promote", "9").live == "9"
        wait_metric(stack, 'consumer_model_fallback_total{role="live",version="9"}')
        assert consumer_metric(stack, f'consumer_model_version{{role="live",version="{live}"}}') == 1
        assert consumer_metric(stack, 'consumer_model_version{role="live",version="9"}') == 0
        post(stack, [dict(NORMAL_FULL, transaction_id="fallback-1")])
        verdicts = read_until(stack.bootstrap, settings.topic_verdicts, {"fallback-1"}, timeout=60)
        assert verdicts["fallback-1"][0]["model_version"] == meta["model_version"], "scored on the last good live"
    finally:
        switch(settings, "rollback")
        shutil.rmtree(broken)
