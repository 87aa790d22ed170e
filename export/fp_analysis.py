"""Where the false positives come from, and what a deciding rule's cut-off trades for them.

The model card reports FPR and recall per era; this module answers the next question, *which* feature or
rule raised each false alarm (a rule check that decides on its own, or the network's rarest feature), and
how FPR and per-family recall move when a deciding cut-off (``export.feature_specs.DECISIVE``) moves. The cuts
are model buffers applied after the network, so a trade curve needs no retraining; the calibrated threshold
is kept as it is, so the curve shows the cut's own effect.

``python -m export.fp_analysis --role test`` replays the evaluation's own split of the test months (the same
negatives and planted cases as the model card); ``--role validation`` uses validation months, where design
choices are meant to be compared.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

from export import data, scenarios
from export.calibrate import only_fields
from export.feature_specs import FEATURE_INDEX, FEATURE_NAMES, SEED_FIELDS
from export.model import DECIDED_SCORE, FraudAutoencoder, score_in_batches
from taxifraud.click_main import run_command


@dataclass(frozen=True)
class Attribution:
    """False alarms on ordinary trips split by what raised them (counts of trips)."""

    n: int
    flagged: int
    decided_by: dict[str, int]
    network_max: dict[str, int]

    @property
    def fpr(self) -> float:
        return self.flagged / self.n if self.n else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "fpr": round(self.fpr, 5),
            "decided": sum(self.decided_by.values()),
            "network": sum(self.network_max.values()),
            "decided_by": self.decided_by,
            "network_max": self.network_max,
        }


def attribute(
    scores: np.ndarray, errors: np.ndarray, threshold: float, names: Sequence[str] = FEATURE_NAMES
) -> Attribution:
    """Name the feature behind each flagged row: the deciding rule (score at the decided level) or the rarest one.

    A row a rule decides has that rule's error clamped to the decided rarity, so the row's largest error
    names the rule either way; the split tells a rule's cut-off from the network's threshold.
    """
    flagged = scores > threshold
    decided = scores >= DECIDED_SCORE
    top = errors.argmax(axis=1)
    by_rule: Counter[str] = Counter(names[k] for k in top[flagged & decided])
    by_net: Counter[str] = Counter(names[k] for k in top[flagged & ~decided])
    return Attribution(len(scores), int(flagged.sum()), dict(by_rule.most_common()), dict(by_net.most_common()))


@dataclass(frozen=True)
class EraCases:
    """Ordinary trips and planted fraud of one era."""

    negatives: np.ndarray
    fraud: np.ndarray
    family: np.ndarray


def evaluation_cases(summary: dict[str, Any], role: str, data_root: Path | None) -> dict[str, EraCases]:
    """The evaluation's split (same seed, same draw order as ``export.evaluate.run``) of a role's months."""
    from export.evaluate import BASE_SHARE, ERAS, FRAUD_PER_FAMILY

    rng = np.random.default_rng(int(summary["config"]["seed"]) + 7)
    raw = data.load_role(role, summary["months"][role], data_root)
    keep, _ = data.clean_mask(raw)
    clean, recent = raw.rows[keep], data.is_recent(raw)[keep]
    is_base = rng.random(len(clean)) < BASE_SHARE
    neg, base = clean[~is_base], clean[is_base]
    neg_recent, base_recent = recent[~is_base], recent[is_base]
    out = {}
    for era, in_base, in_neg in ((ERAS[0], ~base_recent, ~neg_recent), (ERAS[1], base_recent, neg_recent)):
        rows, fam = scenarios.build_fraud(base[in_base], FRAUD_PER_FAMILY, rng)
        out[era] = EraCases(neg[in_neg], rows, fam)
    return out


def with_cuts(model: FraudAutoencoder, cuts: dict[str, float]) -> torch.Tensor:
    """Set deciding cut-offs by feature name (in feature units); returns the previous cuts to restore."""
    previous = model.decisive_cut.clone()
    for name, value in cuts.items():
        model.decisive_cut[FEATURE_INDEX[name]] = float(value)
    return previous


def era_report(model: FraudAutoencoder, cases: EraCases) -> dict[str, Any]:
    """FPR with attribution, 3-field FPR and recall per family for one era at the model's threshold."""
    threshold = float(model.threshold)
    s_neg, e_neg = score_in_batches(model, cases.negatives)
    s_seed, _ = score_in_batches(model, only_fields(cases.negatives, SEED_FIELDS))
    s_pos, _ = score_in_batches(model, cases.fraud)
    recall = {
        scenarios.FAMILIES[i].name: round(float((s_pos[cases.family == i] > threshold).mean()), 4)
        for i in np.unique(cases.family)
    }
    return {
        "full": attribute(s_neg, e_neg, threshold).as_dict(),
        "seed_fpr": round(float((s_seed > threshold).mean()), 5),
        "recall": recall,
    }


def trade_curve(
    model: FraudAutoencoder, eras: dict[str, EraCases], settings: Sequence[dict[str, float]]
) -> list[dict[str, Any]]:
    """One era report per setting of the deciding cuts ({} = the model as trained), cuts restored after."""
    out = []
    for cuts in settings:
        previous = with_cuts(model, cuts)
        try:
            out.append({"cuts": cuts, "eras": {era: era_report(model, c) for era, c in eras.items()}})
        finally:
            model.decisive_cut.copy_(previous)
    return out


def command() -> click.Command:
    """``python -m export.fp_analysis``: the trade curve of the given cut settings, as JSON on stdout."""
    from export.train import DEFAULT_OUT

    @click.command("fp-analysis", help=__doc__.split("\n\n")[0])
    @click.option("--model-dir", type=click.Path(path_type=Path), default=DEFAULT_OUT, show_default=True)
    @click.option("--role", type=click.Choice(("test", "validation")), default="test", show_default=True)
    @click.option("--data-dir", type=click.Path(path_type=Path), help="shared data dir (default $TAXIFRAUD_DATA_DIR)")
    @click.option(
        "--cuts",
        default="[{}]",
        show_default=True,
        help="JSON list of settings, e.g. '[{}, {\"route_excess\": 3.0}]' (feature units)",
    )
    def fp_analysis(model_dir: Path, role: str, data_dir: Path | None, cuts: str) -> int:
        try:
            settings = json.loads(cuts)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--cuts") from exc
        sys.stdout.write(json.dumps(analyse(model_dir, role, data_dir, settings), indent=1) + "\n")
        return 0

    return fp_analysis


def analyse(
    model_dir: Path, role: str, data_dir: Path | None, settings: list[dict[str, float]]
) -> list[dict[str, Any]]:
    """Load the trained model in ``model_dir`` and run :func:`trade_curve` on the ``role`` months."""
    from export.train import load_state

    torch.set_num_threads(1)
    summary = json.loads((model_dir / "training.json").read_text())
    model = FraudAutoencoder(tuple(summary["config"]["hidden"]), int(summary["config"]["bottleneck"]))
    load_state(model, model_dir / "model_state.npz")
    model.eval()
    return trade_curve(model, evaluation_cases(summary, role, data_dir), settings)


def main(argv: list[str] | None = None) -> int:
    """``python -m export.fp_analysis``; returns the exit code."""
    return run_command(command(), argv, prog_name="python -m export.fp_analysis")


if __name__ == "__main__":
    raise SystemExit(main())
