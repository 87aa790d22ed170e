"""Pure parts of the latency bench: percentiles, goals, span quantiles from metrics text, floors, the report."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from operations.benchmarks import floors, latency_report, latency_states, model_cost, report, score_rates, spans


def _span_text(counts: dict[str, tuple[int, int, int]]) -> str:
    """A consumer_span_seconds histogram: per span, cumulative counts at le=1 ms, 4 ms, +Inf."""
    lines = ["# HELP consumer_span_seconds x", "# TYPE consumer_span_seconds histogram"]
    for span, (a, b, c) in counts.items():
        for le, n in (("0.001", a), ("0.004", b), ("+Inf", c)):
            lines.append(f'consumer_span_seconds_bucket{{le="{le}",span="{span}"}} {n}.0')
        lines.append(f'consumer_span_seconds_count{{span="{span}"}} {c}.0')
        lines.append(f'consumer_span_seconds_sum{{span="{span}"}} 0.1')
    return "\n".join(lines) + "\n"


def test_percentiles_are_numpy_percentiles_and_nan_when_empty() -> None:
    values = list(range(1, 101))
    got = latency_states.percentiles(values)
    assert got == {f"p{q}_ms": float(np.percentile(values, q)) for q in (50, 95, 99)}
    assert all(math.isnan(v) for v in latency_states.percentiles([]).values())


@pytest.mark.parametrize(
    ("p95", "p99", "met"),
    [(8.7, 15.0, True), (8.8, 10.0, False), (5.0, 15.1, False), (math.nan, 1.0, None)],
)
def test_event_to_verdict_goal(p95: float, p99: float, met: bool | None) -> None:
    assert latency_states.goal_met(p95, p99) is met


def test_histograms_by_label_keeps_spans_apart_and_sums_services() -> None:
    one = _span_text({"decode": (10, 10, 10), "triton_call": (0, 5, 10)})
    two = _span_text({"decode": (10, 10, 10)})
    snap = spans.snapshot([one, two])
    assert snap["consumer_span_seconds"]["decode"] == {0.001: 20.0, 0.004: 20.0, math.inf: 20.0}
    assert snap["consumer_span_seconds"]["triton_call"][0.004] == 5.0


def test_breakdown_uses_bucket_deltas_of_the_window_and_says_absent() -> None:
    before = spans.snapshot([_span_text({"decode": (100, 100, 100), "triton_call": (0, 0, 0)})])
    # In the window: decode 10 more, all under 1 ms; triton_call 10, half in (1, 4] ms, half above 4 ms.
    after = spans.snapshot([_span_text({"decode": (110, 110, 110), "triton_call": (0, 5, 10)})])
    out = spans.breakdown(before, after)
    assert out["gateway_span_seconds"] == "absent"
    assert out["consumer_processing_seconds"] == "absent"
    decode = out["consumer_span_seconds"]["decode"]
    assert decode["count"] == 10
    assert decode["p50_ms"] == pytest.approx(0.5)  # interpolated inside (0, 1 ms], not skewed by the 100 before
    triton = out["consumer_span_seconds"]["triton_call"]
    assert triton["p50_ms"] == pytest.approx(4.0)
    assert triton["p99_ms"] == pytest.approx(4.0)  # beyond the last finite bucket: its bound, as PromQL does
    assert spans.bottleneck(out) == ("consumer triton_call", pytest.approx(4.0))


def test_bottleneck_ignores_spans_without_samples_and_absent_metrics() -> None:
    out = {
        "gateway_span_seconds": "absent",
        "consumer_span_seconds": {
            "decode": {"count": 0, "p50_ms": math.nan, "p99_ms": math.nan},
            "broker_hop": {"count": 3, "p50_ms": 1.0, "p99_ms": 2.0},
        },
    }
    assert spans.bottleneck(out) == ("consumer broker_hop", 2.0)
    assert spans.bottleneck({"gateway_span_seconds": "absent"}) is None


def test_versus_floor() -> None:
    kafka, triton = 3.0, 1.5
    limit = kafka + triton + floors.MARGIN_MS  # the floor is the two spans' p99 added, the goal a margin above it
    met = floors.versus_floor(limit - 0.5, kafka, triton)
    assert (met["floor_p99_ms"], met["limit_ms"], met["met"]) == (kafka + triton, limit, True)
    assert floors.versus_floor(limit + 0.1, kafka, triton)["met"] is False
    assert floors.versus_floor(None, 3.0, 1.5)["met"] is None
    assert floors.versus_floor(9.0, math.nan, 1.5)["met"] is None


def test_triton_call_floor_reads_the_batch_one_figures() -> None:
    mt = {"1": {"triton": {"calls": 100, "p50_ms": 0.4, "p99_ms": 0.9}}}
    assert floors.triton_call(mt) == {"batch": 1, "calls": 100, "p50_ms": 0.4, "p99_ms": 0.9}
    assert floors.triton_call({})["p99_ms"] is None


@pytest.mark.parametrize(
    ("fig", "met"),
    [
        ({"offered_rate": 1000.0, "achieved_rate": 1000.0, "errors": 0, "p99_ms": 8.0}, True),
        ({"offered_rate": 1000.0, "achieved_rate": 1000.0, "errors": 0, "p99_ms": 9.0}, False),
        ({"offered_rate": 2000.0, "achieved_rate": 2000.0, "errors": 1, "p99_ms": 5.0}, False),
        ({"offered_rate": 2000.0, "achieved_rate": 1500.0, "errors": 0, "p99_ms": 5.0}, False),
        ({"offered_rate": 500.0, "achieved_rate": 500.0, "errors": 0, "p99_ms": 50.0}, None),
    ],
)
def test_score_goal(fig: dict[str, Any], met: bool | None) -> None:
    assert score_rates.goal(fig)["met"] is met


def test_select_columns_follows_the_model_meta_order() -> None:
    from taxifraud import wire

    rows = np.arange(2 * wire.N_INPUT_COLUMNS, dtype=np.float32).reshape(2, -1)
    wanted = [wire.MODEL_INPUT_COLUMNS[3], wire.MODEL_INPUT_COLUMNS[0]]
    assert model_cost.select_columns(rows, wanted).tolist() == [[3.0, 0.0], [3.0 + wire.N_INPUT_COLUMNS, 20.0 + 1]]
    with pytest.raises(ValueError, match="no column"):
        model_cost.select_columns(rows, ["not_a_column"])


def _state(p95: float, p99: float, with_spans: bool) -> dict[str, Any]:
    breakdown: dict[str, Any] = {
        "gateway_span_seconds": "absent",
        "consumer_span_seconds": {"triton_call": {"count": 9, "p50_ms": 1.0, "p99_ms": 3.5}}
        if with_spans
        else "absent",
    }
    return {
        "offered_rate": 1000.0,
        "achieved_rate": 998.0,
        "verdicts": 6000,
        "missing": 0,
        "duplicates": 0,
        "event_to_verdict": {"p50_ms": 5.0, "p95_ms": p95, "p99_ms": p99},
        "http_round_trip": {"p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0},
        "goal_met": latency_states.goal_met(p95, p99),
        "spans": breakdown,
        "bottleneck": spans.bottleneck(breakdown),
    }


RESULTS: dict[str, Any] = {
    "latency_states": {
        "cold": _state(40.0, 90.0, with_spans=False),
        "warm": _state(7.0, 12.0, with_spans=True),
        "scaled_down": {"burst": 50_000, "history": 200_000},
    },
    "score_rates": {
        "1000": {
            "offered_rate": 1000.0,
            "achieved_rate": 999.0,
            "errors": 0,
            "p50_ms": 3.0,
            "p95_ms": 6.0,
            "p99_ms": 8.0,
            "goal": {"limit_p99_ms": 8.7, "met": True},
        },
    },
    "latency_floors": {
        "kafka_two_hop": {"offered_rate": 1000.0, "sent": 6000, "received": 6000, "p50_ms": 2.0, "p99_ms": 4.0},
        "triton_call": {"batch": 1, "calls": 500, "p50_ms": 0.5, "p99_ms": 1.0},
        "versus": {"warm": floors.versus_floor(12.0, 4.0, 1.0), "cold": floors.versus_floor(90.0, 4.0, 1.0)},
    },
    "model_cost": {
        "committed": {
            "model": "m/1",
            "inputs": 21,
            "row_us_at_1024": 2.5,
            "call_us_at_1": 60.0,
            "spaced_call_us_at_1": 240.0,
        },
        "previous": {"model": "old", "error": "ValueError: no such file"},
        "goal_row_us": 3.0,
        "goal_call_us": 50.0,
        "spacing_ms": 10.0,
        "row_goal_met": True,
        "call_goal_met": False,
    },
}


def test_report_renders_states_goals_floors_and_bottleneck() -> None:
    md = report.markdown(RESULTS)
    assert (
        "| event -> verdict p95 / p99 at 1,000/s, cold | 8.7 ms P95 | <= 8.7 / 15 ms | 40.0 / 90.0 ms | **no** |" in md
    )
    assert "| event -> verdict p95 / p99 at 1,000/s, warm | 8.7 ms P95 | <= 8.7 / 15 ms | 7.0 / 12.0 ms | yes |" in md
    assert "| bottleneck: largest span at p99 (warm state) | - | - | consumer triton_call (3.50 ms) | n/a |" in md
    assert (
        "| event -> verdict p99 (warm) vs two-hop Kafka + Triton call floor | - | <= floor p99 + 5 ms | 12.00 vs "
        "5.00 ms | **no** |" in md  # 12 > (4 + 1) + 5
    )
    assert "`--quick` scaled these down: burst 50,000, history 200,000" in md
    assert "| 1,000 | 999 | 0 | 3.0 / 6.0 / 8.0 | p99 <= 8.7 ms | yes | spans absent |" in md
    assert "`gateway_span_seconds` | absent |" in md
    assert "| previous (`old`) | - | ValueError: no such file | | |" in md
    assert "Committed model: per row yes, per call **no**." in md
    assert "| us per batch-1 call | us per batch-1 call, 10 ms apart |" in md
    assert "| committed (`m/1`) | 21 | 2.50 | 60.0 | 240.0 |" in md


def test_report_without_latency_figures_has_no_latency_sections() -> None:
    assert latency_report.sections({}) == []
    assert latency_report.summary_rows({}) == []


def test_floor_table_lists_each_state_against_its_limit() -> None:
    md = report.markdown(RESULTS)
    assert "| warm (30 s after ready) | 12.00 | 10.00 | **no** |" in md
    assert "| cold (from the first request after ready) | 90.00 | 10.00 | **no** |" in md


@pytest.mark.parametrize(
    ("seconds", "says"),
    [
        (None, None),
        (0.0, "not warmed up before ready"),
        (12.34, "Ready came after the stack's warm-up (12.3 s of marked trips end to end"),
    ],
)
def test_states_section_says_how_the_stack_was_warmed(seconds: float | None, says: str | None) -> None:
    results = dict(RESULTS) if seconds is None else {**RESULTS, "warmup_seconds": seconds}
    md = "\n".join(latency_report.states_section(results))
    if says is None:
        assert "warm-up" not in md and "warmed up" not in md
    else:
        assert says in md


def test_the_bench_measures_the_model_cost_without_the_training_stack() -> None:
    """``make bench`` runs without torch and onnx (``make setup``): the cost functions it shares with the model
    card must not pull them in."""
    import subprocess
    import sys

    check = (
        "import sys; from operations.benchmarks import model_cost; sys.exit(bool({'torch', 'onnx'} & set(sys.modules)))"
    )
    assert subprocess.run([sys.executable, "-c", check], capture_output=True).returncode == 0
