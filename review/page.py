"""Pure: the review page as server-rendered HTML (no CDN, no framework: it must work with no internet).

Keyboard use: every action is a real ``<button>`` in a ``<form>`` (Tab and Enter work everywhere), and a
few lines of inline script add shortcuts: ``j``/``k`` move between alerts, ``f`` confirms fraud, ``l``
marks a false alarm, on the selected alert. Everything the script does also works without it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from html import escape
from typing import Any
from urllib.parse import urlencode

from review.state import WINDOWS, Quality, Row

STATUSES = ("unreviewed", "all", "labelled")

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1b1b;background:#fafafa}
h1{font-size:1.4rem;margin:0 0 .5rem}
.quality{display:flex;gap:1rem;flex-wrap:wrap;margin:.5rem 0 1rem}
.quality div{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5rem .8rem}
.quality b{display:block;font-size:1.3rem}
nav a{margin-right:.6rem}
nav a[aria-current]{font-weight:bold;text-decoration:none;color:#1b1b1b}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e3e3e3;padding:.35rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
tr.selected{outline:3px solid #2b6cb0}
td.reasons ul{margin:0;padding-left:1rem}
.fraud{color:#9b1c1c;font-weight:bold}.legit{color:#22543d;font-weight:bold}
button{font-size:.85rem;padding:.25rem .5rem;margin:.1rem;cursor:pointer}
button:focus{outline:3px solid #2b6cb0}
.help{color:#555;font-size:.85rem}
"""

_SCRIPT = """
(function(){
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr.alert'));
  var at = 0;
  function select(i){
    if(!rows.length) return;
    rows[at].classList.remove('selected');
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows[at].classList.add('selected');
    rows[at].scrollIntoView({block:'nearest'});
  }
  select(0);
  document.addEventListener('keydown', function(e){
    if(e.target.tagName === 'INPUT' || e.ctrlKey || e.metaKey || e.altKey || !rows.length) return;
    if(e.key === 'j') select(at + 1);
    else if(e.key === 'k') select(at - 1);
    else if(e.key === 'f') rows[at].querySelector('button[value=fraud]').click();
    else if(e.key === 'l') rows[at].querySelector('button[value=legit]').click();
    else return;
    e.preventDefault();
  });
})();
"""


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


def render_page(
    rows: list[Row],
    quality: Quality,
    families: Mapping[str, int],
    family: str | None,
    status: str,
    message: str | None = None,
) -> str:
    """The whole page: quality figures, filters, the alerts table with a label form per alert."""
    back = _link(family, status)
    windows = "".join(
        f"<div><span>labelled precision, {escape(name)}</span><b data-window='{escape(name)}'>"
        f"{_pct(quality.precision(name))}</b><span>{quality.windows[name][0]} of {quality.windows[name][1]}"
        " confirmed</span></div>"
        for name in WINDOWS
    )
    unreviewed = (
        f"<div><span>unreviewed</span><b id='unreviewed'>{_pct(quality.unreviewed_share)}</b>"
        f"<span>{quality.unreviewed_alerts} of {quality.tracked_alerts} alerts</span></div>"
    )
    fam_links = [
        f"<a href='{escape(_link(None, status))}'{' aria-current=page' if not family else ''}>all families</a>"
    ]
    for name, count in families.items():
        current = " aria-current=page" if name == family else ""
        fam_links.append(f"<a href='{escape(_link(name, status))}'{current}>{escape(name)} ({count})</a>")
    status_links = [
        f"<a href='{escape(_link(family, s))}'{' aria-current=page' if s == status else ''}>{s}</a>" for s in STATUSES
    ]
    body_rows = "".join(_row(row, back) for row in rows) or (
        "<tr><td colspan='7'>No alerts match. New alerts appear here as the pipeline flags them "
        "(<a href='" + escape(back) + "'>refresh</a>).</td></tr>"
    )
    note = f"<p role='status' id='message'>{escape(message)}</p>" if message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>taxifraud: alert review</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body>
<h1>Fraud alerts to review</h1>
<section class="quality" aria-label="label quality">{windows}{unreviewed}</section>
{note}
<nav aria-label="reason family">{" ".join(fam_links)}</nav>
<nav aria-label="review status">{" ".join(status_links)} · <a href="{escape(back)}">refresh</a></nav>
<p class="help">Keys: <kbd>j</kbd>/<kbd>k</kbd> next/previous alert, <kbd>f</kbd> confirmed fraud,
<kbd>l</kbd> false alarm; or Tab to a button and press Enter.</p>
<table><thead><tr><th>scored at</th><th>transaction</th><th>trip</th><th>score / threshold</th>
<th>reasons</th><th>label</th><th>review</th></tr></thead>
<tbody>{body_rows}</tbody></table>
<script>{_SCRIPT}</script>
</body></html>
"""


def _row(row: Row, back: str) -> str:
    a = row.alert
    tid = escape(a.transaction_id)
    reasons = "".join(f"<li>{escape(r)}</li>" for r in a.reasons) or "<li>-</li>"
    if row.label is None:
        label = "<span>unreviewed</span>"
    else:
        who = f" by {escape(row.label.analyst)}" if row.label.analyst else ""
        text = "confirmed fraud" if row.label.label == "fraud" else "false alarm"
        label = f"<span class='{row.label.label}'>{text}</span>{who}"
    return f"""<tr class="alert" data-transaction-id="{tid}" data-family="{escape(a.family)}">
<td>{escape(a.scored_at)}</td><td><code>{tid}</code><br><small>model {escape(a.model_version)}</small></td>
<td>{escape(trip_summary(a.transaction))}</td><td>{a.score:.3f} / {a.threshold:.3f}</td>
<td class="reasons"><ul>{reasons}</ul></td><td class="label">{label}</td>
<td><form method="post" action="/label">
<input type="hidden" name="transaction_id" value="{tid}"><input type="hidden" name="back" value="{escape(back)}">
<button type="submit" name="label" value="fraud">Confirmed fraud</button>
<button type="submit" name="label" value="legit">False alarm</button>
</form></td></tr>
"""


def render_error(status: int, detail: str) -> str:
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{status}</title></head>"
        f"<body><h1>Label not stored ({status})</h1><p>{escape(detail)}</p><p><a href='/'>back</a></p></body></html>"
    )
