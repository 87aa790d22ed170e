"""The embedded stack's pure parts: the Prometheus config rendered for its real ports, the restart policy,
the check of model version directories."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from operations.embedded import triton
from operations.embedded.model_check import check_versions
from operations.embedded.process import ManagedProcess, ServiceFailed
from operations.embedded.prometheus import render_config
from operations.embedded.restart_policy import GiveUp, Restart, RestartHistory, RestartPolicy
from operations.embedded.supervisor import Supervisor
from operations.embedded.supervisor_metrics import SupervisorMetrics
from operations.embedded.triton import servable_versions
from taxifraud.config import REPO_ROOT


def test_render_config_rewrites_targets_and_rule_paths(tmp_path: Path) -> None:
    out = render_config(
        REPO_ROOT / "prometheus" / "prometheus.embedded.yml",
        {"gateway": ["127.0.0.1:1"], "consumer": ["127.0.0.1:2", "127.0.0.1:3"], "triton": ["127.0.0.1:4"]},
        tmp_path / "p.yml",
    )
    config = yaml.safe_load(out.read_text())
    targets = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    assert targets == {
        "gateway": ["127.0.0.1:1"],
        "consumer": ["127.0.0.1:2", "127.0.0.1:3"],
        "triton": ["127.0.0.1:4"],
    }
    for rule_file in config.get("rule_files", []):
        assert Path(rule_file).is_absolute() and Path(rule_file).exists()


# -- restart policy -------------------------------------------------------------------------------
def test_restart_delay_doubles_and_is_capped() -> None:
    policy = RestartPolicy(initial_delay_s=1, max_delay_s=5, multiplier=2, max_restarts=10, window_s=100)
    history = RestartHistory("triton", policy)
    decisions = [history.on_failure(float(t)) for t in range(5)]
    assert decisions == [Restart(1, 1), Restart(2, 2), Restart(4, 3), Restart(5, 4), Restart(5, 5)]


def test_restarts_beyond_the_cap_within_the_window_give_up_naming_the_service() -> None:
    history = RestartHistory("consumer-0", RestartPolicy(max_restarts=2, window_s=60))
    assert isinstance(history.on_failure(0), Restart)
    assert isinstance(history.on_failure(10), Restart)
    decision = history.on_failure(20)
    assert isinstance(decision, GiveUp)
    assert "consumer-0" in decision.reason and "3 times" in decision.reason


def test_crashes_older_than_the_window_are_forgotten() -> None:
    history = RestartHistory("gateway", RestartPolicy(initial_delay_s=1, max_restarts=2, window_s=60))
    history.on_failure(0)
    history.on_failure(10)
    decision = history.on_failure(65)  # the crash at 0 s left the window; the one at 10 s did not
    assert decision == Restart(2, 2)


def test_a_policy_that_never_restarts_gives_up_at_the_first_crash() -> None:
    assert isinstance(RestartHistory("broker", RestartPolicy(max_restarts=0)).on_failure(0), GiveUp)


@pytest.mark.parametrize(
    "bad", [{"initial_delay_s": -1}, {"initial_delay_s": 10, "max_delay_s": 1}, {"multiplier": 0.5}, {"window_s": 0}]
)
def test_an_impossible_policy_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RestartPolicy(**bad)  # type: ignore[arg-type]


# -- model version checks ---------------------------------------------------------------------------
MODEL_DIR = REPO_ROOT / "model_repository" / "fraud_autoencoder"


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A copy of the model with one good version and one broken version of each kind."""
    if not (MODEL_DIR / "1" / "model.onnx").is_file():
        pytest.skip("no exported model in the repository")
    root = tmp_path / "fraud_autoencoder"
    shutil.copytree(MODEL_DIR / "configs", root / "configs")
    shutil.copytree(MODEL_DIR / "1", root / "1")
    (root / "2" / "__pycache__").mkdir(parents=True)  # an interrupted copy
    shutil.copytree(MODEL_DIR / "1", root / "3")
    (root / "3" / "model.onnx").write_bytes(b"not an onnx graph")
    shutil.copytree(MODEL_DIR / "1", root / "4")
    (root / "4" / "model_meta.json").unlink()
    shutil.copytree(MODEL_DIR / "1", root / "5")
    (root / "5" / "model.onnx").unlink()
    (root / ".6.tmp").mkdir()  # a recalibration still being written: not a version
    return root


def test_each_broken_version_is_named_with_its_reason(model_dir: Path) -> None:
    checks = {c.version: c for c in check_versions(model_dir, "embedded")}
    assert list(checks) == ["1", "2", "3", "4", "5"]
    assert checks["1"].ok
    assert checks["2"].problem is not None and "model.py" in checks["2"].problem
    assert checks["3"].problem is not None and "model.onnx does not load" in checks["3"].problem
    assert checks["4"].problem == "model_meta.json is missing"
    assert checks["5"].problem == "model.onnx is missing"


