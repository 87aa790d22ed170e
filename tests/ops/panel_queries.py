"""Every PromQL query of a Grafana dashboard, with template variables substituted.

Used two ways:

* offline (tests/ops/test_dashboard.py): every query must parse (checked with ``promtool``) and use
  only metric names from the contract;
* live (the lead's integration test): run each query against a running Prometheus's HTTP API
  (``/api/v1/query``) and expect ``status == "success"``, and data for the panels that are not
  GPU-only once traffic has flowed.

Standard library only, so it can be imported from anywhere (``from tests.ops.panel_queries import
panel_queries``) or run as a script::

    python tests/ops/panel_queries.py [grafana/dashboards/fraud-detection.json] [--var consumer=.*]

which prints one JSON object per query.

GPU-only panels (GPU utilisation and memory: Triton exports them only when it sees a GPU) carry
``GPU_ONLY_MARKER`` at the start of their ``description``; ``PanelQuery.gpu_only`` reports it so a
test on a CPU deployment can accept an empty result for them.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_PATH = REPO_ROOT / "grafana" / "dashboards" / "fraud-detection.json"
GPU_ONLY_MARKER = "[GPU-only]"

# Grafana's built-in variables, with values that make sense for a one-shot query against a live
# Prometheus scraping every 5 s (rate windows need at least 4 scrapes).
BUILTIN_VALUES: dict[str, str] = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

# $name, ${name}, ${name:format}, [[name]] (the old syntax)
# ($1, $2 ... are label_replace() back-references, not variables: Grafana leaves them alone too)
_VAR_RE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$([A-Za-z_]\w*)")


@dataclass(frozen=True)
class PanelQuery:
    panel_id: int
    panel_title: str
    ref_id: str
    expr: str  # with every template variable substituted
    raw_expr: str  # as written in the dashboard
    instant: bool
    gpu_only: bool


def load_dashboard(path: Path | str = DASHBOARD_PATH) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def iter_panels(dashboard: Mapping) -> Iterator[dict]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def is_gpu_only(panel: Mapping) -> bool:
    return str(panel.get("description", "")).startswith(GPU_ONLY_MARKER)


def default_variable_values(dashboard: Mapping) -> dict[str, str]:
    """The value each templating variable takes when a query is run outside Grafana.

    A variable with "All" selectable becomes its ``allValue`` (``.*`` if unset), which is what
    Grafana sends with "All" selected for a regex matcher; otherwise its current (or first) value.
    """
    values: dict[str, str] = {}
    for var in dashboard.get("templating", {}).get("list", []):
        name = var["name"]
        if var.get("includeAll"):
            values[name] = var.get("allValue") or ".*"
            continue
        current = var.get("current", {}).get("value")
        if isinstance(current, list):
            current = current[0] if current else None
        if current in (None, "", "$__all"):
            options = var.get("options") or []
            current = options[0].get("value") if options else var.get("query", "")
        values[name] = str(current)
    return values


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Replace ``$var``, ``${var}``, ``${var:fmt}`` and ``[[var]]``; unknown names raise KeyError."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name in values:
            return values[name]
        if name in BUILTIN_VALUES:
            return BUILTIN_VALUES[name]
        raise KeyError(f"template variable ${name} has no value (not in the dashboard's templating list)")

    return _VAR_RE.sub(repl, expr)


def panel_queries(
    dashboard: Mapping | Path | str = DASHBOARD_PATH, overrides: Mapping[str, str] | None = None
) -> list[PanelQuery]:
    """Every target with an ``expr``, in panel order, variables substituted.

    ``overrides`` replaces variable values (e.g. ``{"consumer": "10.0.0.5:9101"}``) or built-ins
    (e.g. ``{"__range": "5m"}``).
    """
    if not isinstance(dashboard, Mapping):
        dashboard = load_dashboard(dashboard)
    values = {**BUILTIN_VALUES, **default_variable_values(dashboard), **(overrides or {})}
    out: list[PanelQuery] = []
    for panel in iter_panels(dashboard):
        for target in panel.get("targets", []):
            raw = target.get("expr")
            if not raw:
                continue
            out.append(
                PanelQuery(
                    panel_id=int(panel["id"]),
                    panel_title=str(panel.get("title", "")),
                    ref_id=str(target.get("refId", "")),
                    expr=substitute(raw, values),
                    raw_expr=raw,
                    instant=bool(target.get("instant", False)),
                    gpu_only=is_gpu_only(panel),
                )
            )
    return out


def main(argv: list[str]) -> int:
    path = DASHBOARD_PATH
    overrides: dict[str, str] = {}
    args = iter(argv)
    for arg in args:
        if arg == "--var":
            name, _, value = next(args).partition("=")
            overrides[name] = value
        else:
            path = Path(arg)
    for query in panel_queries(path, overrides):
        print(json.dumps(asdict(query)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
