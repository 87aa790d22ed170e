"""The throughput sections of the bench report (CPU ledger, scale-out, broker, ingest) and the soak's worst
drift: each a function of the results document to markdown lines, kept apart from the goal table they feed.
"""

from __future__ import annotations

import math
from typing import Any

from operations.benchmarks import ledger
from operations.benchmarks.report_values import dig, fmt


def ledger_section(r: dict[str, Any]) -> list[str]:
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
        f"verdict read, divided by the verdicts; at {fmt(peak.get('end_to_end_rate'), ' verdicts/s', 0)}.",
        "",
        "| process | CPU us per verdict | share |",
        "|---|---|---|",
    ]
    total = entry.get("total_us") or 0.0
    for name, us in entry["us_per_verdict"].items():
        counted = not name.startswith(ledger.NOT_THE_SYSTEM)
        share = f"{us / total:.0%}" if total and counted else "not counted"
        lines.append(f"| {name} | {us:,.1f} | {share} |")
    lines.append(f"| **total** | **{fmt(entry.get('total_us'))}** | |")
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
            f"(clients {fmt(hop.get('clients_us'))}, broker {fmt(hop.get('broker_us'))}) | {fmt(hop.get('us'))} | "
            f"{per.get('kafka_hop')} | {fmt((hop.get('us') or 0) * per.get('kafka_hop', 0))} |",
            f"| ONNX Runtime, 1 thread, batch {row.get('batch')}, per row | {fmt(row.get('us'))} | "
            f"{per.get('model_row')} | {fmt((row.get('us') or 0) * per.get('model_row', 0))} |",
            f"| orjson decode + encode of one trip | {fmt(js.get('us'))} | {per.get('json_decode_encode')} | "
            f"{fmt((js.get('us') or 0) * per.get('json_decode_encode', 0))} |",
            f"| **floor** | | | **{fmt(floor.get('total_us'))}** |",
            "",
            f"Ours against the floor: **{fmt(entry.get('ratio_to_floor'), 'x', 2)}** (goal: within 2x). "
            f"Largest costs: {', '.join(entry.get('largest') or [])}.",
            "",
        ]
    proj = peak.get("projection") or {}
    if proj:
        cores = ", ".join(f"{c} cores {v:,}/s" for c, v in (proj.get("by_cores_services_only") or {}).items())
        lines += [
            f"**Projection** ({proj.get('note')}): these {proj.get('cores_now')} cores fully used at this cost: "
            f"{proj.get('at_full_use_now'):,} verdicts/s; the floor alone would allow "
            f"{fmt(floor_rate(r), '/s', 0)}. Services only (load generator and reader on other hosts): {cores}. "
            f"Broker off this machine (a Redpanda or Kafka cluster of its own): "
            f"{fmt(proj.get('broker_off_box_now'), '/s', 0)} on these cores.",
            "",
        ]
    return lines


def floor_rate(r: dict[str, Any]) -> float | None:
    floor = dig(r, "cost_floor", "total_us")
    cores = dig(r, "machine", "cores") or 2
    return cores * 1e6 / floor if floor else None


def scale_out_section(r: dict[str, Any]) -> list[str]:
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
            f"{fmt(row.get('verdicts_per_s'), '', 0)} | {fmt(row.get('processing_p99_ms'), '', 1)} | "
            f"{fmt(row.get('total_us_per_verdict'))} | {'yes' if row.get('exactly_one_verdict_each') else '**no**'} |"
        )
    lines.append("")
    return lines


def soak_worst_change(drift: dict[str, Any]) -> tuple[str, float]:
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


def broker_section(r: dict[str, Any]) -> list[str]:
    b = r.get("broker") or {}
    jvm = r.get("broker_jvm") or {}
    if not b and not jvm:
        return []
    lines = ["## Embedded broker (Apache Kafka, KRaft, one node)", ""]
    if b:
        lines += [
            f"On a broker of its own ({b.get('heap_mb')} MiB heap): first start {fmt(b.get('first_start_s'), ' s')} "
            f"(includes formatting its storage), restart on the same data {fmt(b.get('restart_s'), ' s')}, "
            f"idle CPU {fmt(b.get('idle_cpu_cores'), ' cores', 3)} over {fmt(b.get('idle_seconds'), ' s', 0)}, "
            f"RSS {fmt(b.get('rss_mib'), ' MiB')}.",
            "",
        ]
    if jvm:
        lines += [
            f"The stack's broker after the whole run: heap in use {fmt(jvm.get('heap_used_mib'), ' MiB')} of "
            f"{jvm.get('heap_mb')} MiB, {fmt(jvm.get('gc_seconds_total'), ' s', 2)} spent in GC in total.",
            "",
        ]
    return lines


def ingest_section(r: dict[str, Any]) -> list[str]:
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
            f"| {label} | {fmt(fig.get('requests_per_s'), '', 0)} | {fmt(fig.get('p50_ms'), '', 2)} | "
            f"{fmt(fig.get('p99_ms'), '', 2)} | {fig.get('non_2xx')} | {cpu} |"
        )
    busy = r.get("ingest_with_pipeline") or {}
    if busy.get("requests_per_s"):
        cores = ", ".join(f"{name} {c:.2f}" for name, c in sorted(busy.get("cores", {}).items(), key=lambda kv: -kv[1]))
        lines.append(
            f"| gateway while the consumer and Triton score the same traffic on the same cores | "
            f"{fmt(busy['requests_per_s'], '', 0)} | {fmt(busy.get('p50_ms'), '', 2)} | "
            f"{fmt(busy.get('p99_ms'), '', 2)} | {busy.get('non_2xx')} | cores busy: {cores} |"
        )
    lines.append("")
    return lines
