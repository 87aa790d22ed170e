"""Where the time goes: per-span p50/p99 from the services' Prometheus span histograms over one window.

The gateway exports ``gateway_span_seconds{span=...}`` and the consumer ``consumer_span_seconds{span=...}``
(one histogram, one label value per span). Scraping every service before and after a measured window and
taking quantiles of the bucket deltas gives the distribution of just that window. Spans are read by name:
a build that does not export one yet shows it as absent instead of failing the bench.
"""

from __future__ import annotations

import math
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from operations.benchmarks import promtext
from operations.stack import Stack

#: The span histograms read, and their label naming the span.
SPAN_METRICS = ("gateway_span_seconds", "consumer_span_seconds")
SPAN_LABEL = "span"

#: Histograms of today's consumer shown beside the spans (whole-path figures, not spans).
CONSUMER_TOTALS = ("consumer_processing_seconds", "consumer_triton_request_duration_seconds")

Snapshot = dict[str, dict[str, promtext.Buckets]]  # "metric/span" -> {upper bound: cumulative count}


def histograms_by_label(text: str, name: str, label: str) -> dict[str, promtext.Buckets]:
    """Cumulative buckets of histogram ``name`` per value of ``label`` (other labels summed)."""
    out: dict[str, promtext.Buckets] = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name != f"{name}_bucket" or label not in sample.labels:
                continue
            buckets = out.setdefault(sample.labels[label], {})
            le = float(sample.labels["le"])
            buckets[le] = buckets.get(le, 0.0) + sample.value
    return out


def snapshot(texts: list[str]) -> Snapshot:
    """Every span (and consumer total) histogram in the scraped ``texts``, summed over the services."""
    out: Snapshot = {}
    for text in texts:
        for metric in SPAN_METRICS:
            for span, buckets in histograms_by_label(text, metric, SPAN_LABEL).items():
                _add(out.setdefault(metric, {}), span, buckets)
        for metric in CONSUMER_TOTALS:
            buckets = promtext.histogram_buckets(text, metric)
            if buckets:
                _add(out.setdefault(metric, {}), "all", buckets)
    return out


def _add(into: dict[str, promtext.Buckets], key: str, buckets: promtext.Buckets) -> None:
    target = into.setdefault(key, {})
    for le, value in buckets.items():
        target[le] = target.get(le, 0.0) + value


def breakdown(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """p50/p99 (ms) and sample count of every histogram over the window between two snapshots.

    Span metrics missing from ``after`` are listed as ``"absent"``, so the report can say so.
    """
    out: dict[str, Any] = {}
    for metric in (*SPAN_METRICS, *CONSUMER_TOTALS):
        series = after.get(metric)
        if not series:
            out[metric] = "absent"
            continue
        out[metric] = {}
        for key, buckets in sorted(series.items()):
            window = promtext.delta(buckets, before.get(metric, {}).get(key, {}))
            count = max(window.values(), default=0.0)
            out[metric][key] = {
                "count": int(count),
                "p50_ms": promtext.quantile(window, 0.5) * 1e3,
                "p99_ms": promtext.quantile(window, 0.99) * 1e3,
            }
    return out


def bottleneck(spans: dict[str, Any]) -> tuple[str, float] | None:
    """The span with the largest p99 in a :func:`breakdown` (span metrics only); None when none has samples."""
    best: tuple[str, float] | None = None
    for metric in SPAN_METRICS:
        series = spans.get(metric)
        if not isinstance(series, dict):
            continue
        for span, fig in series.items():
            p99 = fig.get("p99_ms")
            if fig.get("count") and p99 is not None and not math.isnan(p99) and (best is None or p99 > best[1]):
                best = (f"{metric.split('_', 1)[0]} {span}", p99)
    return best


def scrape(stack: Stack) -> Snapshot:
    """One snapshot of the gateway's and every consumer's ``/metrics``."""
    s = stack.settings
    urls = [f"{stack.gateway_url}/metrics"]
    urls += [f"http://{s.stack_host}:{stack.consumer_metrics_port(i)}/metrics" for i in range(s.stack_consumers)]
    return snapshot([promtext.scrape(url) for url in urls])
