"""Pure: the reason families of a verdict or alert record, read from its structured reasons
(``"reason_details": [{"family", "text", "evidence"}]``), so no reader re-derives a family from the words.

The review page (its filters and gauges) and the demo's verdict collector take families only through
these two functions. A record without structured reasons (written by an older release) counts as
``other``: its words are never parsed back into a family.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The family of a reason that names none, and of an alert without reasons.
OTHER = "other"


def reason_families(record: Mapping[str, Any]) -> list[str]:
    """The family of each reason of ``record``, in order."""
    details = record.get("reason_details")
    if isinstance(details, list) and details:
        return [str(d.get("family") or OTHER) if isinstance(d, Mapping) else OTHER for d in details]
    return [OTHER for _ in record.get("reasons") or ()]


def alert_family(record: Mapping[str, Any]) -> str:
    """The family an alert is filed under: that of its first (strongest) reason."""
    families = reason_families(record)
    return families[0] if families else OTHER
