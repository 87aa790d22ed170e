"""A/B of a Triton config change in one run: two copies of the model on one tritonserver, windows interleaved.

The event -> verdict spans say the Triton call is one of the largest per-verdict costs, and a config's effect on
it (queue delay, instance count) is a fraction of a millisecond: on a shared machine two separate runs differ by
more than that. Here side A (the config as it is) and side B (the same config with some fields changed) are
loaded side by side on one server and driven alternately, window by window, with the same open-loop load: the
consumer's pattern, small requests arriving at a steady rate from one asyncio client, several in flight. Each
request is timed from its scheduled send, so a slow server cannot slow the offered load down.

``python -m operations.benchmarks.triton_ab --set max_queue_delay_microseconds=0`` compares the embedded config
with that field changed (``--set count=1`` changes the instance count).
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import tritonclient.grpc.aio as grpcaio

from operations.benchmarks.ab import ab_options, parse_changes, side_lines
from operations.benchmarks.latency_states import percentiles
from operations.embedded.process import free_port
from operations.embedded.triton import load_model, model_config_path, servable_versions, start_triton
from operations.open_loop import request_count, run_open_loop
from operations.traffic import TripGenerator
from taxifraud import wire
from taxifraud.click_main import run_command
from taxifraud.config import MODEL_NAME, REPO_ROOT

log = logging.getLogger(__name__)

SIDE_B = f"{MODEL_NAME}_b"


def changed_config(text: str, changes: dict[str, str], name: str) -> str:
    """The pbtxt ``text`` with each ``field: value`` of ``changes`` replaced (every occurrence) and renamed."""
    for field, value in changes.items():
        text, found = re.subn(rf"(\b{re.escape(field)}:\s*)[^\s}}]+", rf"\g<1>{value}", text)
        if not found:
            raise ValueError(f"the config has no field {field!r}")
    return re.sub(r'^name:\s*"[^"]*"', f'name: "{name}"', text, count=1, flags=re.MULTILINE)


def build_repository(source: Path, into: Path, config_name: str, changes: dict[str, str]) -> None:
    """``into``: ``source``'s model as side A and a copy named :data:`SIDE_B` whose config has ``changes``."""
    src = source / MODEL_NAME
    for name in (MODEL_NAME, SIDE_B):
        shutil.copytree(src, into / name, ignore=shutil.ignore_patterns("*.png", "*.md", "__pycache__"))
    config = model_config_path(into / SIDE_B, config_name)
    config.write_text(changed_config(config.read_text(), changes, SIDE_B))


async def _window(
    client: grpcaio.InferenceServerClient, model: str, rows: np.ndarray, rate: float, seconds: float, batch: int
) -> list[float]:
    """Open loop: one request of ``batch`` rows every 1/``rate`` s; latency from its scheduled send, ms."""
    outputs = [grpcaio.InferRequestedOutput(n) for n in wire.OUTPUT_TENSORS]
    latencies: list[float] = []

    async def one(i: int, due: float) -> None:
        chunk = np.ascontiguousarray(np.resize(rows[(i * batch) % len(rows) :], (batch, rows.shape[1])))
        tensor = grpcaio.InferInput(wire.INPUT_TENSOR, list(chunk.shape), "FP32")
        tensor.set_data_from_numpy(chunk)
        await client.infer(model, [tensor], outputs=outputs)
        latencies.append((time.perf_counter() - due) * 1e3)

    await run_open_loop(rate, request_count(rate, seconds), one)
    return latencies


async def _drive(grpc_url: str, rate: float, seconds: float, windows: int, batch: int) -> dict[str, list[float]]:
    rows = wire.encode_rows(list(TripGenerator.from_file(seed=3).trips(1024)))
    client = grpcaio.InferenceServerClient(grpc_url)
    out: dict[str, list[float]] = {"A": [], "B": []}
    try:
        for model in (MODEL_NAME, SIDE_B):  # warm-up, not counted
            await _window(client, model, rows, rate, 1.0, batch)
        for w in range(windows):
            order = (("A", MODEL_NAME), ("B", SIDE_B)) if w % 2 == 0 else (("B", SIDE_B), ("A", MODEL_NAME))
            for side, model in order:
                out[side] += await _window(client, model, rows, rate, seconds, batch)
    finally:
        await client.close()
    return out


def run(
    changes: dict[str, str],
    rate: float = 1000.0,
    seconds: float = 5.0,
    windows: int = 4,
    batch: int = 1,
    repository: Path = REPO_ROOT / "model_repository",
    config_name: str = "embedded",
) -> dict[str, Any]:
    """Start a tritonserver with both sides, drive them interleaved, stop it; p50/p95/p99 per side."""
    with tempfile.TemporaryDirectory(prefix="triton-ab-") as scratch:
        work = Path(scratch)
        repo = work / "repository"
        build_repository(repository, repo, config_name, changes)
        http, grpc, metrics = free_port(), free_port(), free_port()
        proc = start_triton(repo, work, "127.0.0.1", http, grpc, metrics, work / "triton.log", config_name)
        try:
            _checks, config_json = servable_versions(repo / SIDE_B, config_name)
            load_model("127.0.0.1", http, SIDE_B, config_json, 120.0)
            latencies = asyncio.run(_drive(f"127.0.0.1:{grpc}", rate, seconds, windows, batch))
        finally:
            proc.stop()
    return {
        "changes": changes,
        "offered_requests_per_s": rate,
        "rows_per_request": batch,
        "windows_each": windows,
        "seconds_per_window": seconds,
        "A": {"requests": len(latencies["A"]), **percentiles(latencies["A"])},
        "B": {"requests": len(latencies["B"]), **percentiles(latencies["B"])},
    }


@click.command(name="triton-ab", help=__doc__.splitlines()[0])
@ab_options("a config.pbtxt field", "requests", seconds=5.0)
@click.option("--batch", type=int, default=1, show_default=True, help="rows per request")
@click.option(
    "--config-name", default="embedded", show_default=True, help="configs/<name>.pbtxt (embedded: the Python backend)"
)
@click.option(
    "--repository",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=REPO_ROOT / "model_repository",
    help="side A's model and config",
)
def command(
    changes: tuple[str, ...], rate: float, seconds: float, windows: int, batch: int, config_name: str, repository: Path
) -> int:
    fields = parse_changes(changes)
    result = run(fields, rate, seconds, windows, batch, repository, config_name)
    for line in side_lines(result, "as is", fields, "{requests} requests"):
        click.echo(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_command(command, prog_name="python -m operations.benchmarks.triton_ab"))
