"""The latency part of ``bench/results.md``: event -> verdict by state, ``/score`` by rate, the span
breakdown, the floors and the model's cost, each against issue 24's goals, with the bottleneck named.
"""

from __future__ import annotations

import math
from typing import Any

from operations.benchmarks import spans

STATES = ("cold", "warm", "post-burst", "after-history")
_STATE_NAMES = {
    "cold": "cold (from the first request after ready)",
    "warm": "warm (30 s after ready)",
    "post-burst": "right after a burst at full speed",
    "after-history": "after the history through the broker",
}


def _ms(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def _pcts(fig: dict[str, Any] | None) -> str:
    fig = fig or {}
    return " / ".join(_ms(fig.get(k)) for k in ("p50_ms", "p95_ms", "p99_ms"))


def _state_detail(name: str, fig: dict[str, Any]) -> str:
    if name == "post-burst" and fig.get("burst"):
        b = fig["burst"]
        return f"after {b['accepted']:,} at full speed ({b['seconds_to_last_verdict']:.1f} s to the last verdict)"
    if name == "after-history" and fig.get("history"):
        h = fig["history"]
        before = "n/a" if h.get("before") is None else f"{h['before']:,}"
        topped = (h.get("topped_up") or {}).get("accepted", 0)
        return f"broker had {before} transactions; {topped:,} sent to reach {h['target']:,}"
    return ""


def _warmup_note(r: dict[str, Any]) -> str:
    """How the stack was warmed before "ready" (the cold state starts after it)."""
    seconds = r.get("warmup_seconds")
    if seconds is None:
        return ""
    if not seconds:
        return " The stack was not warmed up before ready (`STACK_WARMUP_TRANSACTIONS=0`)."
    return f" Ready came after the stack's warm-up ({seconds:.1f} s of marked trips end to end, `STACK_WARMUP_*`)."


def states_section(r: dict[str, Any]) -> list[str]:
    states = r.get("latency_states") or {}
    if not states:
        return []
    rate = next((states[s]["offered_rate"] for s in STATES if s in states), None)
    lines = [
        f"## Event -> verdict by state, {_ms(rate, 0)} single-trip POSTs/s",
        "",
        "Stamped latency (the gateway's `ingested_at` -> the consumer's `scored_at`) of every verdict of the "
        "window, and the gateway's HTTP round trip as the load generator (its own process, open loop) saw it. "
        "Goal: p95 <= 8.7 ms and p99 <= 15 ms in every state." + _warmup_note(r),
        "",
        "| state | event -> verdict p50 / p95 / p99 ms | goal met | HTTP round trip p50 / p95 / p99 ms "
        "| achieved /s | verdicts (missing, duplicates) | largest span at p99 | notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in STATES:
        fig = states.get(name)
        if not fig:
            continue
        lines.append(
            f"| {_STATE_NAMES[name]} | {_pcts(fig.get('event_to_verdict'))} | {_met(fig.get('goal_met'))} "
            f"| {_pcts(fig.get('http_round_trip'))} | {_ms(fig.get('achieved_rate'), 0)} "
            f"| {fig.get('verdicts', 0):,} ({fig.get('missing')}, {fig.get('duplicates')}) "
            f"| {_largest_span(fig.get('spans') or {})} | {_state_detail(name, fig)} |"
        )
    scaled = states.get("scaled_down")
    if scaled:
        lines += [
            "",
            "`--quick` scaled these down: " + ", ".join(f"{k} {v:,}" for k, v in scaled.items()) + " "
            "(the full run: a burst of 500,000 and 1,000,000 of history).",
        ]
    return [*lines, ""]


def score_section(r: dict[str, Any]) -> list[str]:
    rates = r.get("score_rates") or {}
    if not rates:
        return []
    lines = [
        "## POST /score by rate",
        "",
        "Open-loop round trips (timed from each request's scheduled send). Goals: p99 <= 8.7 ms at 1,000/s, "
        "p99 <= 15 ms at 2,000/s with no error and the rate sustained.",
        "",
        "| offered /s | achieved /s | errors | p50 / p95 / p99 ms | goal | met | largest span at p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    for rate, fig in sorted(rates.items(), key=lambda kv: float(kv[0])):
        goal = fig.get("goal") or {}
        limit = goal.get("limit_p99_ms")
        neck = _largest_span(fig.get("spans") or {})
        lines.append(
            f"| {float(rate):,.0f} | {_ms(fig.get('achieved_rate'), 0)} | {fig.get('errors')} | {_pcts(fig)} "
            f"| {'-' if limit is None else f'p99 <= {limit} ms'} | {_met(goal.get('met'))} | {neck} |"
        )
    return [*lines, ""]


def _largest_span(breakdown: dict[str, Any]) -> str:
    neck = spans.bottleneck(breakdown)
    return f"{neck[0]} {neck[1]:.2f} ms" if neck else "spans absent"


def spans_section(r: dict[str, Any]) -> list[str]:
    """Every span's p50/p99 in each latency window, from the services' histograms."""
    windows: list[tuple[str, dict[str, Any]]] = []
    for name in STATES:
        fig = (r.get("latency_states") or {}).get(name)
        if fig and fig.get("spans"):
            windows.append((_STATE_NAMES[name].split(" (")[0], fig["spans"]))
    for rate, fig in sorted((r.get("score_rates") or {}).items(), key=lambda kv: float(kv[0])):
        if fig.get("spans"):
            windows.append((f"/score {float(rate):,.0f}/s", fig["spans"]))
    if not windows:
        return []
    lines = [
        "## Span breakdown (ms, p50 / p99, from Prometheus histogram bucket deltas over each window)",
        "",
        "| window | histogram | span | samples | p50 | p99 |",
        "|---|---|---|---|---|---|",
    ]
    for window, breakdown in windows:
        for metric, series in breakdown.items():
            if not isinstance(series, dict):
                lines.append(f"| {window} | `{metric}` | {series} | | | |")
                continue
            for span, fig in series.items():
                lines.append(
                    f"| {window} | `{metric}` | {span} | {fig.get('count', 0):,} "
                    f"| {_ms(fig.get('p50_ms'), 2)} | {_ms(fig.get('p99_ms'), 2)} |"
                )
    lines += [
        "",
        "Quantiles are interpolated inside buckets (as `histogram_quantile` does): their precision is the "
        "bucket layout's. `absent`: this build does not export that histogram.",
        "",
    ]
    return lines


def floors_section(r: dict[str, Any]) -> list[str]:
    floors = r.get("latency_floors") or {}
    if not floors:
        return []
    hop, call = floors.get("kafka_two_hop") or {}, floors.get("triton_call") or {}
    lines = [
        "## Floors on the same warm stack, and our p99 against them",
        "",
        "| floor | p50 ms | p99 ms | samples |",
        "|---|---|---|---|",
        f"| bare two-hop Kafka (producer -> consumer -> producer -> consumer), {_ms(hop.get('offered_rate'), 0)}/s "
        f"| {_ms(hop.get('p50_ms'), 2)} | {_ms(hop.get('p99_ms'), 2)} | {hop.get('received')} of {hop.get('sent')} |",
        f"| one bare Triton call (batch 1, gRPC) | {_ms(call.get('p50_ms'), 2)} | {_ms(call.get('p99_ms'), 2)} "
        f"| {call.get('calls')} |",
        "",
        "Goal: our p99 <= floor p99 + 5 ms, the floor being the two-hop p99 plus the Triton call's p99.",
        "",
        "| state | our event -> verdict p99 ms | floor p99 + 5 ms | met |",
        "|---|---|---|---|",
    ]
    for name in STATES:
        v = (floors.get("versus") or {}).get(name)
        if v:
            lines.append(
                f"| {_STATE_NAMES[name]} | {_ms(v.get('ours_p99_ms'), 2)} | {_ms(v.get('limit_ms'), 2)} "
                f"| {_met(v.get('met'))} |"
            )
    return [*lines, ""]


def model_section(r: dict[str, Any]) -> list[str]:
    cost = r.get("model_cost") or {}
    if not cost:
        return []
    lines = [
        "## The model's cost (ONNX Runtime, one thread, process CPU)",
        "",
        f"Goals: <= {cost.get('goal_row_us')} us per row at batch 1,024 and <= {cost.get('goal_call_us')} us "
        "per batch-1 call.",
        "",
        "| model | inputs | us per row at batch 1,024 | us per batch-1 call | us per batch-1 call, "
        f"{_ms(cost.get('spacing_ms'), 0)} ms apart |",
        "|---|---|---|---|---|",
    ]
    for label in ("previous", "committed"):
        fig = cost.get(label) or {}
        if fig.get("error"):
            lines.append(f"| {label} (`{fig.get('model')}`) | - | {fig['error']} | | |")
        else:
            lines.append(
                f"| {label} (`{fig.get('model')}`) | {fig.get('inputs')} | {_ms(fig.get('row_us_at_1024'), 2)} "
                f"| {_ms(fig.get('call_us_at_1'), 1)} | {_ms(fig.get('spaced_call_us_at_1'), 1)} |"
            )
    lines += [
        "",
        f"Committed model: per row {_met(cost.get('row_goal_met'))}, per call {_met(cost.get('call_goal_met'))}.",
        "",
    ]
    return lines


def summary_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Rows for the goals table: (figure, seed's claim, goal, measured, met)."""
    rows = []
    for name in STATES:
        fig = (r.get("latency_states") or {}).get(name)
        if fig:
            e2v = fig.get("event_to_verdict") or {}
            rows.append(
                (
                    f"event -> verdict p95 / p99 at {_ms(fig.get('offered_rate'), 0)}/s, {name}",
                    "8.7 ms P95",
                    "<= 8.7 / 15 ms",
                    f"{_ms(e2v.get('p95_ms'))} / {_ms(e2v.get('p99_ms'))} ms",
                    _met(fig.get("goal_met")),
                )
            )
    for rate, fig in sorted((r.get("score_rates") or {}).items(), key=lambda kv: float(kv[0])):
        goal = fig.get("goal") or {}
        if goal.get("limit_p99_ms") is not None:
            rows.append(
                (
                    f"POST /score p99 at {float(rate):,.0f}/s, no error",
                    "-",
                    f"<= {goal['limit_p99_ms']} ms",
                    f"{_ms(fig.get('p99_ms'), 2)} ms, {fig.get('errors')} errors, {_ms(fig.get('achieved_rate'), 0)}/s",
                    _met(goal.get("met")),
                )
            )
    warm = ((r.get("latency_floors") or {}).get("versus") or {}).get("warm")
    if warm:
        rows.append(
            (
                "event -> verdict p99 (warm) vs two-hop Kafka + Triton call floor",
                "-",
                "<= floor p99 + 5 ms",
                f"{_ms(warm.get('ours_p99_ms'), 2)} vs {_ms(warm.get('floor_p99_ms'), 2)} ms",
                _met(warm.get("met")),
            )
        )
    neck = bottleneck(r)
    if neck:
        rows.append(("bottleneck: largest span at p99 (warm state)", "-", "-", neck, "n/a"))
    return rows


def bottleneck(r: dict[str, Any]) -> str | None:
    """The warm state's largest span at p99, as the report names it."""
    warm = (r.get("latency_states") or {}).get("warm") or {}
    if not warm:
        return None
    neck = warm.get("bottleneck")
    return f"{neck[0]} ({neck[1]:.2f} ms)" if neck else "span histograms absent in this build"


def sections(r: dict[str, Any]) -> list[str]:
    return [*states_section(r), *score_section(r), *spans_section(r), *floors_section(r), *model_section(r)]
