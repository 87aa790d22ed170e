"""Do the reasons state the amounts the graph judged? Counted on a role's months, ordinary and planted rows.

The reasons for the total and for `extra` mirror the graph's conventions by hand (``taxifraud.charge_reasons``),
and the property tests hold them together on generated records. This counts the same agreement on real rows:
every row where the graph leaves some of the total or of `extra` unexplained, with the committed metadata (the
zone pairs that pass through the congestion zone included), as the served reasons read it.

``python -m export.reason_agreement --role test`` prints JSON: per era and check, the rows with an amount left
unexplained, how many reasons state an amount, and how many state the graph's to the cent.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

from export.feature_specs import FEATURE_INDEX
from export.fp_analysis import evaluation_cases
from export.model import FraudAutoencoder
from taxifraud import tariff
from taxifraud.charge_reasons import surcharge_reason, total_gap
from taxifraud.click_main import run_command
from taxifraud.config import REPO_ROOT
from taxifraud.congestion_passes import CongestionPasses
from taxifraud.model_meta import ModelMeta
from taxifraud.reason_row import congestion_passes_of, tariff_of, unslog

_EXTRA_STATED = re.compile(r"is \$([\d,.]+) (more|less) than the tariff's surcharges")
#: Below this a residual is a rounding of cents, not an amount a reason states.
CENT = 0.005


def graph_amounts(model: FraudAutoencoder, rows: np.ndarray, feature: str) -> np.ndarray:
    """The graph's value of one dollar feature per row (NaN where it is not computable)."""
    with torch.no_grad():
        feats, mask, _ = model.features(torch.from_numpy(rows.astype(np.float32)))
    k = FEATURE_INDEX[feature]
    values = np.array([unslog(float(v)) for v in feats[:, k].numpy()])
    return np.where(mask[:, k].numpy(), values, np.nan)


def stated_extra(row: np.ndarray, t: tariff.Tariff, passes: CongestionPasses | None) -> float | None:
    """The signed amount the `extra` reason states beyond (or short of) the surcharges; None if it states none."""
    found = _EXTRA_STATED.search(surcharge_reason(row, {}, "extra_vs_tariff", t, passes))
    if found is None:
        return None
    return float(found.group(1).replace(",", "")) * (1.0 if found.group(2) == "more" else -1.0)


def agreement(
    model: FraudAutoencoder, rows: np.ndarray, t: tariff.Tariff, passes: CongestionPasses | None
) -> dict[str, dict[str, int]]:
    """Rows with an amount left unexplained, reasons stating an amount, and those stating the graph's."""
    out = {}
    checks = {
        "total": ("total_gap", lambda row: gap.gap if (gap := total_gap(row, t)) is not None else None),
        "extra": ("extra_vs_tariff", lambda row: stated_extra(row, t, passes)),
    }
    for check, (feature, stated_of) in checks.items():
        judged = graph_amounts(model, rows, feature)
        left = np.flatnonzero(np.abs(np.nan_to_num(judged)) > CENT)
        stated = [stated_of(rows[i]) for i in left]
        agree = sum(s is not None and abs(s - judged[i]) < 0.011 for s, i in zip(stated, left, strict=True))
        out[check] = {"unexplained": len(left), "stated": sum(s is not None for s in stated), "agree": int(agree)}
    return out


def measure(model_dir: Path, role: str, data_dir: Path | None) -> dict[str, Any]:
    from export.train import load_state

    torch.set_num_threads(1)
    summary = json.loads((model_dir / "training.json").read_text())
    model = FraudAutoencoder(tuple(summary["config"]["hidden"]), int(summary["config"]["bottleneck"]))
    load_state(model, model_dir / "model_state.npz")
    model.eval()
    meta = ModelMeta.load(REPO_ROOT / "model_repository")
    t = tariff_of(meta)
    if t is None:
        raise click.ClickException("the committed model_meta.json carries no readable tariff")
    passes = congestion_passes_of(meta)
    result = {}
    for era, cases in evaluation_cases(summary, role, data_dir).items():
        result[era] = agreement(model, np.concatenate([cases.negatives, cases.fraud]), t, passes)
    return {"role": role, "model_version": meta.model_version, "eras": result}


def command() -> click.Command:
    from export.train import DEFAULT_OUT

    @click.command("reason-agreement", help=__doc__.split("\n\n")[0])
    @click.option("--model-dir", type=click.Path(path_type=Path), default=DEFAULT_OUT, show_default=True)
    @click.option("--role", type=click.Choice(("test", "validation")), default="test", show_default=True)
    @click.option("--data-dir", type=click.Path(path_type=Path), help="shared data dir (default $TAXIFRAUD_DATA_DIR)")
    def reason_agreement(model_dir: Path, role: str, data_dir: Path | None) -> int:
        sys.stdout.write(json.dumps(measure(model_dir, role, data_dir), indent=1) + "\n")
        return 0

    return reason_agreement


def main(argv: list[str] | None = None) -> int:
    """``python -m export.reason_agreement``; returns the exit code."""
    return run_command(command(), argv, prog_name="python -m export.reason_agreement")


if __name__ == "__main__":
    raise SystemExit(main())
