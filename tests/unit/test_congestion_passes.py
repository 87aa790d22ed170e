"""The pass-through zone pairs travel in ``model_meta.json`` as JSON and come back bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from taxifraud.congestion_passes import N_SLOTS, CongestionPasses, PassesError


def test_a_bit_matrix_comes_back_bit_for_bit_through_json() -> None:
    bits = np.random.default_rng(3).random((N_SLOTS, N_SLOTS)) < 0.3
    doc = json.loads(json.dumps(CongestionPasses.from_flat(bits.ravel()).to_doc()))
    back = CongestionPasses.from_doc(doc)
    assert np.array_equal(back.bits, bits)
    pu, do = map(int, np.argwhere(bits)[0])
    assert back.passes(pu, do)
    pu, do = map(int, np.argwhere(~bits)[0])
    assert not back.passes(pu, do)


def test_a_slot_outside_the_matrix_never_passes() -> None:
    passes = CongestionPasses(np.ones((N_SLOTS, N_SLOTS), dtype=bool))
    assert passes.passes(0, N_SLOTS - 1)
    assert not passes.passes(N_SLOTS, 1)
    assert not passes.passes(1, -1)


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ([], "expected an object"),
        ({"slots": 265, "rows_hex": ["00"] * 265}, "expected 'slots': 266"),
        ({"slots": N_SLOTS, "rows_hex": ["zz"] * N_SLOTS}, "not hex"),
        ({"slots": N_SLOTS, "rows_hex": ["00"] * N_SLOTS}, "fewer than 266"),
    ],
    ids=["not-an-object", "wrong-size", "not-hex", "too-narrow"],
)
def test_a_malformed_document_is_refused_with_the_key(doc: object, says: str) -> None:
    with pytest.raises(PassesError, match="congestion_pass_pairs") as caught:
        CongestionPasses.from_doc(doc)  # type: ignore[arg-type]
    assert says in str(caught.value)
