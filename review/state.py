"""Pure: what the review service knows, the newest alerts and the latest label of each transaction, and
the quality figures computed from them.

Kept free of I/O (the follower thread feeds it, the page and ``/metrics`` read it) so that precision,
windows and replacement of labels are unit-tested without a broker. One lock guards it: the follower
writes a few records at a time, readers take a consistent snapshot.

Definitions (docs/observability.md):

* an alert is *labelled* when its transaction has a label; a later label replaces an earlier one;
* *labelled precision* over a window: alerts labelled ``fraud`` / all labelled alerts, counting the labels
  whose ``labelled_at`` lies in the window (``all``: every label);
* *unreviewed share*: tracked alerts without a label / tracked alerts;
* labels of transactions that are not among the tracked alerts (never alerted, or older than the
  ``REVIEW_MAX_ALERTS`` newest) are counted under family ``unknown`` and left out of precision.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from taxifraud.confusion import precision, share
from taxifraud.families import alert_family
from taxifraud.labels import LabelBook, LabelEntry
from taxifraud.verdicts import parse_rfc3339

#: Sliding windows of labelled precision: name -> length (None: every label).
WINDOWS: dict[str, timedelta | None] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "all": None,
}
UNKNOWN_FAMILY = "unknown"


@dataclass(frozen=True)
class Alert:
    """One alert as the page shows it."""

    transaction_id: str
    score: float
    threshold: float
    reasons: tuple[str, ...]
    family: str
    model_version: str
    scored_at: str
    transaction: Mapping[str, Any]

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Alert | None:
        """The alert in a ``fraud-alerts`` record, or None for a record that is not one."""
        tid = record.get("transaction_id")
        if not isinstance(tid, str) or not tid:
            return None
        reasons = tuple(str(r) for r in record.get("reasons") or ())
        try:
            score = float(record.get("score", 0.0))
            threshold = float(record.get("threshold", 0.0))
        except (TypeError, ValueError):
            return None
        tx = record.get("transaction")
        return cls(
            transaction_id=tid,
            score=score,
            threshold=threshold,
            reasons=reasons,
            family=alert_family(record),
            model_version=str(record.get("model_version", "")),
            scored_at=str(record.get("scored_at", "")),
            transaction=tx if isinstance(tx, Mapping) else {},
        )


@dataclass(frozen=True)
class Row:
    alert: Alert
    label: LabelEntry | None


@dataclass(frozen=True)
class LabelQuality:
    """The quality of the alerts as analysts' labels show it, at one moment (the page and the gauges)."""

    tracked_alerts: int
    unreviewed_alerts: int
    #: (label, family) -> labelled transactions
    labelled: dict[tuple[str, str], int]
    #: window -> (alerts labelled fraud, alerts labelled) among labels in that window
    windows: dict[str, tuple[int, int]]
    #: model version -> (flagged labelled transactions labelled fraud, flagged labelled transactions): the live
    #: versions from the alerts, a shadow version from its verdicts of the same transactions
    versions: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)

    @property
    def unreviewed_share(self) -> float | None:
        return share(self.unreviewed_alerts, self.tracked_alerts)

    def precision(self, window: str = "all") -> float | None:
        fraud, total = self.windows[window]
        return precision(fraud, total - fraud)

    def version_precision(self, version: str) -> float | None:
        fraud, total = self.versions[version]
        return precision(fraud, total - fraud)


