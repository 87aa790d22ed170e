"""Live check (integration): start the embedded stack with Debian's Prometheus, send traffic, then run
every dashboard query and every rule expression through Prometheus's HTTP API.

Every query must be accepted; every panel that is not GPU-only and not "empty when healthy" must
return data once traffic has flowed; every metric the rules and panels name must exist (so a renamed
metric in the code fails here, not in production at 3 am)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.ops.contract import metric_names_in
from tests.ops.panel_queries import panel_queries
from tests.trips import FRAUD
from tests.trips import NORMAL_FULL as TRIP

pytestmark = pytest.mark.integration

PROM_DIR = Path(__file__).resolve().parents[2] / "prometheus"
# Panels that are legitimately empty on a healthy CPU stack: nothing dead-lettered, no alert firing.
EMPTY_WHEN_HEALTHY = {
    "DLQ messages by error",
    "Firing alerts",
    "Shadow agreement with the live version",
    "Model version fallbacks",  # only after a control record named a version Triton cannot serve
}
# Metrics that only appear after something goes wrong, or on a GPU.
APPEAR_ON_FAILURE = {
    "consumer_dlq_messages_total",
    "consumer_shadow_verdicts_total",  # only while a version shadows the live one
    "consumer_shadow_errors_total",
    "consumer_model_fallback_total",  # only when a control record names a version that cannot be served
    "nv_gpu_utilization",
    "nv_gpu_memory_used_bytes",
    "nv_gpu_memory_total_bytes",
}
# Redpanda's own metrics exist only in the compose deployment; there the Kafka ones are absent instead.
COMPOSE_ONLY_PREFIX = "redpanda_"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object]]:
    httpx = pytest.importorskip("httpx")
    from operations.embedded.prometheus import prometheus_binary

    if prometheus_binary() is None:
        pytest.skip("prometheus is not installed (apt-get install -y prometheus)")
    from operations.stack import Stack, StackSettings, free_ports

    run_dir = tmp_path_factory.mktemp(f"ops-stack-{uuid.uuid4().hex[:6]}")
    settings = StackSettings(
        **free_ports(),
        stack_prometheus=True,
        stack_run_dir=run_dir,
        topic_partitions=3,
    )
    # PSI gauges are recomputed every CONSUMER_PSI_INTERVAL_S (15 s by default): often enough here that
    # the drift panels have data before the other panels' waits are over.
    with Stack(settings, extra_env={"CONSUMER_PSI_INTERVAL_S": "2"}) as stack:
        url = stack.gateway_url
        deadline = time.monotonic() + 60
        sent = 0
        while time.monotonic() < deadline and sent < 3000:
            batch = [dict(TRIP) for _ in range(99)] + [dict(FRAUD, transaction_id=f"live-fraud-{sent}")]
            resp = httpx.post(f"{url}/transactions", json=batch, timeout=30)
            assert resp.status_code == 202, resp.text
            sent += len(batch)
            time.sleep(0.5)
        httpx.get(f"{url}/nonexistent-{uuid.uuid4().hex}", timeout=5)  # a 404 for the status panel
        # Analysts' labels for the fraud-operations row: two alerts confirmed, one a false alarm.
        labels = [
            {"transaction_id": f"live-fraud-{n}", "label": label}
            for n, label in ((0, "fraud"), (100, "fraud"), (200, "legit"))
        ]
        resp = httpx.post(f"{url}/labels", json=labels, timeout=30)
        assert resp.status_code == 202, resp.text
        prom = stack.prometheus_url
        # rate() over 1m needs two scrapes after the traffic; wait until verdict rates and drift are visible
        deadline = time.monotonic() + 90
        ready = (
            "sum(rate(consumer_verdicts_total[1m])) > 0",
            "max(model_feature_psi)",
            'max(review_label_precision{window="15m"})',
        )
        while time.monotonic() < deadline:
            if all(httpx.get(f"{prom}/api/v1/query", params={"query": q}).json()["data"]["result"] for q in ready):
                break
            time.sleep(2)
        yield prom, httpx


def _query(live: tuple[str, object], expr: str) -> dict:
    prom, httpx = live
    resp = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=30)  # type: ignore[attr-defined]
    body = resp.json()
    assert body["status"] == "success", f"{expr}: {body}"
    return body["data"]


def test_every_panel_query_runs_and_shows_data(live: tuple[str, object]) -> None:
    empty = []
    for q in panel_queries():
        data = _query(live, q.expr)
        if not data["result"] and not q.gpu_only and q.panel_title not in EMPTY_WHEN_HEALTHY:
            empty.append(f"{q.panel_title} [{q.ref_id}]: {q.expr}")
    # Failure counters are pre-created at 0, so their rates are data; `topk` of reasons needs the fraud sent.
    assert not empty, "panels without data:\n" + "\n".join(empty)


def test_every_rule_expression_evaluates(live: tuple[str, object]) -> None:
    groups = yaml.safe_load((PROM_DIR / "alerts.yml").read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        _query(live, rule["expr"])


def test_every_metric_named_by_rules_and_panels_exists(live: tuple[str, object]) -> None:
    names: set[str] = set()
    for q in panel_queries():
        names |= metric_names_in(q.expr)
    groups = yaml.safe_load((PROM_DIR / "alerts.yml").read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        names |= metric_names_in(rule["expr"])
    names = {n for n in names - APPEAR_ON_FAILURE if not n.startswith(COMPOSE_ONLY_PREFIX)}
    missing = [n for n in sorted(names) if not _query(live, f"count({n})")["result"]]
    assert not missing, f"no series in the live stack: {missing}"


def test_no_alert_fires_on_a_healthy_stack(live: tuple[str, object]) -> None:
    data = _query(live, 'ALERTS{alertstate="firing"}')
    firing = sorted({r["metric"]["alertname"] for r in data["result"]})
    assert not firing, f"alerts firing on a healthy stack: {firing}"
