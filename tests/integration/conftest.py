"""Fixtures that run the real embedded stack (Kafka, tritonserver, gateway, consumer) on free ports."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from operations.stack import Stack, StackSettings, free_ports


def stack_settings(run_dir: Path, **overrides: object) -> StackSettings:
    values: dict[str, object] = {
        **free_ports(),
        "stack_prometheus": False,
        "stack_run_dir": run_dir,
        "topic_partitions": 3,
    }
    values.update(overrides)
    return StackSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole embedded pipeline, shared by one test module."""
    run_dir = tmp_path_factory.mktemp(f"stack-{uuid.uuid4().hex[:6]}")
    with Stack(stack_settings(run_dir)) as stack:
        yield stack
