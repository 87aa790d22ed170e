"""``taxifraud model list | shadow N | promote N | rollback | load``: model versions as a lifecycle.

Triton serves every version directory of the model (``version_policy: { all {} }``); which one is live and
which one shadows it is the latest record on the compacted ``model-control`` topic
(:mod:`taxifraud.model_control`), which every consumer follows between batches. So shipping a model is:
write the version directory (``taxifraud recalibrate --write``), ``load`` it into Triton (explicit model
control: the loaded versions keep serving), ``shadow`` it, compare, ``promote`` it; ``rollback`` undoes
the last promotion. No restart anywhere, no verdict lost.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition

from operations.embedded.model_check import VersionCheck, check_version, log_broken
from taxifraud.config import DEFAULT_MODEL_VERSION, KafkaSettings, TritonSettings
from taxifraud.kafka import consumer_config, ensure_topics, producer_config
from taxifraud.model_control import ControlError, ModelControl, numbered_versions, promote, rollback, shadow
from taxifraud.verdicts import utc_now_rfc3339

THRESHOLD_INITIALIZER = "threshold"


class LifecycleSettings(KafkaSettings, TritonSettings):
    """The shared broker and Triton keys: where the control topic and the model repository are."""


@dataclass(frozen=True)
class VersionInfo:
    version: str
    model_version: str
    threshold: float
    parent: str | None


def model_dir(settings: TritonSettings) -> Path:
    return Path(settings.model_repository) / settings.triton_model_name


def list_versions(settings: TritonSettings) -> list[VersionInfo]:
    """The version directories that hold a ``model_meta.json``, in numeric order."""
    root = model_dir(settings)
    out = []
    for name in numbered_versions([p.name for p in root.iterdir() if p.is_dir()]):
        meta_path = root / name / "model_meta.json"
        if not meta_path.is_file():
            continue
        meta = json.loads(meta_path.read_text())
        out.append(VersionInfo(name, str(meta["model_version"]), float(meta["threshold"]), meta.get("parent_version")))
    return out


def read_control(settings: KafkaSettings, model: str, timeout: float = 10.0) -> ModelControl | None:
    """The latest control record of ``model`` (None: nothing was ever switched)."""
    consumer = Consumer(
        consumer_config(settings, group_id=f"taxifraud-model-{time.time_ns()}", **{"enable.auto.commit": False})
    )
    try:
        tp = TopicPartition(settings.topic_model_control, 0)
        low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
        if high <= low:
            return None
        consumer.assign([TopicPartition(settings.topic_model_control, 0, OFFSET_BEGINNING)])
        latest: ModelControl | None = None
        deadline = time.monotonic() + timeout
        position = low
        while position < high and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            position = (msg.offset() or 0) + 1
            record = orjson.loads(msg.value() or b"null")
            state = ModelControl.from_record(record) if isinstance(record, dict) else None
            if state is not None and state.model == model:
                latest = state
        return latest
    finally:
        consumer.close()


def write_control(settings: KafkaSettings, state: ModelControl, timeout: float = 10.0) -> None:
    """Produce the new state and wait for the broker's ack."""
    result: list[KafkaError | None] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        result.append(err)

    producer = Producer(producer_config(settings, **{"linger.ms": 0}))
    producer.produce(
        settings.topic_model_control, orjson.dumps(state.record()), state.model.encode(), on_delivery=on_delivery
    )
    producer.flush(timeout)
    if not result or result[0] is not None:
        raise RuntimeError(f"the model-control record was not acknowledged: {result[0] if result else 'timeout'}")


def current(settings: LifecycleSettings) -> ModelControl:
    """The state now: the latest record, else the configured version live and nothing shadowing it."""
    state = read_control(settings, settings.triton_model_name)
    if state is not None:
        return state
    return ModelControl(model=settings.triton_model_name, live=settings.triton_model_version or DEFAULT_MODEL_VERSION)


def switch(settings: LifecycleSettings, action: str, version: str | None = None) -> ModelControl:
    """Apply ``shadow``/``promote``/``rollback``/``unshadow`` and write it; returns the new state."""
    ensure_topics(settings)
    available = {v.version for v in list_versions(settings)}
    state = current(settings)
    at = utc_now_rfc3339()
    if action == "shadow":
        assert version is not None
        new = shadow(state, version, available, at)
    elif action == "promote":
        assert version is not None
        new = promote(state, version, available, at)
    elif action == "rollback":
        new = rollback(state, available, at)
    elif action == "unshadow":
        new = ModelControl(state.model, state.live, None, state.previous, at, "unshadow")
    else:
        raise ControlError(f"unknown action {action}")
    write_control(settings, new)
    return new


