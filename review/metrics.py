"""The review service's Prometheus metrics, computed from :class:`review.state.ReviewState` at each scrape.

Gauges rather than counters because a later label replaces an earlier one: a corrected label must stop
counting, which a counter cannot express. Names are part of the contract in docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from review.state import WINDOWS, ReviewState


class QualityCollector(Collector):
    """``review_*`` gauges: labelled alerts by label and family, precision per window, unreviewed share."""

    def __init__(self, state: ReviewState) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        q = self.state.quality()
        labelled = GaugeMetricFamily(
            "review_labelled_alerts",
            "Labelled transactions by label and reason family of their alert (unknown: not a tracked alert)",
            labels=["label", "family"],
        )
        for (label, family), count in sorted(q.labelled.items()):
            labelled.add_metric([label, family], count)
        yield labelled
        precision = GaugeMetricFamily(
            "review_label_precision",
            "Alerts labelled fraud / alerts labelled, over labels given within the window (absent: none)",
            labels=["window"],
        )
        in_window = GaugeMetricFamily(
            "review_labelled_alerts_in_window", "Alerts labelled within the window", labels=["window"]
        )
        for name in WINDOWS:
            in_window.add_metric([name], q.windows[name][1])
            window_precision = q.precision(name)
            if window_precision is not None:
                precision.add_metric([name], window_precision)
        yield precision
        yield in_window
        by_version = GaugeMetricFamily(
            "review_version_precision",
            "Per model version: its flagged labelled transactions labelled fraud / its flagged labelled transactions"
            " (live versions from the alerts, a shadow version from its verdicts)",
            labels=["version"],
        )
        labelled_by_version = GaugeMetricFamily(
            "review_version_labelled", "Per model version: flagged transactions that have a label", labels=["version"]
        )
        for version, (_, total) in sorted(q.versions.items()):
            labelled_by_version.add_metric([version], total)
            version_precision = q.version_precision(version)
            if version_precision is not None:
                by_version.add_metric([version], version_precision)
        yield by_version
        yield labelled_by_version
        yield GaugeMetricFamily("review_alerts_tracked", "Alerts held by the review service", value=q.tracked_alerts)
        unreviewed = GaugeMetricFamily(
            "review_alerts_unreviewed_ratio", "Share of tracked alerts without a label (absent: no alerts)"
        )
        if q.unreviewed_share is not None:
            unreviewed.add_metric([], q.unreviewed_share)
        yield unreviewed
