"""Read Prometheus text exposition and estimate quantiles from histogram bucket deltas.

Latency spans measured inside a service (the consumer's processing time, say) are exported as
histograms; comparing two scrapes gives the distribution of just the benchmark window. Quantiles are
linearly interpolated inside a bucket, as PromQL's ``histogram_quantile`` does, so their precision is
bounded by the bucket layout (stated next to each figure).
"""

from __future__ import annotations

import math
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Buckets = dict[float, float]  # upper bound -> cumulative count


def scrape(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return str(resp.read().decode())


def histogram_buckets(text: str, name: str) -> Buckets:
    """Cumulative bucket counts of histogram ``name``, summed over all label sets."""
    out: Buckets = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                le = float(sample.labels["le"])
                out[le] = out.get(le, 0.0) + sample.value
    return out


def counter_value(text: str, name: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (name, f"{name}_total"):
                total += sample.value
    return total


def samples(text: str, name: str, **labels: str) -> list[float]:
    """Values of every sample called ``name`` whose labels include ``labels``."""
    out = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                out.append(sample.value)
    return out


def by_label(text: str, name: str, label: str) -> dict[str, float]:
    """Samples called ``name`` summed per value of ``label`` (e.g. broker requests per request type)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and label in sample.labels:
                key = sample.labels[label]
                out[key] = out.get(key, 0.0) + sample.value
    return out


def delta(after: Buckets, before: Buckets) -> Buckets:
    return {le: after[le] - before.get(le, 0.0) for le in after}


def quantile(buckets: Buckets, q: float) -> float:
    """``histogram_quantile`` over cumulative buckets; NaN when empty."""
    bounds = sorted(buckets)
    if not bounds:
        return math.nan
    total = buckets[bounds[-1]]
    if total <= 0:
        return math.nan
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return prev_bound
            width = count - prev_count
            return prev_bound + (bound - prev_bound) * ((rank - prev_count) / width if width else 0.0)
        prev_bound, prev_count = bound, count
    return prev_bound
