"""Render bench results: a markdown table (goals, the seed's withdrawn claims, what we measured) and a PNG."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from operations.benchmarks import latency_report, ledger


def _get(d: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def _fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value}{unit}"


def goal_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(figure, seed's claim, goal, measured, met) rows."""
    rows = []

    def met(ok: bool | None) -> str:
        return "n/a" if ok is None else ("yes" if ok else "**no**")

    e2e = _get(r, "max_throughput", "end_to_end_rate")
    rows.append(
        (
            "end-to-end throughput (HTTP batch -> verdicts topic)",
            "-",
            ">= 50,000 tx/s",
            _fmt(e2e, " tx/s", 0)
            + (" (exactly one verdict each)" if _get(r, "max_throughput", "exactly_one_verdict_each") else ""),
            met(None if e2e is None else e2e >= 50_000),
        )
    )
    total = _get(r, "max_throughput", "ledger", "total_us")
    ratio = _get(r, "max_throughput", "ledger", "ratio_to_floor")
    rows.append(
        (
            "CPU per verdict, all processes, against the floor (bare Kafka hops, model row, JSON)",
            "-",
            "<= 2x the floor",
            f"{_fmt(total, ' us', 1)} vs {_fmt(_get(r, 'cost_floor', 'total_us'), ' us', 1)}: {_fmt(ratio, 'x', 2)}",
            met(None if ratio is None else ratio <= 2.0),
        )
    )
    for rate in sorted(_get(r, "offered_load") or {}, key=float):
        load = r["offered_load"][rate]
        proc = _get(load, "consumer_histograms", "consumer_processing_seconds", "p99_ms")
        rows.append(
            (
                f"processing p99 at {float(rate):,.0f}/s (received -> verdict acked)",
                "2.5 ms average",
                "<= 2.5 ms",
                _fmt(proc, " ms", 2),
                met(None if proc is None else proc <= 2.5),
            )
        )
        e2v = _get(load, "consumer_histograms", "consumer_event_to_verdict_seconds", "p99_ms")
        floor = _get(r, "broker_floor", rate, "p99_ms")
        rows.append(
            (
                f"event -> verdict p99 at {float(rate):,.0f}/s vs broker floor p99",
                "-",
                "<= floor + 5 ms",
                f"{_fmt(e2v, ' ms')} vs floor {_fmt(floor, ' ms')}",
                met(None if e2v is None or floor is None else e2v <= floor + 5),
            )
        )
    score = _get(r, "score", "p99_ms")
    history = _get(r, "score", "broker_messages_before")
    rows.append(
        (
            f"POST /score p99 at {_fmt(_get(r, 'score', 'offered_rate'), '/s', 0)}"
            + (f", after {history:,} transactions through the broker" if history is not None else ""),
            "8.7 ms P95 (on an L4)",
            "<= 8.7 ms",
            _fmt(score, " ms", 2),
            met(None if score is None else score <= 8.7),
        )
    )
    ratio = _get(r, "ingest_vs_noop", "ratio")
    rows.append(
        (
            "single-event POST /transactions vs no-op FastAPI",
            "-",
            ">= 0.9x",
            f"{_fmt(ratio, 'x', 2)} ({_fmt(_get(r, 'ingest_vs_noop', 'ours', 'requests_per_s'), '/s', 0)} vs "
            f"{_fmt(_get(r, 'ingest_vs_noop', 'noop', 'requests_per_s'), '/s', 0)})",
            met(None if ratio is None else ratio >= 0.9),
        )
    )
    tr = _get(r, "model_throughput", "1024", "ratio")
    rows.append(
        (
            "Triton vs in-process ONNX Runtime at batch 1024",
            "-",
            ">= 0.5x",
            _fmt(tr, "x", 2),
            met(None if tr is None else tr >= 0.5),
        )
    )
    soak = _get(r, "soak", "drift") or {}
    if soak:
        worst = _soak_worst_change(soak)
        minutes = _fmt(_get(r, "soak", "seconds") / 60, " min", 0)
        rows.append(
            (
                f"soak {minutes} at {_fmt(_get(r, 'soak', 'offered_rate'), '/s', 0)}: throughput, p99, every RSS flat",
                "-",
                "within 10%",
                f"largest change {worst[0]} {worst[1]:+.1f}%, missing {_get(r, 'soak', 'missing')}",
                met(abs(worst[1]) <= 10 and _get(r, "soak", "missing") == 0),
            )
        )
    broker = r.get("broker") or {}
    if broker:
        rows.append(
            (
                "embedded broker start-up (first start / restart on its data)",
                "-",
                "-",
                f"{_fmt(broker.get('first_start_s'), ' s')} / {_fmt(broker.get('restart_s'), ' s')}",
                "n/a",
            )
        )
        idle = broker.get("idle_cpu_cores")
        rows.append(
            (
                "embedded broker idle CPU",
                "-",
                "<= 0.05 cores",
                _fmt(idle, " cores", 3),
                met(None if idle is None else idle <= 0.05),
            )
        )
    co = _get(r, "consumer_only", "tx_per_s")
    rows.append(("consumer-only throughput (pre-filled topic)", "-", "-", _fmt(co, " tx/s", 0), "n/a"))
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
            f"{_fmt(floor.get('p50_ms'))} | {_fmt(floor.get('p95_ms'))} | {_fmt(floor.get('p99_ms'))} |"
        )
    names = {
        "consumer_processing_seconds": "(b) processing: received -> verdict acked",
        "consumer_event_to_verdict_seconds": "(c) event -> verdict acked (gateway ingested_at)",
        "consumer_triton_request_duration_seconds": "Triton call (consumer side)",
    }
    for rate, load in sorted((r.get("offered_load") or {}).items(), key=lambda kv: float(kv[0])):
        for key, label in names.items():
            h = _get(load, "consumer_histograms", key) or {}
            lines.append(
                f"| {label} | {float(rate):,.0f}/s | {_fmt(h.get('p50_ms'), '', 2)} | "
                f"{_fmt(h.get('p95_ms'), '', 2)} | {_fmt(h.get('p99_ms'), '', 2)} |"
            )
        read = load.get("event_to_verdict_read", {})
        lines.append(
            f"| event -> verdict read by a downstream consumer | {float(rate):,.0f}/s | "
            f"{_fmt(read.get('p50_ms'))} | {_fmt(read.get('p95_ms'))} | {_fmt(read.get('p99_ms'))} |"
        )
    s = r.get("score") or {}
    lines.append(
        f"| (d) POST /score round trip | {_fmt(s.get('offered_rate'), '/s', 0)} "
        f"| {_fmt(s.get('p50_ms'), '', 2)} | {_fmt(s.get('p95_ms'), '', 2)} "
        f"| {_fmt(s.get('p99_ms'), '', 2)} |"
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
    lines += _ledger_section(r)
    lines += _scale_out_section(r)
    lines += _ingest_section(r)
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
    lines += _broker_section(r)
    return "\n".join(lines) + "\n"


def _ledger_section(r: dict[str, Any]) -> list[str]:
    peak = r.get("max_throughput") or {}
    entry = peak.get("ledger") or {}
    floor = r.get("cost_floor") or {}
    if not entry.get("us_per_verdict"):
        return []
    lines = [
        "## Cost ledger: CPU per verdict, by process",
        "",
        f"The peak run above ({entry['verdicts']:,} verdicts, HTTP batches of {peak.get('http_batch')}, "
        f"{peak.get('concurrency')} requests in flight), CPU from /proc from the first request to the last "
        f"verdict read, divided by the verdicts; at {_fmt(peak.get('end_to_end_rate'), ' verdicts/s', 0)}.",
        "",
        "| process | CPU us per verdict | share |",
        "|---|---|---|",
    ]
    total = entry.get("total_us") or 0.0
    for name, us in entry["us_per_verdict"].items():
        counted = not name.startswith(ledger.NOT_THE_SYSTEM)
        share = f"{us / total:.0%}" if total and counted else "not counted"
        lines.append(f"| {name} | {us:,.1f} | {share} |")
    lines.append(f"| **total** | **{_fmt(entry.get('total_us'))}** | |")
    lines.append("")
    requests = peak.get("broker_requests_per_1000_verdicts") or {}
    if requests:
        top = ", ".join(f"{kind} {n:,.1f}" for kind, n in list(requests.items())[:6])
        lines += [f"Broker requests per 1,000 verdicts (what its CPU per verdict is made of): {top}.", ""]
    if floor:
        per = floor.get("per_verdict") or {}
        hop, row, js = floor.get("kafka_hop") or {}, floor.get("model_row") or {}, floor.get("json_decode_encode") or {}
        lines += [
            "The floor, measured in the same run on the same broker (CPU us; what no code of ours can remove):",
            "",
            "| bare step | us each | per verdict | us per verdict |",
            "|---|---|---|---|",
            f"| Kafka hop: confluent-kafka produce + consume, broker CPU included "
            f"(clients {_fmt(hop.get('clients_us'))}, broker {_fmt(hop.get('broker_us'))}) | {_fmt(hop.get('us'))} | "
            f"{per.get('kafka_hop')} | {_fmt((hop.get('us') or 0) * per.get('kafka_hop', 0))} |",
            f"| ONNX Runtime, 1 thread, batch {row.get('batch')}, per row | {_fmt(row.get('us'))} | "
            f"{per.get('model_row')} | {_fmt((row.get('us') or 0) * per.get('model_row', 0))} |",
            f"| orjson decode + encode of one trip | {_fmt(js.get('us'))} | {per.get('json_decode_encode')} | "
            f"{_fmt((js.get('us') or 0) * per.get('json_decode_encode', 0))} |",
            f"| **floor** | | | **{_fmt(floor.get('total_us'))}** |",
            "",
            f"Ours against the floor: **{_fmt(entry.get('ratio_to_floor'), 'x', 2)}** (goal: within 2x). "
            f"Largest costs: {', '.join(entry.get('largest') or [])}.",
            "",
        ]
    proj = peak.get("projection") or {}
    if proj:
        cores = ", ".join(f"{c} cores {v:,}/s" for c, v in (proj.get("by_cores_services_only") or {}).items())
        lines += [
            f"**Projection** ({proj.get('note')}): these {proj.get('cores_now')} cores fully used at this cost: "
            f"{proj.get('at_full_use_now'):,} verdicts/s; the floor alone would allow "
            f"{_fmt(_floor_rate(r), '/s', 0)}. Services only (load generator and reader on other hosts): {cores}. "
            f"Broker off this machine (a Redpanda or Kafka cluster of its own): "
            f"{_fmt(proj.get('broker_off_box_now'), '/s', 0)} on these cores.",
            "",
        ]
    return lines


def _floor_rate(r: dict[str, Any]) -> float | None:
    floor = _get(r, "cost_floor", "total_us")
    cores = _get(r, "machine", "cores") or 2
    return cores * 1e6 / floor if floor else None


def _scale_out_section(r: dict[str, Any]) -> list[str]:
    rows = r.get("scale_out") or []
    if not rows:
        return []
    lines = [
        "## Scale-out on this machine",
        "",
        "Each layout restarts the gateway and the consumers on the same warm broker and Triton, warms them up, "
        "then one peak run without a profiler (exactly one verdict each is checked).",
        "",
        "| consumers | gateway workers | HTTP batch | consumer batch | verdicts/s | processing p99 ms | "
        "CPU us per verdict | exactly one each |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.get("error"):
            lines.append(
                f"| {row.get('consumers')} | {row.get('gateway_workers')} | {row.get('http_batch')} | "
                f"{row.get('consumer_batch')} | failed: {row['error']} | | | |"
            )
            continue
        lines.append(
            f"| {row['consumers']} | {row['gateway_workers']} | {row['http_batch']} | {row['consumer_batch']} | "
            f"{_fmt(row.get('verdicts_per_s'), '', 0)} | {_fmt(row.get('processing_p99_ms'), '', 1)} | "
            f"{_fmt(row.get('total_us_per_verdict'))} | {'yes' if row.get('exactly_one_verdict_each') else '**no**'} |"
        )
    lines.append("")
    return lines


def _soak_worst_change(drift: dict[str, Any]) -> tuple[str, float]:
    """The figure that moved most between the soak's first and last minute, and by how many percent."""
    changes: dict[str, float] = {}
    for label, first, last in (
        ("throughput", drift.get("throughput_first"), drift.get("throughput_last")),
        ("p99", drift.get("p99_ms_first"), drift.get("p99_ms_last")),
    ):
        if first and last is not None and not math.isnan(first) and not math.isnan(last):
            changes[label] = (last - first) / first * 100
    for name, mem in (drift.get("memory") or {}).items():
        if mem.get("change_pct") is not None:
            changes[f"RSS {name}"] = float(mem["change_pct"])
    if not changes:
        return ("n/a", math.nan)
    return max(changes.items(), key=lambda kv: abs(kv[1]))


def _broker_section(r: dict[str, Any]) -> list[str]:
    b = r.get("broker") or {}
    jvm = r.get("broker_jvm") or {}
    if not b and not jvm:
        return []
    lines = ["## Embedded broker (Apache Kafka, KRaft, one node)", ""]
    if b:
        lines += [
            f"On a broker of its own ({b.get('heap_mb')} MiB heap): first start {_fmt(b.get('first_start_s'), ' s')} "
            f"(includes formatting its storage), restart on the same data {_fmt(b.get('restart_s'), ' s')}, "
            f"idle CPU {_fmt(b.get('idle_cpu_cores'), ' cores', 3)} over {_fmt(b.get('idle_seconds'), ' s', 0)}, "
            f"RSS {_fmt(b.get('rss_mib'), ' MiB')}.",
            "",
        ]
    if jvm:
        lines += [
            f"The stack's broker after the whole run: heap in use {_fmt(jvm.get('heap_used_mib'), ' MiB')} of "
            f"{jvm.get('heap_mb')} MiB, {_fmt(jvm.get('gc_seconds_total'), ' s', 2)} spent in GC in total.",
            "",
        ]
    return lines


def _ingest_section(r: dict[str, Any]) -> list[str]:
    ing = r.get("ingest_vs_noop") or {}
    if not ing.get("ours"):
        return []
    lines = [
        "## Single-event ingest: POST /transactions vs a no-op FastAPI endpoint",
        "",
        f"`{ing.get('wrk')}`, {ing.get('workers')} worker(s). Setup: {ing.get('setup')}. Medians of the rounds; "
        "CPU is per request, from /proc.",
        "",
        "| server | requests/s | p50 ms | p99 ms | non-2xx | CPU per request (us) |",
        "|---|---|---|---|---|---|",
    ]
    for label, key in (("no-op FastAPI", "noop"), ("gateway (validate, produce, broker ack)", "ours")):
        fig = ing[key]
        cpu = ", ".join(f"{name} {us:.0f}" for name, us in (fig.get("cpu_us_per_request") or {}).items())
        lines.append(
            f"| {label} | {_fmt(fig.get('requests_per_s'), '', 0)} | {_fmt(fig.get('p50_ms'), '', 2)} | "
            f"{_fmt(fig.get('p99_ms'), '', 2)} | {fig.get('non_2xx')} | {cpu} |"
        )
    busy = r.get("ingest_with_pipeline") or {}
    if busy.get("requests_per_s"):
        cores = ", ".join(f"{name} {c:.2f}" for name, c in sorted(busy.get("cores", {}).items(), key=lambda kv: -kv[1]))
        lines.append(
            f"| gateway while the consumer and Triton score the same traffic on the same cores | "
            f"{_fmt(busy['requests_per_s'], '', 0)} | {_fmt(busy.get('p50_ms'), '', 2)} | "
            f"{_fmt(busy.get('p99_ms'), '', 2)} | {busy.get('non_2xx')} | cores busy: {cores} |"
        )
    lines.append("")
    return lines


def plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, grid = plt.subplots(2, 3, figsize=(17, 9.6))
    axes = grid.reshape(-1)
    spans = []
    for rate, load in sorted((r.get("offered_load") or {}).items(), key=lambda kv: float(kv[0])):
        floor = _get(r, "broker_floor", rate) or {}
        proc = _get(load, "consumer_histograms", "consumer_processing_seconds") or {}
        e2v = _get(load, "consumer_histograms", "consumer_event_to_verdict_seconds") or {}
        for label, fig_ in (("floor", floor), ("processing", proc), ("event->verdict", e2v)):
            spans.append((f"{label}\n{float(rate) / 1000:.0f}k/s", fig_.get("p50_ms") or 0, fig_.get("p99_ms") or 0))
    if spans:
        xs = range(len(spans))
        axes[0].bar([x - 0.2 for x in xs], [s[1] for s in spans], width=0.4, label="p50")
        axes[0].bar([x + 0.2 for x in xs], [s[2] for s in spans], width=0.4, label="p99")
        axes[0].set_xticks(list(xs), [s[0] for s in spans], fontsize=7)
        axes[0].set(title="latency spans", ylabel="ms")
        axes[0].legend()
    mt = r.get("model_throughput") or {}
    if mt:
        batches = list(mt)
        axes[1].bar(
            [i - 0.2 for i in range(len(batches))],
            [mt[b]["triton"]["rows_per_s"] for b in batches],
            width=0.4,
            label="Triton gRPC",
        )
        axes[1].bar(
            [i + 0.2 for i in range(len(batches))],
            [mt[b]["onnxruntime"]["rows_per_s"] for b in batches],
            width=0.4,
            label="in-process ORT",
        )
        axes[1].set_xticks(range(len(batches)), [f"batch {b}" for b in batches])
        axes[1].set(title="model throughput", ylabel="rows/s", yscale="log")
        axes[1].legend()
    soak = r.get("soak") or {}
    samples = soak.get("samples") or []
    if samples:
        t0 = samples[0]["t"]
        ts = [(s["t"] - t0) / 60 for s in samples]
        axes[2].plot(ts, [s["verdicts_per_s"] for s in samples], label="verdicts/s")
        ax2 = axes[2].twinx()
        for name in samples[-1]["rss_mib"]:
            ax2.plot(ts, [s["rss_mib"].get(name, math.nan) for s in samples], "--", label=f"RSS {name}")
        ax2.set_ylabel("MiB")
        ax2.legend(fontsize=7, loc="lower right")
        axes[2].set(title="soak", xlabel="minutes", ylabel="verdicts/s")
    _plot_ledger(axes[3], r)
    _plot_scale_out(axes[4], r)
    axes[5].axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_ledger(ax: Any, r: dict[str, Any]) -> None:
    """CPU us per verdict: ours stacked by process, beside the floor stacked by bare step."""
    entry = _get(r, "max_throughput", "ledger") or {}
    us = {k: v for k, v in (entry.get("us_per_verdict") or {}).items() if not k.startswith(ledger.NOT_THE_SYSTEM)}
    if not us:
        ax.axis("off")
        return
    bottom = 0.0
    for name, value in us.items():
        ax.bar(0, value, bottom=bottom, label=name)
        bottom += value
    floor = r.get("cost_floor") or {}
    per = floor.get("per_verdict") or {}
    bottom = 0.0
    for step, label in (("kafka_hop", "Kafka hops"), ("model_row", "model row"), ("json_decode_encode", "JSON")):
        value = float((floor.get(step) or {}).get("us") or 0.0) * per.get(step, 0)
        ax.bar(1, value, bottom=bottom, hatch="//", label=f"floor: {label}")
        bottom += value
    ax.set_xticks([0, 1], ["ours (per process)", "floor (bare steps)"])
    ratio = entry.get("ratio_to_floor")
    ax.set(title=f"CPU per verdict ({_fmt(ratio, 'x', 2)} the floor)", ylabel="CPU us per verdict")
    ax.legend(fontsize=6, loc="upper right")


def _plot_scale_out(ax: Any, r: dict[str, Any]) -> None:
    rows = [row for row in (r.get("scale_out") or []) if not row.get("error")]
    if not rows:
        ax.axis("off")
        return
    labels = [f"{x['consumers']}c/{x['gateway_workers']}g\nb{x['http_batch']}/{x['consumer_batch']}" for x in rows]
    xs = range(len(rows))
    ax.bar(xs, [x["verdicts_per_s"] for x in rows], color="#457b9d", label="verdicts/s")
    ax.set_xticks(list(xs), labels, fontsize=7)
    ax.set(title="scale-out: consumers/gateway workers, HTTP/consumer batch", ylabel="verdicts/s")
    twin = ax.twinx()
    twin.plot(list(xs), [x["processing_p99_ms"] for x in rows], "o-", color="#e63946", label="processing p99")
    twin.set_ylabel("processing p99 ms")
    ax.legend(fontsize=7, loc="upper left")
    twin.legend(fontsize=7, loc="upper right")
