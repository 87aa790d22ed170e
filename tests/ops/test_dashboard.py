"""Grafana: the provisioned dashboard is valid for file provisioning, uses the provisioned datasource
uid everywhere, every panel has PromQL that parses and only uses contract metrics, and the
provisioning files agree with docker-compose.yml. No Grafana needed (it cannot be installed here);
the lead's live test runs each query from panel_queries() against a real Prometheus."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ops.contract import contract_metrics, metric_names_in
from tests.ops.panel_queries import (
    DASHBOARD_PATH,
    GPU_ONLY_MARKER,
    iter_panels,
    load_dashboard,
    panel_queries,
    substitute,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
GRAFANA = REPO_ROOT / "grafana"
GRID_WIDTH = 24


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return load_dashboard(DASHBOARD_PATH)


@pytest.fixture(scope="module")
def datasource_uid() -> str:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    sources = provisioned["datasources"]
    assert len(sources) == 1 and sources[0]["type"] == "prometheus"
    return str(sources[0]["uid"])


def _panels(dashboard: dict) -> list[dict]:
    return [p for p in iter_panels(dashboard) if p.get("type") != "row"]


def test_dashboard_top_level_schema(dashboard: dict) -> None:
    assert dashboard["uid"] == "fraud-detection"
    assert isinstance(dashboard["title"], str) and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert isinstance(dashboard["panels"], list) and dashboard["panels"]
    assert dashboard.get("id") is None, "a provisioned dashboard must not carry a database id"
    assert set(dashboard["time"]) == {"from", "to"}
    assert isinstance(dashboard["templating"]["list"], list)


def test_dashboard_file_is_plain_json(dashboard: dict) -> None:
    text = DASHBOARD_PATH.read_text(encoding="utf-8")
    assert json.loads(text) == dashboard
    assert "__inputs" not in dashboard, "exported-for-sharing JSON (with __inputs) does not provision"


def test_panel_ids_unique_and_grid_valid(dashboard: dict) -> None:
    ids = [p["id"] for p in iter_panels(dashboard)]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    cells: dict[tuple[int, int], int] = {}
    for p in iter_panels(dashboard):
        g = p["gridPos"]
        assert {"x", "y", "w", "h"} <= set(g), p["title"]
        assert all(isinstance(g[k], int) and g[k] >= 0 for k in "xywh")
        assert g["w"] >= 1 and g["h"] >= 1 and g["x"] + g["w"] <= GRID_WIDTH, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panel {p['id']} overlaps panel {cells[(x, y)]}"
                cells[(x, y)] = p["id"]


def test_every_panel_has_promql_targets(dashboard: dict) -> None:
    for p in _panels(dashboard):
        assert p.get("title"), p["id"]
        targets = p.get("targets") or []
        assert targets, f"panel {p['title']!r} has no targets"
        ref_ids = [t.get("refId") for t in targets]
        assert all(ref_ids) and len(ref_ids) == len(set(ref_ids)), p["title"]
        for t in targets:
            assert isinstance(t.get("expr"), str) and t["expr"].strip(), f"{p['title']} {t.get('refId')}"


def test_every_datasource_is_the_provisioned_uid(dashboard: dict, datasource_uid: str) -> None:
    seen = 0
    for p in _panels(dashboard):
        for holder in [p, *p["targets"]]:
            ds = holder.get("datasource")
            assert isinstance(ds, dict), f"{p['title']}: datasource must be an object with a uid"
            assert ds == {"type": "prometheus", "uid": datasource_uid}, p["title"]
            seen += 1
    for var in dashboard["templating"]["list"]:
        if var.get("type") == "query":
            assert var["datasource"] == {"type": "prometheus", "uid": datasource_uid}, var["name"]
    assert seen
    # no ${datasource}-style indirection and no reference by name
    assert "${DS_" not in DASHBOARD_PATH.read_text()


def test_template_variables_substitute_completely(dashboard: dict) -> None:
    queries = panel_queries(dashboard)
    assert len(queries) == sum(len(p["targets"]) for p in _panels(dashboard))
    for q in queries:
        assert not re.search(r"\$(?!\d)", q.expr) and "[[" not in q.expr, q  # $1: a label_replace back-reference
    # the consumer variable is an "All"-able regex matcher
    assert any('instance=~".*"' in q.expr for q in queries)
    chosen = panel_queries(dashboard, {"consumer": "10.0.0.5:9101"})
    assert any('instance=~"10.0.0.5:9101"' in q.expr for q in chosen)


def test_substitute_forms() -> None:
    values = {"a": "X"}
    assert substitute('f{i=~"$a"}[$__rate_interval]', values) == 'f{i=~"X"}[1m]'
    assert substitute("${a} ${a:regex} [[a]]", values) == "X X X"
    with pytest.raises(KeyError):
        substitute("$missing", values)


def test_queries_use_contract_metrics(dashboard: dict) -> None:
    known = contract_metrics()
    for q in panel_queries(dashboard):
        unknown = metric_names_in(q.expr) - known
        assert not unknown, f"{q.panel_title}: not in docs/architecture.md: {sorted(unknown)}"


def test_queries_parse_as_promql(dashboard: dict, promtool: str, tmp_path: Path) -> None:
    """promtool has no `check expr`; a recording rule per query makes `check rules` parse each one."""
    queries = panel_queries(dashboard)
    rules = [{"record": f"dashboard:panel_{q.panel_id}:{q.ref_id}", "expr": q.expr} for q in queries]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_required_views_are_present(dashboard: dict) -> None:
    exprs = " ".join(q.expr for q in panel_queries(dashboard))
    for metric in [
        "gateway_transactions_accepted_total",
        "consumer_messages_consumed_total",
        "consumer_verdicts_total",
        "consumer_alerts_total",
        "nv_inference_queue_duration_us",
        "nv_inference_compute_infer_duration_us",
        "nv_inference_request_success",
        "nv_inference_count",
        "nv_inference_exec_count",
        "nv_gpu_utilization",
        "nv_gpu_memory_used_bytes",
        "consumer_lag_messages",
        "consumer_dlq_messages_total",
        "model_feature_psi",
        "model_score_psi",
    ]:
        assert metric in exprs, f"no panel shows {metric}"
    for histogram in [
        "consumer_event_to_verdict_seconds",
        "consumer_processing_seconds",
        "consumer_triton_request_duration_seconds",
        "gateway_http_request_duration_seconds",
    ]:
        for quantile in ("0.5", "0.95", "0.99"):
            pattern = rf"histogram_quantile\({quantile}, sum by \(le[^)]*\) \(rate\({histogram}_bucket"
            assert re.search(pattern, exprs), f"no p{quantile} of {histogram}"
    assert re.search(r"topk\(\d+, sum by \(reason\) \(increase\(consumer_alerts_total", exprs)


def test_gpu_only_panels_are_marked(dashboard: dict) -> None:
    """Exactly the panels that need nv_gpu_* are GPU-only: a CPU deployment may leave them empty."""
    for p in _panels(dashboard):
        uses_gpu = any("nv_gpu_" in t["expr"] for t in p["targets"])
        marked = str(p.get("description", "")).startswith(GPU_ONLY_MARKER)
        assert uses_gpu == marked, p["title"]
        if uses_gpu:
            assert all("nv_gpu_" in t["expr"] for t in p["targets"]), "do not mix GPU and CPU series"
    gpu = [q for q in panel_queries(dashboard) if q.gpu_only]
    assert {q.panel_title for q in gpu} == {"GPU utilisation", "GPU memory"}


def test_provisioning_points_at_the_dashboards(compose: dict) -> None:
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    path = provider["options"]["path"]
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{path}:ro" in mounts
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]


def test_threshold_lines_match_the_alerts(dashboard: dict) -> None:
    """The red line on a panel is where its alert fires; change both together."""
    rules = yaml.safe_load((REPO_ROOT / "prometheus" / "alerts.yml").read_text())["groups"]
    exprs = {r["alert"]: r["expr"] for g in rules for r in g["rules"] if "alert" in r}
    pairs = {
        "Fraud rate": "FraudRateSpike",
        "Event → verdict latency": "EventToVerdictLatencyHigh",
        "Feature drift (PSI)": "FeatureDrift",
        "Score drift (PSI)": "ScoreDrift",
    }
    panels = {p["title"]: p for p in _panels(dashboard)}
    for title, alert in pairs.items():
        threshold = float(re.search(r">\s*([0-9.]+)", exprs[alert]).group(1))
        steps = panels[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]
        red = [s["value"] for s in steps if s["color"] == "red"]
        assert red == [threshold], f"{title}: line at {red}, {alert} fires above {threshold}"
