"""How a bench figure is looked up in the results document and written in a report: a missing or NaN
figure reads "n/a" everywhere, so no section invents a number.
"""

from __future__ import annotations

import math
from typing import Any


def dig(d: dict[str, Any], *path: str) -> Any:
    """``d[path[0]][path[1]]...``, or None where any step is missing."""
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    """A figure with thousands separators and ``digits`` decimals; "n/a" for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value}{unit}"