def triton_versions(settings: TritonSettings) -> dict[str, str]:
    """Version -> state (READY, UNAVAILABLE, ...) as Triton reports it; empty if Triton does not answer."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    try:
        client = grpcclient.InferenceServerClient(**settings.triton_client_kwargs())
        index = client.get_model_repository_index(as_json=True)
    except InferenceServerException:
        return {}
    return {
        str(m.get("version", "")): str(m.get("state", ""))
        for m in index.get("models", [])
        if m.get("name") == settings.triton_model_name
    }


def broken_versions(settings: TritonSettings, python_backend: bool = True) -> list[VersionCheck]:
    """Version directories Triton could not load, each with the reason (see operations.embedded.model_check)."""
    root = model_dir(settings)
    names = numbered_versions([p.name for p in root.iterdir() if p.is_dir()])
    return [c for c in (check_version(root / n, python_backend) for n in names) if not c.ok]


def load_in_triton(settings: TritonSettings) -> dict[str, str]:
    """Ask Triton to load the model again: new good version directories are loaded, the others keep serving.

    The request carries the served config with ``version_policy: specific`` listing the versions that pass
    the check, so a broken directory is skipped (and logged) instead of failing the whole model."""
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(**settings.triton_client_kwargs())
    name = settings.triton_model_name
    config = client.get_model_config(name, as_json=True)["config"]
    python_backend = config.get("backend") == "python"
    root = model_dir(settings)
    checks = [
        check_version(root / n, python_backend)
        for n in numbered_versions([p.name for p in root.iterdir() if p.is_dir()])
    ]
    log_broken(checks, name)
    config["version_policy"] = {"specific": {"versions": [c.version for c in checks if c.ok]}}
    client.load_model(name, config=json.dumps(config))
    return triton_versions(settings)


def write_version(
    settings: TritonSettings, source: str, threshold: float, extra_meta: dict[str, Any] | None = None
) -> VersionInfo:
    """A new version directory: ``source``'s graph with its threshold replaced, and a ``model_meta.json`` that
    says so (its own ``model_version``, ``parent_version``). Needs the ``onnx`` package (``make setup-dev``)."""
    import onnx
    from onnx import numpy_helper

    root = model_dir(settings)
    existing = numbered_versions([p.name for p in root.iterdir() if p.is_dir()])
    new = str(int(existing[-1]) + 1 if existing else 1)
    src = root / source
    graph = onnx.load(str(src / "model.onnx"))
    found = [i for i in graph.graph.initializer if i.name == THRESHOLD_INITIALIZER]
    if not found:
        raise ValueError(f"{src / 'model.onnx'} has no initializer {THRESHOLD_INITIALIZER!r} to recalibrate")
    old = numpy_helper.to_array(found[0])
    found[0].CopyFrom(numpy_helper.from_array(np.full_like(old, threshold), THRESHOLD_INITIALIZER))
    meta = json.loads((src / "model_meta.json").read_text())
    meta.update(extra_meta or {})
    meta["threshold"] = float(numpy_helper.to_array(found[0]).reshape(-1)[0])
    meta["parent_version"] = source
    meta["model_version"] = f"{meta['model_version'].split('+')[0]}+v{new}-t{meta['threshold']:.4f}"
    tmp = root / f".{new}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    onnx.save(graph, str(tmp / "model.onnx"))
    (tmp / "model_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    for extra in src.iterdir():  # the embedded Python backend's model.py, and anything else the version holds
        if extra.name not in ("model.onnx", "model_meta.json") and extra.is_file():
            shutil.copy2(extra, tmp / extra.name)
    tmp.rename(root / new)  # whole or not at all: Triton never sees half a version
    return VersionInfo(new, meta["model_version"], meta["threshold"], source)


def _print_state(settings: LifecycleSettings) -> None:
    state = current(settings)
    served = triton_versions(settings)
    out = sys.stdout
    out.write(f"model {settings.triton_model_name}: live {state.live}, shadow {state.shadow or '-'}")
    out.write(
        f", previous {state.previous or '-'}" + (f" (last change {state.changed_at})\n" if state.changed_at else "\n")
    )
    out.write(f"{'version':>7}  {'role':<8} {'triton':<12} {'threshold':>9}  model_version\n")
    broken = {c.version: c.problem for c in broken_versions(settings)}
    for v in list_versions(settings):
        if v.version in broken:
            continue
        role = "live" if v.version == state.live else "shadow" if v.version == state.shadow else ""
        triton = served.get(v.version, "?" if not served else "not loaded")
        out.write(f"{v.version:>7}  {role:<8} {triton:<12} {v.threshold:>9.4f}  {v.model_version}\n")
    for version, problem in broken.items():
        role = "live" if version == state.live else "shadow" if version == state.shadow else ""
        out.write(f"{version:>7}  {role:<8} {'BROKEN':<12} {'-':>9}  {problem}\n")
    usable = {v.version for v in list_versions(settings)} - broken.keys()
    for role, named in (("live", state.live), ("shadow", state.shadow)):
        if named and named not in usable:
            why = f"broken: {broken[named]}" if named in broken else "no such version directory"
            out.write(f"warning: the control record's {role} version {named} cannot be served ({why})\n")


@click.group("model", help=__doc__)
def command() -> None:
    """``taxifraud model``: each action is a subcommand returning the exit status."""


@command.command("list", help="versions on disk, in Triton, and which is live / shadow")
def list_command() -> int:
    _print_state(LifecycleSettings())
    return 0


@command.command("load", help="make Triton load new version directories (the loaded ones keep serving)")
def load_command() -> int:
    states = load_in_triton(LifecycleSettings())
    sys.stdout.write("triton: " + ", ".join(f"{v} {s}" for v, s in sorted(states.items())) + "\n")
    return 0


def _switch(action: str, version: str | None = None) -> int:
    try:
        new = switch(LifecycleSettings(), action, version)
    except ControlError as exc:
        sys.stderr.write(f"taxifraud model {action}: {exc}\n")
        return 2
    sys.stdout.write(
        f"{new.action}: live {new.live}, shadow {new.shadow or '-'} (consumers switch at their next batch)\n"
    )
    return 0


@command.command("shadow", help="score VERSION beside the live version")
@click.argument("version")
def shadow_command(version: str) -> int:
    return _switch("shadow", version)


@command.command("promote", help="make VERSION live")
@click.argument("version")
def promote_command(version: str) -> int:
    return _switch("promote", version)


@command.command("rollback", help="make the previous live version live again")
def rollback_command() -> int:
    return _switch("rollback")


@command.command("unshadow", help="stop the shadow version")
def unshadow_command() -> int:
    return _switch("unshadow")