def test_model_py_is_only_required_by_the_python_backend(model_dir: Path) -> None:
    (model_dir / "1" / "model.py").unlink()
    assert not check_versions(model_dir, "embedded")[0].ok
    assert check_versions(model_dir, "cpu")[0].ok  # ONNX Runtime backend: the graph alone is served


def test_the_load_override_serves_exactly_the_good_versions(model_dir: Path) -> None:
    checks, override = servable_versions(model_dir, "embedded")
    config = json.loads(override)
    assert config["version_policy"] == {"specific": {"versions": ["1"]}}
    assert config["backend"] == "python" and config["name"] == "fraud_autoencoder"
    assert [c.version for c in checks if not c.ok] == ["2", "3", "4", "5"]


def test_no_servable_version_fails_naming_each(model_dir: Path) -> None:
    shutil.rmtree(model_dir / "1")
    with pytest.raises(ServiceFailed) as err:
        servable_versions(model_dir, "embedded")
    assert "2: model.py is missing" in str(err.value) and "5: model.onnx is missing" in str(err.value)


# -- the supervisor's loop, on fake processes and a fake clock --------------------------------------
class FakeProcess:
    def __init__(self, name: str, pid: int) -> None:
        self.name, self.pid, self.running = name, pid, True
        self.proc = SimpleNamespace(returncode=-9)

    def alive(self) -> bool:
        return self.running

    def log_tail(self, lines: int = 40) -> str:
        return "(log)"


class FakeStack:
    def __init__(self, *names: str) -> None:
        self.services: list[ManagedProcess] = [FakeProcess(n, i) for i, n in enumerate(names)]  # type: ignore[misc]
        self.fail_restarts = 0
        self.restarted: list[str] = []

    def restart_service(self, name: str) -> ManagedProcess:
        self.restarted.append(name)
        if self.fail_restarts:
            self.fail_restarts -= 1
            raise ServiceFailed(f"{name} not ready after 60s")
        new = FakeProcess(name, 100 + len(self.restarted))
        self.services = [new if p.name == name else p for p in self.services]  # type: ignore[misc]
        return new  # type: ignore[return-value]

    def kill(self, name: str) -> None:
        next(p for p in self.services if p.name == name).running = False  # type: ignore[attr-defined]


def _restarts(metrics: SupervisorMetrics, service: str) -> float | None:
    return metrics.registry.get_sample_value("stack_restarts_total", {"service": service})


def test_the_supervisor_restarts_only_the_dead_service_after_the_backoff_and_counts_it() -> None:
    now = [0.0]
    stack, metrics = FakeStack("broker", "triton", "gateway"), SupervisorMetrics()
    supervisor = Supervisor(stack, RestartPolicy(initial_delay_s=2, max_restarts=3), metrics, clock=lambda: now[0])
    stack.kill("triton")
    assert supervisor.poll() is None and stack.restarted == []  # the backoff has not passed yet
    now[0] = 2.5
    assert supervisor.poll() is None
    assert stack.restarted == ["triton"] and _restarts(metrics, "triton") == 1
    assert _restarts(metrics, "gateway") is None  # nothing else touched
    assert all(p.alive() for p in stack.services)
    assert metrics.registry.get_sample_value("stack_service_up", {"service": "triton"}) == 1


def test_the_supervisor_gives_up_on_a_service_that_keeps_failing_naming_it() -> None:
    now = [0.0]
    stack, metrics = FakeStack("broker", "consumer-0"), SupervisorMetrics()
    supervisor = Supervisor(stack, RestartPolicy(initial_delay_s=0, max_restarts=2), metrics, clock=lambda: now[0])
    stack.fail_restarts = 5
    stack.kill("consumer-0")
    reasons = [supervisor.poll() for _ in range(4)]
    assert stack.restarted == ["consumer-0", "consumer-0"]  # two restarts tried, both failed
    reason = next(r for r in reasons if r is not None)
    assert reason.startswith("consumer-0 failed 3 times") and "not ready after 60s" in reason


def test_a_killed_tritons_shared_memory_is_removed_before_the_next_start_on_its_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(triton, "SHM_DIR", tmp_path)
    ours, other = tmp_path / f"{triton.shm_prefix(8001)}abc", tmp_path / f"{triton.shm_prefix(18001)}abc"
    ours.write_bytes(b"x")
    other.write_bytes(b"x")  # another stack's live server
    triton.remove_stale_shm(8001)
    assert not ours.exists() and other.exists()
