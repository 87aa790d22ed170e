"""The false-positive attribution: which rule or feature raised each false alarm, and cut-offs restored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from export.feature_specs import DECISIVE, FEATURE_INDEX
from export.fp_analysis import attribute, main, with_cuts
from export.model import DECIDED_SCORE, FraudAutoencoder

NAMES = ("fare", "extra_rule", "tolls")


def test_attribution_splits_rule_decided_from_network_flags() -> None:
    scores = np.array([0.2, DECIDED_SCORE, DECIDED_SCORE, 3.0, 1.5, 0.9])
    errors = np.array(
        [
            [0.1, 0.0, 0.0],
            [0.0, 50.0, 2.0],  # decided by the rule: its error is clamped to the decided rarity
            [1.0, 50.0, 0.0],
            [4.0, 0.0, 1.0],  # the network: fare is the rarest feature
            [0.0, 0.5, 3.0],
            [2.0, 0.0, 0.0],  # below the threshold: not a false alarm
        ]
    )
    got = attribute(scores, errors, threshold=1.0, names=NAMES)
    assert got.flagged == 4
    assert got.fpr == 4 / 6
    assert got.decided_by == {"extra_rule": 2}
    assert got.network_max == {"fare": 1, "tolls": 1}
    assert got.as_dict()["decided"] == 2 and got.as_dict()["network"] == 2


def test_no_flags_no_attribution() -> None:
    got = attribute(np.zeros(3), np.ones((3, 3)), threshold=1.0, names=NAMES)
    assert (got.flagged, got.decided_by, got.network_max) == (0, {}, {})


def test_with_cuts_sets_by_name_and_returns_the_previous_cuts() -> None:
    model = FraudAutoencoder((8, 8), 4)
    k = FEATURE_INDEX["route_excess"]
    previous = with_cuts(model, {"route_excess": 3.0})
    assert float(model.decisive_cut[k]) == 3.0
    assert float(previous[k]) == DECISIVE["route_excess"]
    model.decisive_cut.copy_(previous)
    assert torch.equal(model.decisive_cut, previous)


def test_command_line_help_and_a_clear_error_on_bad_cuts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "Usage: python -m export.fp_analysis" in capsys.readouterr().out
    assert main(["--cuts", "[{"]) == 2
    assert "Invalid value for --cuts: not JSON" in capsys.readouterr().err
