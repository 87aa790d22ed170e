"""The congestion relief zone fee (from 2025-01-05) on trips we have, since no trip in the shared data carries it.

Real 2024 test trips are moved to February 2025 by whole weeks (weekday and hour kept), and every trip with an
end in the relief zone bills the tariff's fee under each convention a vendor may use: itemised in its own column;
also folded into `extra` by the vendors that fold the other per-trip charges; or in `extra` alone, the column at
$0, by those vendors. No convention may flag a trip the model left alone as it was: a charge the tariff allows is
never, by itself, the reason for a flag. This checks the tariff path, not how 2025 traffic looks (2025 trips may
differ in other ways).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np

from taxifraud import tariff
from taxifraud.wire import COLUMN_INDEX

#: The month the re-dated trips land in: the relief zone fee's first full month.
TARGET_MONTH = date(2025, 2, 1)
SOURCE_YEAR = 2024


def _col(rows: np.ndarray, name: str) -> np.ndarray:
    return rows[:, COLUMN_INDEX[name]]


def of_year(rows: np.ndarray, year: int) -> np.ndarray:
    """The rows picked up in ``year`` (by ``pickup_day``, days since the epoch)."""
    first = (date(year, 1, 1) - tariff.EPOCH).days
    last = (date(year + 1, 1, 1) - tariff.EPOCH).days
    day = _col(rows, "pickup_day")
    return rows[(day >= first) & (day < last)]


def ends_in(rows: np.ndarray, zones: tuple[int, ...]) -> np.ndarray:
    """Whether a trip's pickup or dropoff zone is one of ``zones``."""
    return np.isin(_col(rows, "pickup_location_id"), zones) | np.isin(_col(rows, "dropoff_location_id"), zones)


#: How a vendor other than 2 may bill the fee: (in its own column, in `extra`). Vendor 2 itemises it always.
CONVENTIONS: dict[str, tuple[bool, bool]] = {
    "fee in its own column": (True, False),
    "fee also folded into extra (vendors but 2)": (True, True),
    "fee in extra alone, its column $0 (vendors but 2)": (False, True),
}


def redated(rows: np.ndarray, fee: float, relief_zone: tuple[int, ...], convention: tuple[bool, bool]) -> np.ndarray:
    """``rows`` moved into the four weeks from ``TARGET_MONTH`` (whole weeks, so the weekday holds), the fee
    billed on a trip with an end in the relief zone and counted once in the total, where ``convention``
    (one of ``CONVENTIONS``) puts it for vendors other than 2."""
    out = rows.copy()
    target = (TARGET_MONTH - tariff.EPOCH).days
    day = _col(rows, "pickup_day")
    spread = (np.arange(len(rows)) % 4) * 7
    out[:, COLUMN_INDEX["pickup_day"]] = day + np.ceil((target - day) / 7.0) * 7.0 + spread
    in_column, in_extra = convention
    charged = np.where(ends_in(rows, relief_zone), fee, 0.0)
    folds = _col(rows, "vendor_id") != 2
    out[:, COLUMN_INDEX["cbd_congestion_fee"]] = np.where(in_column | ~folds, charged, 0.0)
    out[:, COLUMN_INDEX["extra"]] += np.where(in_extra & folds, charged, 0.0)
    out[:, COLUMN_INDEX["total_amount"]] += charged
    return out


def relief_zone_check(
    score: Callable[[np.ndarray], np.ndarray], negatives: np.ndarray, threshold: float, rates: tariff.Tariff
) -> dict[str, Any]:
    """FPR of the 2024 ordinary test trips as they were and re-dated under each convention, and how many trips
    each convention flags that were not flagged as they were."""
    rows = of_year(negatives, SOURCE_YEAR)
    fee = rates.period_on(TARGET_MONTH).amounts["cbd_congestion_fee"]
    zone = rates.zones["congestion_relief_zone"]
    before = score(rows) > threshold
    out: dict[str, Any] = {
        "n": len(rows),
        "fee": fee,
        "month": TARGET_MONTH.strftime("%Y-%m"),
        "in_zone": round(float(ends_in(rows, zone).mean()), 4) if len(rows) else 0.0,
        "fpr_as_they_were": round(float(before.mean()), 5) if len(rows) else float("nan"),
        "conventions": {},
    }
    for name, convention in CONVENTIONS.items():
        flagged = score(redated(rows, fee, zone, convention)) > threshold
        out["conventions"][name] = {
            "fpr": round(float(flagged.mean()), 5) if len(rows) else float("nan"),
            "newly_flagged": int((flagged & ~before).sum()),
        }
    return out
