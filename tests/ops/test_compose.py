"""docker-compose.yml, checked without a Docker engine: compose itself validates it offline, every
setting the gateway and consumer read is set, Prometheus targets and Grafana mounts line up with the
services, host paths exist, images are pinned, every service is health-checked and waited for."""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
CPU_OVERLAY = REPO_ROOT / "docker-compose.cpu.yml"
APP_SERVICES = {"gateway": "gateway.settings", "consumer": "consumer.settings", "review": "review.settings"}
TOPIC_KEYS = ["TOPIC_TRANSACTIONS", "TOPIC_VERDICTS", "TOPIC_ALERTS", "TOPIC_DLQ"]


def _services(compose: dict) -> dict[str, dict]:
    return compose["services"]


def _config(compose_cli: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    empty_env_file = tmp_path / "empty.env"  # ignore a developer's .env: the test controls the environment
    empty_env_file.write_text("")
    return subprocess.run(
        [*compose_cli, "--env-file", str(empty_env_file), "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


#: The secrets compose refuses to start without (no defaults anywhere).
REQUIRED_SECRETS = {
    "GRAFANA_ADMIN_PASSWORD": "test-only",
    "REDPANDA_SUPERUSER_PASSWORD": "test-only-rp",
    "KAFKA_SASL_PASSWORD": "test-only-app",
}


def test_compose_config_validates(compose_cli: list[str], tmp_path: Path) -> None:
    proc = _config(compose_cli, tmp_path, REQUIRED_SECRETS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("secret", sorted(REQUIRED_SECRETS))
def test_compose_refuses_to_start_without_each_secret(compose_cli: list[str], tmp_path: Path, secret: str) -> None:
    proc = _config(compose_cli, tmp_path, {k: v for k, v in REQUIRED_SECRETS.items() if k != secret})
    assert proc.returncode != 0
    assert secret in proc.stdout + proc.stderr


def test_kafka_links_are_authenticated_and_no_credential_is_in_the_file(compose: dict) -> None:
    text = COMPOSE_FILE.read_text()
    for secret in ("REDPANDA_SUPERUSER_PASSWORD", "KAFKA_SASL_PASSWORD"):
        assert not re.search(rf"{secret}:?-", text), f"{secret} must have no default"
    services = _services(compose)
    assert services["redpanda"]["environment"]["RP_BOOTSTRAP_USER"].startswith("admin:${REDPANDA_SUPERUSER_PASSWORD:?")
    bootstrap = next(v for v in services["redpanda"]["volumes"] if v.endswith("/etc/redpanda/.bootstrap.yaml:ro"))
    cluster = yaml.safe_load((REPO_ROOT / bootstrap.split(":")[0]).read_text())
    assert cluster["enable_sasl"] is True and "admin" in cluster["superusers"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["KAFKA_SECURITY_PROTOCOL"].startswith("${KAFKA_SECURITY_PROTOCOL:-SASL_")
        assert env["KAFKA_SASL_PASSWORD"].startswith("${KAFKA_SASL_PASSWORD:?")
    topics = services["topics"]["environment"]
    assert topics["RPK_PASS"].startswith("${REDPANDA_SUPERUSER_PASSWORD:?") and topics["RPK_USER"] == "admin"
    assert "rpk security user create" in " ".join(services["topics"]["command"])


def test_compose_refuses_to_start_without_grafana_password(compose_cli: list[str], tmp_path: Path) -> None:
    proc = _config(compose_cli, tmp_path, {k: v for k, v in REQUIRED_SECRETS.items() if k != "GRAFANA_ADMIN_PASSWORD"})
    assert proc.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in proc.stdout + proc.stderr


def test_grafana_password_has_no_default(compose: dict) -> None:
    env = _services(compose)["grafana"]["environment"]
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", env["GF_SECURITY_ADMIN_PASSWORD"])
    assert not re.search(r"GRAFANA_ADMIN_PASSWORD:?-", COMPOSE_FILE.read_text())


@pytest.mark.parametrize("service", sorted(APP_SERVICES))
def test_every_setting_is_set_for_the_service(compose: dict, service: str) -> None:
    try:
        module = importlib.import_module(APP_SERVICES[service])
    except ModuleNotFoundError as exc:
        pytest.skip(f"{APP_SERVICES[service]} not written yet ({exc})")
    settings = module.Settings
    prefix = settings.model_config.get("env_prefix", "") or ""
    expected = {f"{prefix}{name}".upper() for name in settings.model_fields}
    env = _services(compose)[service]["environment"]
    assert isinstance(env, dict), "use the mapping form of `environment`"
    missing = expected - set(env)
    assert not missing, f"{service}: Settings reads these but compose does not set them: {sorted(missing)}"
    own = {k for k in env if k.startswith(f"{service.upper()}_")}
    unknown = own - expected
    assert not unknown, f"{service}: compose sets keys Settings does not know (typo?): {sorted(unknown)}"


def test_topic_job_creates_the_topics_the_services_use(compose: dict) -> None:
    services = _services(compose)
    topic_list = services["topics"]["environment"]["TOPIC_LIST"]
    for key in TOPIC_KEYS:
        for app in APP_SERVICES:
            value = services[app]["environment"][key]
            assert value in topic_list, f"{key}={value} of {app} is not created by the topics job"
    assert services["topics"]["environment"]["PARTITIONS"] == services["consumer"]["environment"]["TOPIC_PARTITIONS"]


def _container_ports(service: dict) -> set[int]:
    ports = {int(str(p)) for p in service.get("expose", [])}
    for mapping in service.get("ports", []):
        ports.add(int(str(mapping).rsplit(":", 1)[-1].split("/")[0]))
    return ports


def test_prometheus_targets_are_compose_services(compose: dict) -> None:
    services = _services(compose)
    config = yaml.safe_load((REPO_ROOT / "prometheus" / "prometheus.yml").read_text())
    for job in config["scrape_configs"]:
        targets = [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        targets += [f"{name}:{sd['port']}" for sd in job.get("dns_sd_configs", []) for name in sd["names"]]
        assert targets, job["job_name"]
        for target in targets:
            host, port = target.rsplit(":", 1)
            name = "prometheus" if host == "localhost" and job["job_name"] == "prometheus" else host
            assert name in services, f"{job['job_name']}: {host} is not a compose service"
            assert int(port) in _container_ports(services[name]), (
                f"{job['job_name']}: {name} does not expose {port} (expose: / ports:)"
            )


def test_scaled_consumers_are_discovered_by_dns(compose: dict) -> None:
    consumer = _services(compose)["consumer"]
    assert "container_name" not in consumer and "ports" not in consumer, "blocks --scale consumer=N"
    config = yaml.safe_load((REPO_ROOT / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "consumer")
    assert job["dns_sd_configs"][0]["names"] == ["consumer"]
    assert consumer["environment"]["CONSUMER_METRICS_PORT"] == str(job["dns_sd_configs"][0]["port"])


def test_mounted_host_paths_exist(compose: dict) -> None:
    named = set(compose.get("volumes") or {})
    for name, service in _services(compose).items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (REPO_ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in named, f"{name}: named volume {source} is not declared"
        build = service.get("build")
        if build:
            assert (REPO_ROOT / build["context"] / build["dockerfile"]).is_file(), name


def test_model_repository_is_read_only(compose: dict) -> None:
    for name in ("triton", "gateway", "consumer"):
        mounts = [str(v) for v in _services(compose)[name]["volumes"]]
        assert "./model_repository:/models:ro" in mounts, name


def test_images_are_pinned(compose: dict) -> None:
    for name, service in _services(compose).items():
        image = service.get("image")
        assert image, f"{name}: set `image:` (with a tag) even for built services"
        last = image.rsplit("/", 1)[-1]
        assert ":" in last or "@sha256:" in image, f"{name}: {image} has no tag"
        tag = last.split(":", 1)[1] if ":" in last else ""
        assert tag not in {"latest", "main", "nightly", "edge"}, f"{name}: {image} is not pinned"
        if "build" not in service:
            assert re.search(r"\d", tag), f"{name}: {image} needs a version tag"


def _one_shots(compose: dict) -> set[str]:
    shots = set()
    for service in _services(compose).values():
        for dep, cond in (service.get("depends_on") or {}).items():
            if cond.get("condition") == "service_completed_successfully":
                shots.add(dep)
    return shots


def test_every_service_is_health_checked(compose: dict) -> None:
    one_shots = _one_shots(compose)
    assert one_shots == {"topics"}
    for name, service in _services(compose).items():
        if name in one_shots:
            assert service.get("restart") == "no", f"{name} is a one-shot job"
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert service.get("restart") == "unless-stopped", name


def test_dependencies_wait_for_health(compose: dict) -> None:
    services = _services(compose)
    one_shots = _one_shots(compose)
    for name, service in services.items():
        deps = service.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: use depends_on with conditions"
        for dep, cond in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            want = "service_completed_successfully" if dep in one_shots else "service_healthy"
            assert cond.get("condition") == want, f"{name} -> {dep}"
    assert {"redpanda", "topics", "triton"} <= set(services["consumer"]["depends_on"])
    assert {"redpanda", "topics"} <= set(services["gateway"]["depends_on"])
    assert "prometheus" in services["grafana"]["depends_on"]


def test_redpanda_runs_in_production_mode(compose: dict) -> None:
    redpanda = _services(compose)["redpanda"]
    command = " ".join(redpanda["command"])
    assert "dev-container" not in command and "--overprovisioned" not in command
    assert re.search(r"--smp[= ]", command) and re.search(r"--memory[= ]", command)
    assert any(str(v).startswith("redpanda-data:") for v in redpanda["volumes"])


def test_triton_on_gpu_with_selectable_config(compose: dict) -> None:
    triton = _services(compose)["triton"]
    assert re.fullmatch(r"nvcr\.io/nvidia/tritonserver:\d{2}\.\d{2}-py3", triton["image"])
    (device,) = triton["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["count"] == 1 and device["capabilities"] == ["gpu"]
    command = " ".join(triton["command"])
    assert "$${TRITON_MODEL_CONFIG:+--model-config-name=$${TRITON_MODEL_CONFIG}}" in command
    assert triton["environment"]["TRITON_MODEL_CONFIG"] == "${TRITON_MODEL_CONFIG:-}"
    assert "--allow-metrics=true" in command and "--metrics-port=8002" in command
    for name in ("config.pbtxt",):
        assert (REPO_ROOT / "model_repository" / "fraud_autoencoder" / name).is_file()
    assert (REPO_ROOT / "model_repository" / "fraud_autoencoder" / "configs" / "cpu.pbtxt").is_file()


class _ResetLoader(yaml.SafeLoader):
    """Reads Compose v2's `!reset` / `!override` tags (PyYAML and docker-compose v1 do not know them)."""


_ResetLoader.add_constructor("!reset", lambda loader, node: {"__reset__": True})
_ResetLoader.add_constructor(
    "!override", lambda loader, node: {"__override__": loader.construct_object(node, deep=True)}
)


def test_cpu_overlay_drops_the_gpu(compose: dict) -> None:
    overlay = yaml.load(CPU_OVERLAY.read_text(), Loader=_ResetLoader)  # a SafeLoader subclass
    assert set(overlay["services"]) == {"triton"}
    triton = overlay["services"]["triton"]
    assert triton["deploy"] == {"__reset__": True}
    assert triton["environment"]["TRITON_MODEL_CONFIG"] == "cpu"


def test_cpu_overlay_validates_with_compose_v2(tmp_path: Path) -> None:
    docker = subprocess.run(["sh", "-c", "docker compose version --short"], capture_output=True, text=True, check=False)
    if docker.returncode != 0:
        pytest.skip("the docker compose v2 plugin is not installed (docker-compose v1 cannot read !reset)")
    env_file = tmp_path / "e.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in REQUIRED_SECRETS.items()))
    proc = subprocess.run(
        ["docker", "compose", "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "-f", str(CPU_OVERLAY), "config"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    merged = yaml.safe_load(proc.stdout)
    assert "deploy" not in merged["services"]["triton"] or not merged["services"]["triton"]["deploy"].get("resources")


def test_env_example_documents_every_variable() -> None:
    text = COMPOSE_FILE.read_text()
    # ${VAR...} but not $${VAR} (escaped: expanded inside the container)
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))
    example = (REPO_ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", example, flags=re.M))
    assert not used - documented, f".env.example lacks {sorted(used - documented)}"
    assert re.search(r"^GRAFANA_ADMIN_PASSWORD=$", example, flags=re.M), "no default password in the example"
