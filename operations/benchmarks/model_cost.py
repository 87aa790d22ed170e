"""The model's cost before and after: CPU per row at batch 1,024 and per batch-1 call (in a loop and spaced out as in
service), ONNX Runtime, one thread.

The committed model (what Triton serves) against ``export/previous_model`` (the one it replaced), measured
with the model card's functions (:mod:`export.cost`: the calling thread's CPU over repeated calls, the least disturbed
window kept) on the bench's trips. Each model gets the input columns its own ``model_meta.json`` names, so a
previous model with other inputs is measured all the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np
import orjson

from export import cost
from taxifraud import wire
from taxifraud.click_main import run_command
from taxifraud.config import MODEL_NAME, REPO_ROOT

PREVIOUS = REPO_ROOT / "export" / "previous_model"


def select_columns(rows: np.ndarray, wanted: list[str]) -> np.ndarray:
    """The columns of wire-encoded ``rows`` a model reads, in its order (its ``model_meta.json``)."""
    index = {name: i for i, name in enumerate(wire.MODEL_INPUT_COLUMNS)}
    missing = [c for c in wanted if c not in index]
    if missing:
        raise ValueError(f"the wire encoding has no column(s) {missing}")
    return np.ascontiguousarray(rows[:, [index[c] for c in wanted]], dtype=np.float32)


def one_model(directory: Path, trips: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Both figures for the ``model.onnx`` in ``directory``, or the reason it could not be measured."""
    name = str(directory.relative_to(REPO_ROOT) if directory.is_relative_to(REPO_ROOT) else directory)
    try:
        columns = orjson.loads((directory / "model_meta.json").read_bytes())["input_columns"]
        rows = select_columns(wire.encode_rows(trips), columns)
        session = cost.session(directory / "model.onnx")
        row = cost.cpu_us_per_row(session, rows, cost.BATCH, seconds)
        call = cost.cpu_us_per_row(session, rows, 1, seconds)
        spaced = cost.cpu_us_per_spaced_call(session, rows)
    except Exception as exc:  # any model that cannot run here is reported, not fatal to the bench
        return {"model": name, "error": f"{type(exc).__name__}: {exc}"}
    return {
        "model": name,
        "inputs": len(columns),
        "row_us_at_1024": row,
        "call_us_at_1": call,
        "spaced_call_us_at_1": spaced,
    }


def measure(model_repository: Path, trips: list[dict[str, Any]], seconds: float = 2.0) -> dict[str, Any]:
    """``committed`` and ``previous`` figures and whether the committed model meets the goals."""
    committed = one_model(model_repository / MODEL_NAME / "1", trips, seconds)
    previous = one_model(PREVIOUS, trips, seconds)
    row, call = committed.get("row_us_at_1024"), committed.get("call_us_at_1")
    return {
        "committed": committed,
        "previous": previous,
        "goal_row_us": cost.GOAL_ROW_US,
        "goal_call_us": cost.GOAL_CALL_US,
        "spacing_ms": cost.SPACING_S * 1e3,
        "row_goal_met": None if row is None else row <= cost.GOAL_ROW_US,
        "call_goal_met": None if call is None else call <= cost.GOAL_CALL_US,
    }


@click.command(name="model-cost")
@click.argument("directories", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--seconds", type=float, default=2.0, show_default=True, help="measuring time per model, figure and round"
)
@click.option("--rounds", type=int, default=3, show_default=True, help="interleaved rounds; the best of them is shown")
def command(directories: tuple[Path, ...], seconds: float, rounds: int) -> int:
    """Both figures (us per row at batch 1,024, us per batch-1 call) for each version directory DIRECTORIES
    (holding model.onnx and model_meta.json), interleaved ROUNDS times so a busy machine weighs on every model
    alike (e.g. the committed model against a re-export)."""
    from operations.traffic import TripGenerator

    trips = list(TripGenerator.from_file(seed=3).trips(1024))  # the bench's trips
    figures: dict[Path, list[dict[str, Any]]] = {d: [] for d in directories}
    for _ in range(rounds):
        for directory in directories:
            figures[directory].append(one_model(directory.resolve(), trips, seconds))
    for directory, runs in figures.items():
        errors = [r["error"] for r in runs if "error" in r]
        if errors:
            click.echo(f"{directory}: {errors[0]}")
            continue
        row = min(r["row_us_at_1024"] for r in runs)
        call = min(r["call_us_at_1"] for r in runs)
        spaced = min(r["spaced_call_us_at_1"] for r in runs)
        click.echo(
            f"{directory}: {row:.2f} us per row at batch 1,024, {call:.1f} us per batch-1 call, {spaced:.1f} us per "
            f"batch-1 call {cost.SPACING_S * 1e3:.0f} ms apart (best of {len(runs)})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_command(command, prog_name="python -m operations.benchmarks.model_cost"))
