"""Pure: the review page as server-rendered HTML from the Jinja2 templates in ``review/templates`` (no CDN,
no framework: it must work with no internet; the style and the script are inlined from files beside them).

Keyboard use: every action is a real ``<button>`` in a ``<form>`` (Tab and Enter work everywhere), and a
few lines of inline script (``templates/review.js``) add shortcuts: ``j``/``k`` move between alerts, ``f``
confirms fraud, ``l`` marks a false alarm, on the selected alert. Everything the script does also works
without it. Autoescaping is on for every template: alert fields come from the wire.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from review.state import WINDOWS, LabelQuality, Row

STATUSES = ("unreviewed", "all", "labelled")


def _fmt(value: Any, unit: str = "", money: bool = False) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    return f"${value:,.2f}" if money else f"{value:,.2f}{unit}"


def trip_summary(tx: Mapping[str, Any]) -> str:
    """The few trip fields an analyst reads first."""
    parts = [
        f"{_fmt(tx.get('trip_distance'), ' mi')}",
        f"{_fmt(tx.get('duration_minutes'), ' min')}",
        f"fare {_fmt(tx.get('fare_amount'), money=True)}",
    ]
    for name, field in (("tip", "tip_amount"), ("tolls", "tolls_amount"), ("total", "total_amount")):
        if tx.get(field) is not None:
            parts.append(f"{name} {_fmt(tx.get(field), money=True)}")
    pu, do = tx.get("pickup_location_id"), tx.get("dropoff_location_id")
    if pu is not None or do is not None:
        parts.append(f"zones {pu if pu is not None else '?'}→{do if do is not None else '?'}")
    if tx.get("pickup_datetime"):
        parts.append(str(tx["pickup_datetime"]))
    return " · ".join(parts)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _link(family: str | None, status: str) -> str:
    query = {k: v for k, v in (("family", family), ("status", status)) if v}
    return "/?" + urlencode(query) if query else "/"


_TEMPLATES = Environment(
    loader=PackageLoader("review", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
_TEMPLATES.filters["pct"] = _pct
_TEMPLATES.globals.update(link=_link, trip_summary=trip_summary, windows=tuple(WINDOWS), statuses=STATUSES)


def render_page(
    rows: list[Row],
    quality: LabelQuality,
    families: Mapping[str, int],
    family: str | None,
    status: str,
    message: str | None = None,
) -> str:
    """The whole page: quality figures, filters, the alerts table with a label form per alert."""
    return _TEMPLATES.get_template("page.html").render(
        rows=rows,
        quality=quality,
        families=families,
        family=family,
        status=status,
        message=message,
        back=_link(family, status),
    )


def render_error(status: int, detail: str) -> str:
    return _TEMPLATES.get_template("error.html").render(status=status, detail=detail)
