"""The container images install only pyproject's base dependencies (no extras).
Everything the gateway and the consumer import at start-up must therefore come from those
dependencies (or their own requirements), or the image builds fine and crashes on start.

Checked in this environment, without Docker: import the services' entry points in a fresh
interpreter, map the imported top-level modules to installed distributions, and compare with the
closure of the base dependencies' requirements."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ENTRY_MODULES = {
    # the images' entrypoints (docker/app.Dockerfile): `python -m gateway` -> gateway.server.run -> uvicorn
    # "gateway.app:create_app"
    "gateway": ["gateway.__main__", "gateway.app"],
    # `python -m consumer` -> consumer.worker.run
    "consumer": ["consumer.__main__"],
    # `python -m review` -> review.app.run
    "review": ["review.__main__"],
}


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _base_closure() -> set[str]:
    """Distributions pulled in by `pip install .` (base dependencies, their extras, recursively)."""
    requirements = pytest.importorskip("packaging.requirements")
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml with tomllib")
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    todo = [(requirements.Requirement(r), "") for r in pyproject["project"]["dependencies"]]
    seen: set[str] = set()
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = _canon(req.name)
        extras = sorted(req.extras)
        key = f"{name}[{','.join(extras)}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed here: nothing imported from it either
        for line in requires:
            sub = requirements.Requirement(line)
            if sub.marker is None:
                todo.append((sub, ""))
                continue
            for e in ["", *extras]:
                if sub.marker.evaluate({"extra": e}):
                    todo.append((sub, e))
                    break
    return {k.split("[", 1)[0] for k in seen}


def _imported_distributions(modules: list[str]) -> dict[str, set[str]]:
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    mapping = metadata.packages_distributions()
    out: dict[str, set[str]] = {}
    for module in json.loads(proc.stdout.strip().splitlines()[-1]):
        for dist in mapping.get(module, []):
            out.setdefault(_canon(dist), set()).add(module)
    return out


@pytest.mark.parametrize("service", sorted(ENTRY_MODULES))
def test_service_imports_only_base_dependencies(service: str) -> None:
    closure = _base_closure() | {"taxifraud"}
    imported = _imported_distributions(ENTRY_MODULES[service])
    # setuptools/pip may be imported by tooling (e.g. pkg_resources) and are present in any venv
    extra = {d: mods for d, mods in imported.items() if d not in closure and d not in {"setuptools", "pip"}}
    assert not extra, (
        f"{service} imports packages that `pip install .` does not install (add them to "
        f"[project].dependencies in pyproject.toml): {extra}"
    )
