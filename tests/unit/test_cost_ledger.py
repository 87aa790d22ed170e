"""Pure parts of the cost ledger: CPU per verdict, the floor's total, the ratio, projections and their report."""

from __future__ import annotations

from pathlib import Path

import pytest

from operations.benchmarks import cost_floor, ledger, report, report_plot, scale_out


def test_ledger_divides_cpu_by_verdicts_and_leaves_the_profiler_out_of_the_total() -> None:
    entry = ledger.ledger({"consumer-0": 2.0, "broker": 1.0, "py-spy on consumer-0": 0.5}, verdicts=100_000)
    assert entry["us_per_verdict"] == {"consumer-0": 20.0, "broker": 10.0, "py-spy on consumer-0": 5.0}
    assert entry["total_us"] == 30.0
    assert entry["largest"] == ["consumer-0", "broker"]
    assert entry["ratio_to_floor"] is None
    assert ledger.with_floor(entry, 12.0)["ratio_to_floor"] == 2.5


def test_ledger_of_a_run_without_verdicts_has_no_total() -> None:
    entry = ledger.ledger({"consumer-0": 1.0}, verdicts=0)
    assert entry["total_us"] is None and ledger.with_floor(entry, 10.0)["ratio_to_floor"] is None


def test_floor_counts_each_bare_step_as_often_as_a_verdict_needs_it() -> None:
    parts = {"kafka_hop": {"us": 10.0}, "model_row": {"us": 20.0}, "json_decode_encode": {"us": 3.0}}
    assert cost_floor.floor_total(parts) == pytest.approx(2 * 10 + 20 + 2 * 3)


def test_json_floor_is_measured_on_real_work() -> None:
    fig = cost_floor.json_us([{"trip_distance": 1.5, "fare_amount": 8.0, "duration_minutes": 7.0}] * 50, rounds=2)
    assert fig["trips"] == 100 and fig["us"] > 0


def test_projection_is_marked_and_removes_what_moves_off_the_machine() -> None:
    entry = ledger.ledger(
        {
            "broker": 1.0,
            "consumer-0": 2.0,
            "load generator (replay)": 0.5,
            "load generator start-up (not counted)": 3.0,
            "verdict reader (bench process)": 0.5,
        },
        verdicts=100_000,
    )
    proj = scale_out.projection(entry, cores_now=2)
    assert "projection" in proj["note"] and "not measured" in proj["note"]
    assert proj["at_full_use_now"] == round(2e6 / 40.0)
    assert proj["broker_off_box_now"] == round(2e6 / 30.0)
    assert proj["by_cores_services_only"]["8"] == round(8e6 / 30.0)


def test_default_layouts_cover_process_counts_and_batch_sizes() -> None:
    layouts = scale_out.default_layouts(1000, 1024)
    assert {(x.consumers, x.gateway_workers) for x in layouts} == {(1, 1), (1, 2), (2, 1), (2, 2)}
    assert len({x.http_batch for x in layouts}) >= 3 and len({x.consumer_batch for x in layouts}) >= 2


def test_report_renders_ledger_floor_ratio_and_scale_out(tmp_path: Path) -> None:
    results = {
        "machine": {"cores": 2},
        "max_throughput": {
            "end_to_end_rate": 20_000.0,
            "http_batch": 1000,
            "concurrency": 2,
            "ledger": ledger.with_floor(ledger.ledger({"consumer-0": 3.0, "gateway": 1.0}, 100_000), 20.0),
        },
        "cost_floor": {
            "kafka_hop": {"us": 5.0, "clients_us": 2.0, "broker_us": 3.0},
            "model_row": {"us": 8.0, "batch": 1024},
            "json_decode_encode": {"us": 1.0},
            "per_verdict": dict(cost_floor.PER_VERDICT),
            "total_us": 20.0,
        },
        "scale_out": [
            {
                "consumers": 2,
                "gateway_workers": 1,
                "http_batch": 1000,
                "consumer_batch": 1024,
                "verdicts_per_s": 18_000.0,
                "processing_p99_ms": 80.0,
                "total_us_per_verdict": 45.0,
                "exactly_one_verdict_each": True,
            },
            {"consumers": 2, "gateway_workers": 2, "http_batch": 1000, "consumer_batch": 1024, "error": "boom"},
        ],
    }
    results["max_throughput"]["projection"] = scale_out.projection(results["max_throughput"]["ledger"], 2)
    row = {r[0]: r for r in report.goal_rows(results)}[
        "CPU per verdict, all processes, against the floor (bare Kafka hops, model row, JSON)"
    ]
    assert row[3] == "40.0 us vs 20.0 us: 2.00x" and row[4] == "yes"
    text = report.markdown(results)
    assert "| consumer-0 | 30.0 | 75% |" in text
    assert "| **floor** | | | **20.0** |" in text
    assert "| 2 | 1 | 1000 | 1024 | 18,000 | 80.0 | 45.0 | yes |" in text
    assert "failed: boom" in text
    assert "**Projection**" in text and "50,000 verdicts/s" in text  # 2 cores / 40 us
    report_plot.plot(results, tmp_path / "results.png")
    assert (tmp_path / "results.png").stat().st_size > 0


def test_replay_summary_gives_the_cpu_and_start_of_sending_and_the_ledger_leaves_start_up_out() -> None:
    from operations.benchmarks.pipeline import _accepted, _sending

    out = (
        "sent 1000, accepted 1000, rejected 0, errors 0 in 1.0s (1,000/s); 50 with injected fraud; "
        "0.420 s CPU sending from 1796163309.125\n"
    )
    assert _accepted(out) == 1000 and _sending(out) == (0.42, 1796163309.125)
    assert _sending("sent 1, accepted 1, rejected 0, errors 0 in 1.0s (1/s); 0 with injected fraud") is None
    entry = ledger.ledger({"load generator (replay)": 0.42, "load generator start-up (not counted)": 2.0}, 1000)
    assert entry["total_us"] == 420.0
