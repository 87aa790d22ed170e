"""The model card is a template rendered from the committed evaluation: the same card, byte for byte.

MODEL_CARD.md is committed beside ``evaluation.json`` and ``model_meta.json``; rendering the template
(``export/templates/model_card.md.j2``) from those two files must give the committed card back, so a change
to the template's words shows here, and ``taxifraud export --card-only`` rewrites the card without training.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from export import report
from operations import cli

MODEL_DIR = Path(__file__).resolve().parents[2] / "model_repository" / "fraud_autoencoder"


@pytest.fixture(scope="module")
def committed() -> tuple[dict[str, Any], dict[str, Any]]:
    results = json.loads((MODEL_DIR / "evaluation.json").read_text())
    return results, json.loads((MODEL_DIR / "1" / "model_meta.json").read_text())


def test_rendered_card_is_the_committed_card(committed: tuple[dict[str, Any], dict[str, Any]]) -> None:
    results, meta = committed
    assert report.render_model_card(results, meta) == (MODEL_DIR / "MODEL_CARD.md").read_text()


def test_sections_follow_the_evaluation(committed: tuple[dict[str, Any], dict[str, Any]]) -> None:
    results, meta = committed
    results = copy.deepcopy(results)
    results["parity"] = {}
    results.pop("eras")
    card = report.render_model_card(results, meta)
    assert "## Parity\n\nNot run for this export.\n\n## Plots" in card
    assert "### Both eras" not in card and "### Per fraud family" in card


def test_export_card_only_rewrites_the_card_from_the_evaluation(tmp_path: Path) -> None:
    model_dir = tmp_path / "fraud_autoencoder"
    (model_dir / "1").mkdir(parents=True)
    shutil.copy(MODEL_DIR / "evaluation.json", model_dir)
    shutil.copy(MODEL_DIR / "1" / "model_meta.json", model_dir / "1")
    assert cli.main(["export", "--card-only", "--repository", str(tmp_path)]) == 0
    assert (model_dir / "MODEL_CARD.md").read_text() == (MODEL_DIR / "MODEL_CARD.md").read_text()
