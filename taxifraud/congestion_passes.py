"""The zone pairs whose trips pass through the congestion zone often enough that its surcharge may apply.

The graph learns each zone pair's pass rate from trips and lets `extra` hold the congestion surcharge on a
pair that passes at least ``PASS_RATE_FLOOR`` of the time, even with no end in the zone. The reasons must
allow the same, so the export writes that set into ``model_meta.json``: one bit per (pickup, dropoff) slot,
a row of hex per pickup slot (about 19 kB), read back here without the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from taxifraud.tariff import N_ZONE_SLOTS as N_SLOTS

#: The key in ``model_meta.json``.
META_KEY = "congestion_pass_pairs"


class PassesError(ValueError):
    """The document is not a bit matrix of N_SLOTS x N_SLOTS zone slots."""


@dataclass(frozen=True)
class CongestionPasses:
    """Bit (pickup slot, dropoff slot): trips of that pair pass through the congestion zone often enough."""

    bits: np.ndarray  # bool [N_SLOTS, N_SLOTS]

    def passes(self, pickup: int, dropoff: int) -> bool:
        """Whether the pair's trips may pass through the zone; slots outside 0..265 never do."""
        if not (0 <= pickup < N_SLOTS and 0 <= dropoff < N_SLOTS):
            return False
        return bool(self.bits[pickup, dropoff])

    def to_doc(self) -> dict[str, Any]:
        packed = np.packbits(self.bits.astype(np.uint8), axis=1)
        return {"slots": N_SLOTS, "rows_hex": [row.tobytes().hex() for row in packed]}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> CongestionPasses:
        if not isinstance(doc, dict):
            raise PassesError(f"{META_KEY}: expected an object, got {type(doc).__name__}")
        rows = doc.get("rows_hex")
        if doc.get("slots") != N_SLOTS or not isinstance(rows, list) or len(rows) != N_SLOTS:
            raise PassesError(f"{META_KEY}: expected 'slots': {N_SLOTS} and {N_SLOTS} rows of hex")
        try:
            packed = np.stack([np.frombuffer(bytes.fromhex(row), dtype=np.uint8) for row in rows])
        except (TypeError, ValueError) as exc:
            raise PassesError(f"{META_KEY}: a row is not hex of one width: {exc}") from exc
        bits = np.unpackbits(packed, axis=1)
        if bits.shape[1] < N_SLOTS:
            raise PassesError(f"{META_KEY}: rows hold {bits.shape[1]} bits, fewer than {N_SLOTS}")
        return cls(bits[:, :N_SLOTS].astype(bool))

    @classmethod
    def from_flat(cls, flags: np.ndarray) -> CongestionPasses:
        """From the graph's pair-indexed flags (``pickup * N_SLOTS + dropoff``)."""
        return cls(np.asarray(flags, dtype=bool).reshape(N_SLOTS, N_SLOTS))
