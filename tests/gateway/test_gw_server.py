"""Settings from the environment, and ``gateway.server.run`` as a real multi-worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from gw_helpers import SEED_BODY, make_settings, read_topic

from gateway.server import settings_env
from gateway.settings import Settings, SettingsError, load_settings
from operations.embedded.process import ManagedProcess, free_port
from taxifraud.kafka import ensure_topics


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for key in list(os.environ):
        if key.startswith(("GATEWAY_", "KAFKA_", "TOPIC_", "TRITON_")):
            monkeypatch.delenv(key)
    s = load_settings()
    assert (s.gateway_host, s.gateway_port, s.gateway_workers) == ("127.0.0.1", 8000, 1)
    assert s.api_keys() == ()
    assert s.gateway_max_batch == 1000 and s.gateway_max_body_bytes == 1_048_576
    assert s.gateway_produce_timeout_s == 5.0 and s.gateway_max_in_flight == 100_000


def test_env_is_read_and_bad_values_name_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GATEWAY_PORT", "9123")
    monkeypatch.setenv("GATEWAY_API_KEYS", "a,b")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    s = load_settings()
    assert s.gateway_port == 9123 and s.api_keys() == (b"a", b"b") and s.kafka_bootstrap_servers == "broker:9092"
    monkeypatch.setenv("GATEWAY_MAX_BATCH", "0")
    monkeypatch.setenv("GATEWAY_PRODUCE_TIMEOUT_S", "soon")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "GATEWAY_MAX_BATCH" in str(err.value) and "GATEWAY_PRODUCE_TIMEOUT_S" in str(err.value)


def test_client_api_key_is_a_secret_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``TAXIFRAUD_API_KEY`` (what clients such as ``taxifraud label`` send) is read like every other key."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TAXIFRAUD_API_KEY", "client-key-1")
    s = load_settings()
    assert s.taxifraud_api_key.get_secret_value() == "client-key-1"
    assert "client-key-1" not in repr(s)
    monkeypatch.delenv("TAXIFRAUD_API_KEY")
    assert load_settings().taxifraud_api_key.get_secret_value() == ""


def test_settings_env_round_trip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    original = make_settings("b:1", gateway_api_keys="secret", gateway_workers=3, gateway_score_enabled=False)
    env = settings_env(original)
    assert env["GATEWAY_API_KEYS"] == "secret" and env["GATEWAY_SCORE_ENABLED"] == "false"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings() == original


def _metric(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.integration
def test_run_with_two_workers_counts_across_workers(broker: str, tmp_path: Path) -> None:
    """``taxifraud gateway``'s entry point: 2 uvicorn workers, metrics summed over both, clean shutdown."""
    settings = make_settings(broker)
    ensure_topics(settings)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS_")},
        **settings_env(settings),
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    code = "from gateway.server import run; from gateway.settings import load_settings; run(load_settings())"
    proc = ManagedProcess("gateway", [sys.executable, "-c", code], tmp_path / "gateway.log", env=env).start()
    base = f"http://127.0.0.1:{port}"
    try:
        proc.wait_ready(lambda: httpx.get(f"{base}/healthz", timeout=1).status_code == 200, 60, what="serving")
        ids = []
        with httpx.Client(base_url=base, timeout=10) as client:  # new connections spread over workers
            for _ in range(40):
                resp = client.post("/transactions", json=SEED_BODY, headers={"connection": "close"})
                assert resp.status_code == 202, resp.text
                ids += resp.json()["transaction_ids"]
            for _ in range(6):  # whichever worker answers, it reports the sum over both
                text = client.get("/metrics", headers={"connection": "close"}).text
                assert _metric(text, "gateway_transactions_accepted_total") == 40
        stored = read_topic(settings, settings.topic_transactions, 40)
        assert sorted(m["transaction_id"] for m in stored) == sorted(ids)
        assert len(list((tmp_path / "metrics").glob("counter_*.db"))) >= 2, "one metrics file per worker"
    finally:
        proc.signal(2)  # SIGINT: uvicorn's graceful shutdown
        deadline = time.monotonic() + 30
        while proc.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        code_ = proc.stop()
    assert code_ == 0, proc.log_tail()
    assert "Traceback" not in proc.log_tail(200), proc.log_tail(200)


def test_noop_baseline_app() -> None:
    from fastapi.testclient import TestClient

    from operations.benchmarks.noop import app

    with TestClient(app) as client:
        assert client.post("/transactions", json=SEED_BODY).json() == {"accepted": 1, "transaction_ids": []}
        assert client.post("/transactions", json=[SEED_BODY] * 3).status_code == 202


def test_uvicorn_import_string_app_is_lazy() -> None:
    """``uvicorn gateway.app:app`` must import without reading settings (they are read at start-up)."""
    result = subprocess.run(
        [sys.executable, "-c", "import gateway.app as m; print(type(m.app).__name__)"],
        capture_output=True,
        text=True,
        env={**os.environ, "GATEWAY_PORT": "not-a-port"},
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip() == "FastAPI", result.stderr


def test_repeated_failures_are_logged_throttled(caplog: pytest.LogCaptureFixture) -> None:
    from gateway.handlers import Throttled

    throttled = Throttled(interval=0.2)
    with caplog.at_level("WARNING", logger="gateway.handlers"):
        for i in range(50):
            throttled.warning("k", "broker down %d", i)
        time.sleep(0.25)
        throttled.warning("k", "broker down %d", 50)
        throttled.warning("other", "triton down")
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.handlers"]
    assert lines == ["broker down 0", "broker down 50 (and 49 more like it in the last 0.2s)", "triton down"]
