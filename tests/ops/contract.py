"""Metric names promised by docs/architecture.md, so rules and dashboards cannot drift from the code.

The names are read from the "Metrics" section of the architecture page itself (every backticked
``gateway_*``, ``consumer_*``, ``model_*`` and ``nv_*`` name); histograms also allow their
``_bucket``/``_sum``/``_count`` series. Triton's list there ends with "...", so the few other Triton
metrics we use are listed here explicitly.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = REPO_ROOT / "docs" / "architecture.md"

TRITON_EXTRA = {
    "nv_inference_request_failure",
    "nv_gpu_memory_total_bytes",
}
PROMETHEUS_BUILTIN = {"up"}
PREFIXES = ("gateway_", "consumer_", "model_", "review_", "nv_", "kafka_broker_", "redpanda_")

_NAME_RE = re.compile(r"`((?:gateway|consumer|model|review|nv|kafka_broker|redpanda)_[a-z0-9_]+)")
# A metric-looking identifier in PromQL: a known prefix, not preceded by a word char, `"` or `{`-label
# context. Label values like is_fraud="true" never start with these prefixes.
_PROMQL_NAME_RE = re.compile(r"(?<![\w:\"'])((?:gateway|consumer|model|review|nv|kafka_broker|redpanda)_[a-zA-Z0-9_]+)")


def metrics_section(text: str) -> str:
    start = text.index("## Metrics")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def contract_metrics(path: Path = ARCHITECTURE) -> set[str]:
    section = metrics_section(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for line in section.splitlines():
        found = _NAME_RE.findall(line)
        names.update(found)
        if "histogram" in line:
            for name in found:
                names.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
    return names | TRITON_EXTRA | PROMETHEUS_BUILTIN


def metric_names_in(expr: str) -> set[str]:
    """Metric names with one of our prefixes used in a PromQL expression."""
    # drop string literals (label values) first, then label names: matchers `{...}` and `by/without (...)`
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    without_labels = re.sub(
        r"\{[^}]*\}|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_strings
    )
    return set(_PROMQL_NAME_RE.findall(without_labels))
