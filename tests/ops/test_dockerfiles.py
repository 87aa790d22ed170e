"""Dockerfiles: hadolint-clean, pinned slim base, non-root, health-checked, runtime dependencies only,
the build targets docker-compose.yml asks for exist, and each target's entrypoint imports resolve inside
what that target copies (checked without a Docker engine, see :func:`import_entrypoint`)."""

from __future__ import annotations

import json
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((REPO_ROOT / "docker").glob("*.Dockerfile"))
APP_DOCKERFILE = REPO_ROOT / "docker" / "app.Dockerfile"


def _stages(path: Path | str) -> dict[str, list[str]]:
    """Instructions of each stage (continuation lines joined), keyed by stage name; a path or the text."""
    text = re.sub(r"\\\n", " ", path.read_text() if isinstance(path, Path) else path)
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


# --- Entrypoint imports inside what each target copies -------------------------------------------------

#: Run in ``python -I -S``: no PYTHONPATH, no user site, no ``.pth`` files, so the editable install of this
#: repository (a ``.pth`` finder) cannot supply a package the image lacks. The third-party dependencies come
#: from this venv's site-packages, put after the image's tree. It imports the entrypoint module and then every
#: module of the packages the image holds (lazy imports inside functions, uvicorn's import string).
_IMPORT_CHECK = """
import importlib, pkgutil, sys
root, module, site_dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path[:0] = [root]
sys.path.extend(site_dirs)
importlib.import_module(module)
for info in pkgutil.walk_packages([root]):
    importlib.import_module(info.name)
print("imported", module)
"""


def image_files(dockerfile: str, target: str) -> tuple[PurePosixPath, list[tuple[str, PurePosixPath]]]:
    """The target's final WORKDIR and each (source in the build context, absolute destination) it COPYs
    from the context (``COPY --from`` copies build output such as the venv, not our code)."""
    workdir = PurePosixPath("/")
    copies: list[tuple[str, PurePosixPath]] = []
    for instruction in _resolved(_stages(dockerfile), target):
        words = instruction.split()
        keyword = words[0].upper()
        if keyword == "FROM":  # a stage built FROM an external image starts with its own root
            workdir = PurePosixPath("/")
        elif keyword == "WORKDIR":
            workdir = workdir / words[1]
        elif keyword == "COPY" and not any(w.startswith("--from") for w in words[1:]):
            *sources, dest = [w for w in words[1:] if not w.startswith("--")]
            copies += [(src, workdir / dest) for src in sources]
    return workdir, copies


def entrypoint_module(dockerfile: str, target: str) -> str:
    """The module of ``ENTRYPOINT ["python", "-m", MODULE]``, the only entrypoint form the images use."""
    entry = [i for i in _resolved(_stages(dockerfile), target) if i.upper().startswith("ENTRYPOINT ")][-1]
    argv = json.loads(entry.split(None, 1)[1])
    assert argv[:2] == ["python", "-m"] and len(argv) == 3, f"{target}: entrypoint {argv} is not python -m MODULE"
    return str(argv[2])


def import_entrypoint(dockerfile: str, target: str, work: Path) -> subprocess.CompletedProcess[str]:
    """Build the target's file tree from its COPY lines only, under ``work``, and import its entrypoint there
    (``MODULE.__main__`` for a package, as ``python -m`` does) in a fresh interpreter."""
    workdir, copies = image_files(dockerfile, target)
    for src, dest in copies:
        local = work / dest.relative_to("/")
        if (REPO_ROOT / src).is_dir():
            shutil.copytree(REPO_ROOT / src, local, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            local.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / src, local)
    root = work / workdir.relative_to("/")
    module = entrypoint_module(dockerfile, target)
    if (root / module.replace(".", "/")).is_dir():
        module += ".__main__"
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", _IMPORT_CHECK, str(root), module, *site.getsitepackages()],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize("target", sorted(_targets()))
def test_entrypoint_imports_resolve_inside_the_image(target: str, tmp_path: Path) -> None:
    dockerfile = APP_DOCKERFILE.read_text()
    assert entrypoint_module(dockerfile, target) == target, "each image starts its own service, not the CLI"
    proc = import_entrypoint(dockerfile, target, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"imported {target}.__main__" in proc.stdout


def test_image_without_its_service_package_fails_naming_the_module(tmp_path: Path) -> None:
    """The check is not vacuous: the Dockerfile as it was before this test (no ``COPY review``) fails it."""
    dockerfile = APP_DOCKERFILE.read_text()
    without_review = re.sub(r"^COPY review \S+\n", "", dockerfile, flags=re.M)
    assert without_review != dockerfile, "the review target no longer copies review/ by this line"
    proc = import_entrypoint(without_review, "review", tmp_path)
    assert proc.returncode != 0
    assert "No module named 'review'" in proc.stderr, proc.stderr[-3000:]


def test_images_copy_no_package_that_never_runs_in_production() -> None:
    for target in _targets():
        sources = {PurePosixPath(src).parts[0] for src, _ in image_files(APP_DOCKERFILE.read_text(), target)[1]}
        assert sources.isdisjoint({"operations", "export", "tests"}), f"{target} copies {sorted(sources)}"
