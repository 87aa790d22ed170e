"""Render bench results as markdown: the goal table (goals, the seed's withdrawn claims, what we measured), the
latency spans and the sections that explain them (the PNG is drawn by :mod:`operations.benchmarks.report_plot`).
"""

from __future__ import annotations

from typing import Any

from operations.benchmarks import latency_report
from operations.benchmarks.report_values import dig, fmt
from operations.benchmarks.throughput_sections import (
    broker_section,
    ingest_section,
    ledger_section,
    scale_out_section,
    soak_worst_change,
)


def goal_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(figure, seed's claim, goal, measured, met) rows."""
    rows = []

    def met(ok: bool | None) -> str:
        return "n/a" if ok is None else ("yes" if ok else "**no**")

    e2e = dig(r, "max_throughput", "end_to_end_rate")
    rows.append(
        (
            "end-to-end throughput (HTTP batch -> verdicts topic)",
            "-",
            ">= 50,000 tx/s",
            fmt(e2e, " tx/s", 0)
            + (" (exactly one verdict each)" if dig(r, "max_throughput", "exactly_one_verdict_each") else ""),
            met(None if e2e is None else e2e >= 50_000),
        )
    )
    total = dig(r, "max_throughput", "ledger", "total_us")
    ratio = dig(r, "max_throughput", "ledger", "ratio_to_floor")
    rows.append(
        (
            "CPU per verdict, all processes, against the floor (bare Kafka hops, model row, JSON)",
            "-",
            "<= 2x the floor",
            f"{fmt(total, ' us', 1)} vs {fmt(dig(r, 'cost_floor', 'total_us'), ' us', 1)}: {fmt(ratio, 'x', 2)}",
            met(None if ratio is None else ratio <= 2.0),
        )
    )
    for rate in sorted(dig(r, "offered_load") or {}, key=float):
        load = r["offered_load"][rate]
        proc = dig(load, "consumer_histograms", "consumer_processing_seconds", "p99_ms")
        rows.append(
            (
                f"processing p99 at {float(rate):,.0f}/s (received -> verdict acked)",
                "2.5 ms average",
                "<= 2.5 ms",
                fmt(proc, " ms", 2),
                met(None if proc is None else proc <= 2.5),
            )
        )
        e2v = dig(load, "consumer_histograms", "consumer_event_to_verdict_seconds", "p99_ms")
        floor = dig(r, "broker_floor", rate, "p99_ms")
        rows.append(
            (
                f"event -> verdict p99 at {float(rate):,.0f}/s vs broker floor p99",
                "-",
                "<= floor + 5 ms",
                f"{fmt(e2v, ' ms')} vs floor {fmt(floor, ' ms')}",
                met(None if e2v is None or floor is None else e2v <= floor + 5),
            )
        )
    score = dig(r, "score", "p99_ms")
    history = dig(r, "score", "broker_messages_before")
    rows.append(
        (
            f"POST /score p99 at {fmt(dig(r, 'score', 'offered_rate'), '/s', 0)}"
            + (f", after {history:,} transactions through the broker" if history is not None else ""),
            "8.7 ms P95 (on an L4)",
            "<= 8.7 ms",
            fmt(score, " ms", 2),
            met(None if score is None else score <= 8.7),
        )
    )
    ratio = dig(r, "ingest_vs_noop", "ratio")
    rows.append(
        (
            "single-event POST /transactions vs no-op FastAPI",
            "-",
            ">= 0.9x",
            f"{fmt(ratio, 'x', 2)} ({fmt(dig(r, 'ingest_vs_noop', 'ours', 'requests_per_s'), '/s', 0)} vs "
            f"{fmt(dig(r, 'ingest_vs_noop', 'noop', 'requests_per_s'), '/s', 0)})",
            met(None if ratio is None else ratio >= 0.9),
        )
    )
    tr = dig(r, "model_throughput", "1024", "ratio")
    rows.append(
        (
            "Triton vs in-process ONNX Runtime at batch 1024",
            "-",
            ">= 0.5x",
            fmt(tr, "x", 2),
            met(None if tr is None else tr >= 0.5),
        )
    )
    soak = dig(r, "soak", "drift") or {}
    if soak:
        worst = soak_worst_change(soak)
        minutes = fmt(dig(r, "soak", "seconds") / 60, " min", 0)
        rows.append(
            (
                f"soak {minutes} at {fmt(dig(r, 'soak', 'offered_rate'), '/s', 0)}: throughput, p99, every RSS flat",
                "-",
                "within 10%",
                f"largest change {worst[0]} {worst[1]:+.1f}%, missing {dig(r, 'soak', 'missing')}",
                met(abs(worst[1]) <= 10 and dig(r, "soak", "missing") == 0),
            )
        )
    broker = r.get("broker") or {}
    if broker:
        rows.append(
            (
                "embedded broker start-up (first start / restart on its data)",
                "-",
                "-",
                f"{fmt(broker.get('first_start_s'), ' s')} / {fmt(broker.get('restart_s'), ' s')}",
                "n/a",
            )
        )
        idle = broker.get("idle_cpu_cores")
        rows.append(
            (
                "embedded broker idle CPU",
                "-",
                "<= 0.05 cores",
                fmt(idle, " cores", 3),
                met(None if idle is None else idle <= 0.05),
            )
        )
    co = dig(r, "consumer_only", "tx_per_s")
    rows.append(("consumer-only throughput (pre-filled topic)", "-", "-", fmt(co, " tx/s", 0), "n/a"))
    return rows


def markdown(r: dict[str, Any]) -> str:
    m = r.get("machine", {})
    lines = [
        "# Benchmark results",
        "",
        f"Command: `{r.get('command')}`  ",
        f"Machine: {m.get('cpu_model')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, {m.get('gpu')}; "
        f"Python {m.get('python')}; git {m.get('git_revision')}  ",
        f"Run: {r.get('started_at')} -> {r.get('finished_at')}. Everything (broker, Triton, gateway, consumer, "
        "load generator) shares this machine.",
        "",
        "| figure | seed's claim (withdrawn) | goal | measured | met |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in goal_rows(r)]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in latency_report.summary_rows(r)]
    lines += ["", *latency_report.sections(r)]
    lines += ["", "## Latency spans (ms)", "", "| span | offered | p50 | p95 | p99 |", "|---|---|---|---|---|"]
    for rate, floor in sorted((r.get("broker_floor") or {}).items(), key=lambda kv: float(kv[0])):
        lines.append(
            f"| (a) broker floor: bare producer -> consumer hop | {float(rate):,.0f}/s | "
            f"{fmt(floor.get('p50_ms'))} | {fmt(floor.get('p95_ms'))} | {fmt(floor.get('p99_ms'))} |"
        )
    names = {
        "consumer_processing_seconds": "(b) processing: received -> verdict acked",
        "consumer_event_to_verdict_seconds": "(c) event -> verdict acked (gateway ingested_at)",
        "consumer_triton_request_duration_seconds": "Triton call (consumer side)",
    }
    for rate, load in sorted((r.get("offered_load") or {}).items(), key=lambda kv: float(kv[0])):
        for key, label in names.items():
            h = dig(load, "consumer_histograms", key) or {}
            lines.append(
                f"| {label} | {float(rate):,.0f}/s | {fmt(h.get('p50_ms'), '', 2)} | "
                f"{fmt(h.get('p95_ms'), '', 2)} | {fmt(h.get('p99_ms'), '', 2)} |"
            )
        read = load.get("event_to_verdict_read", {})
        lines.append(
            f"| event -> verdict read by a downstream consumer | {float(rate):,.0f}/s | "
            f"{fmt(read.get('p50_ms'))} | {fmt(read.get('p95_ms'))} | {fmt(read.get('p99_ms'))} |"
        )
    s = r.get("score") or {}
    lines.append(
        f"| (d) POST /score round trip | {fmt(s.get('offered_rate'), '/s', 0)} "
        f"| {fmt(s.get('p50_ms'), '', 2)} | {fmt(s.get('p95_ms'), '', 2)} "
        f"| {fmt(s.get('p99_ms'), '', 2)} |"
    )
    lines += [
        "",
        "Consumer-side spans come from the consumer's Prometheus histograms (bucket-interpolated, "
        "as `histogram_quantile` does); the others are exact percentiles of individual measurements.",
        "",
    ]
    peak = r.get("max_throughput") or {}
    if peak.get("cpu_cores_busy"):
        lines += [
            "## Where the time goes in the peak run",
            "",
            f"{peak['transactions']:,} transactions as fast as possible; ingest {peak['ingest_rate']:,.0f}/s, "
            f"end to end {peak['end_to_end_rate']:,.0f}/s. CPU cores busy on average during ingestion "
            f"(this machine has {r.get('machine', {}).get('cores')}):",
            "",
            "| process | cores busy |",
            "|---|---|",
        ]
        lines += [
            f"| {name} | {cores:.2f} |" for name, cores in sorted(peak["cpu_cores_busy"].items(), key=lambda kv: -kv[1])
        ]
        for name, spy in (peak.get("py_spy") or {}).items():
            top = spy.get("top_self_time")
            if top:
                lines += ["", f"py-spy, {name}, hottest functions by self time:", ""]
                lines += [f"- {share:.0%} `{frame}`" for frame, share in top]
            elif spy.get("error"):
                lines += ["", f"py-spy, {name}: {spy['error']}"]
        lines.append("")
    lines += ledger_section(r)
    lines += scale_out_section(r)
    lines += ingest_section(r)
    mt = r.get("model_throughput") or {}
    if mt:
        lines += [
            "## Model throughput: Triton (gRPC) vs in-process ONNX Runtime",
            "",
            "| batch | Triton rows/s | ONNX Runtime rows/s | ratio | Triton p50 ms |",
            "|---|---|---|---|---|",
        ]
        for batch, fig in mt.items():
            lines.append(
                f"| {batch} | {fig['triton']['rows_per_s']:,.0f} | {fig['onnxruntime']['rows_per_s']:,.0f} | "
                f"{fig['ratio']:.2f} | {fig['triton']['p50_ms']:.2f} |"
            )
        lines.append("")
    soak = r.get("soak")
    if soak and soak.get("drift"):
        d = soak["drift"]
        lines += [
            f"## Soak: {soak['seconds'] / 60:.0f} min at {soak['offered_rate']:,.0f}/s",
            "",
            f"Accepted {soak['accepted']:,}, missing verdicts {soak['missing']}, duplicates {soak['duplicates']}.",
            "",
            "| | first minute | last minute |",
            "|---|---|---|",
            f"| verdicts/s | {d['throughput_first']:,.0f} | {d['throughput_last']:,.0f} |",
            f"| event -> verdict p99 (read) ms | {d['p99_ms_first']:.1f} | {d['p99_ms_last']:.1f} |",
        ]
        for name, mem in d["memory"].items():
            lines.append(f"| RSS {name} MiB | {mem['first_mib']} | {mem['last_mib']} ({mem['change_pct']}%) |")
        lines.append("")
    lines += broker_section(r)
    return "\n".join(lines) + "\n"
