"""Prometheus: both configs and the rules validate with promtool, every alert is unit-tested both
ways, alerts are actionable (severity, summary, runbook that exists), and rules only use contract
metric names."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ops.contract import contract_metrics, metric_names_in

PROM_DIR = Path(__file__).resolve().parents[2] / "prometheus"
CONFIGS = ["prometheus.yml", "prometheus.embedded.yml"]
EMBEDDED_PORTS = {
    "prometheus": 9090,
    "gateway": 8000,
    "consumer": 9101,
    "triton": 8002,
    "review": 8020,
    "kafka": 9404,
    "stack": 9405,
}


def _load(name: str) -> dict:
    return yaml.safe_load((PROM_DIR / name).read_text(encoding="utf-8"))


def _run(cmd: list[str], cwd: Path = PROM_DIR) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _alert_rules() -> list[dict]:
    return [r for g in _load("alerts.yml")["groups"] for r in g["rules"] if "alert" in r]


def _all_rules() -> list[dict]:
    return [r for g in _load("alerts.yml")["groups"] for r in g["rules"]]


@pytest.mark.parametrize("config", CONFIGS)
def test_promtool_check_config(promtool: str, config: str) -> None:
    # also checks the rule files each config names
    _run([promtool, "check", "config", config])


def test_promtool_check_rules(promtool: str) -> None:
    out = _run([promtool, "check", "rules", "alerts.yml"]).stdout
    assert f"{len(_all_rules())} rules found" in out


def test_promtool_unit_tests_pass(promtool: str) -> None:
    _run([promtool, "test", "rules", "alerts_test.yml"])


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for case in _load("alerts_test.yml")["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    alerts = {r["alert"] for r in _alert_rules()}
    assert alerts, "no alerts defined"
    assert not alerts - fires, f"alerts never shown to fire: {sorted(alerts - fires)}"
    assert not alerts - silent, f"alerts never shown to stay silent: {sorted(alerts - silent)}"
    assert not (fires | silent) - alerts, f"tests for unknown alerts: {sorted((fires | silent) - alerts)}"


def test_firing_cases_check_rendered_annotations() -> None:
    """A typo in a template must fail the unit tests, so every firing case pins its annotations."""
    for case in _load("alerts_test.yml")["tests"]:
        for check in case.get("alert_rule_test", []):
            for exp in check.get("exp_alerts") or []:
                assert {"summary", "description", "runbook"} <= set(exp.get("exp_annotations", {})), (
                    f"{case.get('name')}: {check['alertname']} has no exp_annotations"
                )


def test_issue_alerts_exist() -> None:
    """The alerts the on-call runbook (and the observability issue) asks for."""
    names = {r["alert"] for r in _alert_rules()}
    required = {
        "FraudRateSpike",
        "ConsumerLagGrowing",
        "TritonDown",
        "TritonModelNotReady",
        "EventToVerdictLatencyHigh",
        "DLQGrowing",
        "GatewayHighErrorRate",
        "FeatureDrift",
    }
    assert required <= names, sorted(required - names)
    drift = next(r for r in _alert_rules() if r["alert"] == "FeatureDrift")
    assert "model_feature_psi" in drift["expr"] and "0.25" in drift["expr"]
    triton = next(r for r in _alert_rules() if r["alert"] == "TritonDown")
    assert 'up{job="triton"}' in triton["expr"]


@pytest.mark.parametrize("rule", _alert_rules(), ids=lambda r: r["alert"])
def test_alert_is_actionable(rule: dict, repo_root: Path) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning"}
    annotations = rule["annotations"]
    assert annotations.get("summary") and annotations.get("description")
    doc, _, anchor = annotations["runbook"].partition("#")
    assert anchor == rule["alert"].lower()
    text = (repo_root / doc).read_text(encoding="utf-8")
    headings = {
        re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", text, flags=re.M)
    }
    assert anchor in headings, f"{doc} has no section '{rule['alert']}' for the runbook link"
    assert "for" in rule, "alerts without `for` page on a single bad scrape"


@pytest.mark.parametrize("rule", _all_rules(), ids=lambda r: r.get("alert") or r["record"])
def test_rules_use_contract_metrics(rule: dict) -> None:
    unknown = metric_names_in(rule["expr"]) - contract_metrics()
    assert not unknown, f"not in docs/architecture.md: {sorted(unknown)}"


def _static_targets(config: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for job in config["scrape_configs"]:
        targets = [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        targets += [f"{n}:{sd['port']}" for sd in job.get("dns_sd_configs", []) for n in sd["names"]]
        out[job["job_name"]] = targets
    return out


def test_embedded_config_scrapes_loopback_ports() -> None:
    targets = _static_targets(_load("prometheus.embedded.yml"))
    assert set(targets) == set(EMBEDDED_PORTS)
    for job, port in EMBEDDED_PORTS.items():
        assert targets[job] == [f"127.0.0.1:{port}"], job


def test_both_configs_share_jobs_and_rules() -> None:
    compose, embedded = _load("prometheus.yml"), _load("prometheus.embedded.yml")
    # each deployment scrapes its own broker: Redpanda in compose, the embedded Kafka's JMX exporter here;
    # only the embedded stack has a supervisor of its own (compose restarts containers itself)
    assert set(_static_targets(compose)) - {"redpanda"} == set(_static_targets(embedded)) - {"kafka", "stack"}
    assert compose["rule_files"] == embedded["rule_files"] == ["alerts.yml"]
    # alert `for` durations assume a scrape at least every 15s
    for cfg in (compose, embedded):
        assert cfg["global"]["scrape_interval"] in {"5s", "10s", "15s"}


def test_rendered_embedded_config_is_valid(promtool: str, tmp_path: Path) -> None:
    """The embedded stack rewrites targets (several consumers, other ports); the result must still load."""
    try:
        from operations.embedded.prometheus import render_config
    except ModuleNotFoundError as exc:
        pytest.skip(f"embedded stack not importable: {exc}")
    targets = {
        "gateway": ["127.0.0.1:18000"],
        "consumer": ["127.0.0.1:19101", "127.0.0.1:19102"],
        "triton": ["127.0.0.1:18002"],
    }
    out = render_config(PROM_DIR / "prometheus.embedded.yml", targets, tmp_path / "prometheus.yml")
    _run([promtool, "check", "config", str(out)], cwd=tmp_path)
    rendered = _static_targets(yaml.safe_load(out.read_text()))
    assert rendered == targets


def test_latency_budget_is_a_histogram_bucket_bound() -> None:
    """p99 > 0.5 s is only exact if 0.5 is a bucket boundary of the consumer's latency histogram."""
    try:
        from consumer.metrics import LATENCY_BUCKETS
    except ModuleNotFoundError as exc:
        pytest.skip(f"consumer not importable: {exc}")
    rule = next(r for r in _alert_rules() if r["alert"] == "EventToVerdictLatencyHigh")
    budget = float(re.search(r">\s*([0-9.]+)", rule["expr"]).group(1))
    assert budget in LATENCY_BUCKETS
