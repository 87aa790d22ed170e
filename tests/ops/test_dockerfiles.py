"""Dockerfiles: hadolint-clean, pinned slim base, non-root, health-checked, runtime dependencies only,
and the build targets docker-compose.yml asks for exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO_ROOT / "docker").glob("*.Dockerfile"))


def _stages(path: Path) -> dict[str, list[str]]:
    """Instructions of each stage (continuation lines joined), keyed by stage name."""
    text = re.sub(r"\\\n", " ", path.read_text())
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, flags=re.I)
        if match:
            current = [line]
            stages[match.group(2) or match.group(1)] = current
        else:
            current.append(line)
    return stages


def _resolved(stages: dict[str, list[str]], name: str) -> list[str]:
    """A stage's instructions including those of the stages it is built FROM."""
    base = stages[name][0].split()[1]
    inherited = _resolved(stages, base) if base in stages else []
    return inherited + stages[name][1:]


def test_there_are_dockerfiles() -> None:
    assert DOCKERFILES, "docker/*.Dockerfile missing"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint(hadolint: str, path: Path) -> None:
    proc = subprocess.run([hadolint, str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_pinned_and_slim(path: Path) -> None:
    stages = _stages(path)
    for name, instructions in stages.items():
        image = instructions[0].split()[1]
        if image in stages:
            continue
        assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", image), (
            f"stage {name}: {image} must be a pinned python:X.Y.Z-slim-bookworm"
        )


def _targets() -> set[str]:
    import yaml

    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    return {s["build"]["target"] for s in compose["services"].values() if "build" in s}


@pytest.mark.parametrize("target", sorted(_targets()))
def test_compose_targets_run_as_non_root_with_healthcheck(target: str) -> None:
    path = REPO_ROOT / "docker" / "app.Dockerfile"
    stages = _stages(path)
    assert target in stages, f"no stage {target} in {path.name}"
    instructions = _resolved(stages, target)
    users = [i.split()[1] for i in instructions if i.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"0", "root"}, f"{target} runs as root"
    assert any(i.upper().startswith("HEALTHCHECK ") for i in instructions), f"{target} has no HEALTHCHECK"
    assert any(i.upper().startswith(("CMD ", "ENTRYPOINT ")) for i in instructions)


def test_only_runtime_dependencies_are_installed() -> None:
    lines = (REPO_ROOT / "docker" / "app.Dockerfile").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    assert "torch" not in text
    assert not re.search(r"pip install[^\n]*\.\[", text), "no extras (train/embedded/dev) in the image"
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml with tomllib")
    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [d for d in deps if d.lower().startswith(("torch", "calfkit", "nvidia-pytriton"))], (
        "heavy packages moved into the base dependencies; the image would grow"
    )


def test_dockerignore_keeps_the_context_small() -> None:
    lines = [line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()]
    assert lines[lines.index("*")] == "*", "ignore everything, then allow what the build copies"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set(re.findall(r"^COPY (?!--from)(\S+)", (REPO_ROOT / "docker" / "app.Dockerfile").read_text(), re.M))
    assert copied <= allowed, f"COPY of paths the .dockerignore excludes: {sorted(copied - allowed)}"
    assert not allowed & {".venv", ".git", "model_repository", "run", "bench"}
