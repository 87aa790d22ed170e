"""Pure parts of the benchmark: histogram quantiles from metrics text, wrk output, goal rows."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import pytest

from operations.benchmarks import promtext, report
from operations.benchmarks.wrk import parse_wrk

METRICS = """# HELP lat_seconds x
# TYPE lat_seconds histogram
lat_seconds_bucket{le="0.001",instance="a"} 10.0
lat_seconds_bucket{le="0.002",instance="a"} 30.0
lat_seconds_bucket{le="0.004",instance="a"} 40.0
lat_seconds_bucket{le="+Inf",instance="a"} 40.0
lat_seconds_count{instance="a"} 40.0
lat_seconds_sum{instance="a"} 0.05
lat_seconds_bucket{le="0.001",instance="b"} 10.0
lat_seconds_bucket{le="0.002",instance="b"} 10.0
lat_seconds_bucket{le="0.004",instance="b"} 10.0
lat_seconds_bucket{le="+Inf",instance="b"} 10.0
lat_seconds_count{instance="b"} 10.0
lat_seconds_sum{instance="b"} 0.005
"""


def test_histogram_quantile_interpolates_like_promql() -> None:
    buckets = promtext.histogram_buckets(METRICS, "lat_seconds")
    assert buckets == {0.001: 20.0, 0.002: 40.0, 0.004: 50.0, math.inf: 50.0}
    assert promtext.quantile(buckets, 0.5) == pytest.approx(0.001 + 0.001 * (25 - 20) / 20)
    assert promtext.quantile(buckets, 0.99) == pytest.approx(0.002 + 0.002 * (49.5 - 40) / 10)
    empty = promtext.delta(buckets, buckets)
    assert math.isnan(promtext.quantile(empty, 0.5))


#: The figures the canned wrk output below states; the parser must read back exactly these.
WRK_FIGURES: dict[str, Any] = {
    "requests_per_s": 5123.4,
    "p50_ms": 3.01,
    "p75_ms": 3.2,
    "p90_ms": 3.5,
    "p99_ms": 0.85,  # printed as "850.00us"
    "non_2xx": 3,
    "socket_errors": "",
    "requests": 51234,
}
WRK = f"""Running 10s test @ http://127.0.0.1:8000/transactions
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms  512.00us  12.00ms   90.00%
  Latency Distribution
     50%    {WRK_FIGURES["p50_ms"]:.2f}ms
     75%    {WRK_FIGURES["p75_ms"]:.2f}ms
     90%    {WRK_FIGURES["p90_ms"]:.2f}ms
     99%  {WRK_FIGURES["p99_ms"] * 1000:.2f}us
  {WRK_FIGURES["requests"]} requests in 10.00s, 7.00MB read
  Non-2xx or 3xx responses: {WRK_FIGURES["non_2xx"]}
Requests/sec:   {WRK_FIGURES["requests_per_s"]:.2f}
Transfer/sec:    700.00KB
"""


def test_wrk_output_parsing() -> None:
    assert parse_wrk(WRK) == WRK_FIGURES  # every figure, milliseconds and microseconds alike, read back as printed
    with pytest.raises(ValueError):
        parse_wrk("nothing here")


def _met(rows: Sequence[Sequence[str]]) -> dict[str, str]:
    """Goal-row name -> its 'met' cell."""
    return {r[0]: r[4] for r in rows}


def test_goal_rows_mark_misses() -> None:
    met = _met(
        report.goal_rows(
            {
                "max_throughput": {"end_to_end_rate": 12_000.0, "exactly_one_verdict_each": True},
                "model_throughput": {"1024": {"ratio": 0.7}},
            }
        )
    )
    end_to_end, triton = (
        "end-to-end throughput (HTTP batch -> verdicts topic)",
        "Triton vs in-process ONNX Runtime at batch 1024",
    )
    assert (met[end_to_end], met[triton]) == ("**no**", "yes")  # 12,000 against 50,000/s; 0.7x against 0.5x


def test_ingest_rounds_are_summarised_by_median_and_rendered() -> None:
    from operations.benchmarks.ingest import _summary

    def fig(rate: float, p99: float, us: float) -> dict[str, Any]:
        return {
            "requests_per_s": rate,
            "p50_ms": 1.0,
            "p99_ms": p99,
            "non_2xx": 1,
            "cpu_us_per_request": {"server": us},
        }

    noop_rounds = [fig(9000.0, 8.0, 100), fig(10000.0, 9.0, 110), fig(9500.0, 30.0, 105)]
    ours_rounds = [fig(8000.0, 12.0, 90), fig(8600.0, 11.0, 95)]
    noop, ours = _summary(noop_rounds), _summary(ours_rounds)

    def median(rounds: list[dict[str, Any]], key: str) -> float:
        return statistics.median(float(r[key]) for r in rounds)

    # Each figure is the median of its rounds (not the best round); non-2xx answers are summed.
    for key in ("requests_per_s", "p99_ms"):
        assert noop[key] == median(noop_rounds, key) and ours[key] == median(ours_rounds, key)
    assert noop["non_2xx"] == len(noop_rounds)
    assert ours["cpu_us_per_request"] == {"server": statistics.median([90, 95])}
    results = {
        "ingest_vs_noop": {
            "ours": ours,
            "noop": noop,
            "ratio": 8300 / 9500,
            "wrk": "wrk",
            "workers": 1,
            "setup": "alone",
        }
    }
    row = {r[0]: r for r in report.goal_rows(results)}["single-event POST /transactions vs no-op FastAPI"]
    assert row[3].startswith("0.87x") and row[4] == "**no**"
    text = report.markdown(results)
    assert "| no-op FastAPI | 9,500 | 1.00 | 9.00 | 3 | server 105 |" in text


def test_broker_section_and_goal_rows() -> None:
    results = {
        "broker": {
            "first_start_s": 9.1,
            "restart_s": 6.2,
            "idle_cpu_cores": 0.012,
            "rss_mib": 612.0,
            "heap_mb": 256,
        },
        "score": {"offered_rate": 1000.0, "p99_ms": 9.5, "broker_messages_before": 1_250_000},
    }
    rows = {r[0]: r for r in report.goal_rows(results)}
    score = rows["POST /score p99 at 1,000/s, after 1,250,000 transactions through the broker"]
    assert score[3] == "9.50 ms" and score[4] == "**no**"
    assert rows["embedded broker start-up (first start / restart on its data)"][3] == "9.1 s / 6.2 s"
    assert rows["embedded broker idle CPU"][3] == "0.012 cores" and rows["embedded broker idle CPU"][4] == "yes"


def test_counters_summed_by_label() -> None:
    text = (
        "# TYPE kafka_broker_requests_total counter\n"
        'kafka_broker_requests_total{request="Produce",version="9"} 10.0\n'
        'kafka_broker_requests_total{request="Produce",version="11"} 5.0\n'
        'kafka_broker_requests_total{request="Fetch",version="16"} 7.0\n'
    )
    assert promtext.by_label(text, "kafka_broker_requests_total", "request") == {"Produce": 15.0, "Fetch": 7.0}