class ReviewState:
    """The newest ``max_alerts`` alerts and every label; thread-safe."""

    def __init__(self, max_alerts: int) -> None:
        self.max_alerts = max_alerts
        self._alerts: collections.OrderedDict[str, Alert] = collections.OrderedDict()
        self._labels = LabelBook()
        #: shadow verdicts that flag the transaction or shadow a live alert: transaction -> (version, flagged)
        self._shadow: collections.OrderedDict[str, tuple[str, bool]] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.alerts_read = 0
        self.labels_read = 0

    def add_alert(self, record: Mapping[str, Any]) -> Alert | None:
        alert = Alert.from_record(record)
        if alert is None:
            return None
        with self._lock:
            self.alerts_read += 1
            self._alerts.pop(alert.transaction_id, None)  # a replayed duplicate moves to the front
            self._alerts[alert.transaction_id] = alert
            while len(self._alerts) > self.max_alerts:
                self._alerts.popitem(last=False)
        return alert

    def add_shadow(self, record: Mapping[str, Any]) -> bool | None:
        """A ``fraud-verdicts-shadow`` record; kept only where it flags or the live version flagged (what
        analysts label). Returns whether it was kept, None for a record that is not a verdict."""
        tid, version = record.get("transaction_id"), record.get("model_version")
        if not isinstance(tid, str) or not isinstance(version, str):
            return None
        flagged = bool(record.get("is_fraud"))
        if not flagged and not record.get("live_is_fraud"):
            return False
        with self._lock:
            self._shadow.pop(tid, None)
            self._shadow[tid] = (version, flagged)
            while len(self._shadow) > 2 * self.max_alerts:
                self._shadow.popitem(last=False)
        return True

    def add_label(self, record: Mapping[str, Any]) -> LabelEntry | None:
        with self._lock:
            entry = self._labels.add(record)
            if entry is not None:
                self.labels_read += 1
            return entry

    def label_of(self, transaction_id: str) -> LabelEntry | None:
        with self._lock:
            return self._labels.get(transaction_id)

    def rows(self, family: str | None = None, status: str = "all", limit: int = 50) -> list[Row]:
        """Newest first; ``status``: ``all``, ``unreviewed`` or ``labelled``."""
        out: list[Row] = []
        with self._lock:
            for alert in reversed(self._alerts.values()):
                if family and alert.family != family:
                    continue
                label = self._labels.get(alert.transaction_id)
                if (status == "unreviewed" and label is not None) or (status == "labelled" and label is None):
                    continue
                out.append(Row(alert, label))
                if len(out) >= limit:
                    break
        return out

    def families(self) -> dict[str, int]:
        """Tracked alerts per reason family, most frequent first."""
        with self._lock:
            counts = collections.Counter(a.family for a in self._alerts.values())
        return dict(counts.most_common())

    def quality(self, now: datetime | None = None) -> LabelQuality:
        now = now or datetime.now(timezone.utc)
        starts = {name: (now - length if length is not None else None) for name, length in WINDOWS.items()}
        labelled: collections.Counter[tuple[str, str]] = collections.Counter()
        windows = {name: [0, 0] for name in WINDOWS}
        versions: dict[str, list[int]] = {}
        with self._lock:
            tracked = len(self._alerts)
            reviewed = 0
            for tid, entry in self._labels.items():
                shadow = self._shadow.get(tid)
                if shadow is not None and shadow[1]:
                    counts = versions.setdefault(shadow[0], [0, 0])
                    counts[0] += entry.label == "fraud"
                    counts[1] += 1
                alert = self._alerts.get(tid)
                labelled[(entry.label, alert.family if alert else UNKNOWN_FAMILY)] += 1
                if alert is None:
                    continue
                reviewed += 1
                counts = versions.setdefault(alert.model_version, [0, 0])
                counts[0] += entry.label == "fraud"
                counts[1] += 1
                try:
                    at = parse_rfc3339(entry.labelled_at)
                except ValueError:
                    continue
                for name, start in starts.items():
                    if start is None or at >= start:
                        windows[name][1] += 1
                        windows[name][0] += entry.label == "fraud"
        return LabelQuality(
            tracked_alerts=tracked,
            unreviewed_alerts=tracked - reviewed,
            labelled=dict(labelled),
            windows={name: (f, t) for name, (f, t) in windows.items()},
            versions={v: (f, t) for v, (f, t) in versions.items()},
        )
