"""Scale-out on this machine: verdicts/s, processing p99 and CPU per verdict for a few process layouts.

Each layout (consumers, gateway workers, the load generator's HTTP batch, the consumer's batch) restarts the
gateway and the consumers of the bench's stack (broker and Triton stay up and warm), warms them up, and gets one
peak run (:func:`operations.benchmarks.pipeline.max_throughput`, no profiler), so that the table shows where
another process helps on these cores and where it only adds contention. What more cores
or a broker cluster would change is derived from the measured ledger (:func:`projection`) and marked as a
projection, never mixed with the measurements.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from operations.benchmarks import ledger, pipeline
from operations.stack import Stack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Layout:
    consumers: int
    gateway_workers: int
    http_batch: int
    consumer_batch: int

    @property
    def label(self) -> str:
        return (
            f"{self.consumers} consumer(s), {self.gateway_workers} gateway worker(s), "
            f"HTTP batch {self.http_batch}, consumer batch {self.consumer_batch}"
        )


def default_layouts(http_batch: int = 1000, consumer_batch: int = 1024, batch_sizes: bool = True) -> list[Layout]:
    """1 and 2 consumers x 1 and 2 gateway workers, then (``batch_sizes``) other HTTP and consumer batches on 1 x 1."""
    layouts = [Layout(c, g, http_batch, consumer_batch) for c in (1, 2) for g in (1, 2)]
    if not batch_sizes:
        return layouts
    layouts += [Layout(1, 1, b, consumer_batch) for b in (100, 500) if b != http_batch]
    layouts += [Layout(1, 1, http_batch, b) for b in (256,) if b != consumer_batch]
    return layouts


def relayout(stack: Stack, layout: Layout) -> None:
    """Restart the gateway and the consumers of a running stack in ``layout``; broker and Triton stay up.

    Keeping the broker and Triton running (and warm: the broker's JIT alone makes a fresh one several times
    dearer per request for its first seconds) is what makes the layouts comparable with each other.
    """
    for proc in [p for p in stack.services if p.name == "gateway" or p.name.startswith("consumer-")]:
        proc.stop()
        stack.services.remove(proc)
    stack.settings = stack.settings.model_copy(
        update={"stack_consumers": layout.consumers, "stack_gateway_workers": layout.gateway_workers}
    )
    stack.extra_env = {**stack.extra_env, "CONSUMER_BATCH_MAX": str(layout.consumer_batch)}
    for i in range(layout.consumers):
        stack.start_consumer(i)
    stack.start_gateway()


def run_layout(stack: Stack, layout: Layout, count: int, concurrency: int = 2) -> dict[str, Any]:
    relayout(stack, layout)
    # Warm the new processes (imports, first connections, group join) before the measured run.
    pipeline.max_throughput(
        stack, max(count // 10, 5_000), batch=layout.http_batch, concurrency=concurrency, profile_seconds=0
    )
    run = pipeline.max_throughput(stack, count, batch=layout.http_batch, concurrency=concurrency, profile_seconds=0)
    return {
        **asdict(layout),
        "verdicts_per_s": run["end_to_end_rate"],
        "processing_p99_ms": run["processing_p99_ms"],
        "exactly_one_verdict_each": run["exactly_one_verdict_each"],
        "total_us_per_verdict": run["ledger"]["total_us"],
        "us_per_verdict": run["ledger"]["us_per_verdict"],
    }


def measure(stack: Stack, layouts: list[Layout], count: int) -> list[dict[str, Any]]:
    """Every layout in turn on the same running stack (left in the last layout)."""
    rows = []
    for layout in layouts:
        log.info("bench: scale-out, %s, %d transactions", layout.label, count)
        try:
            rows.append(run_layout(stack, layout, count))
        except Exception as exc:  # one layout failing must not lose the others' figures
            log.exception("scale-out layout %s failed", layout.label)
            rows.append({**asdict(layout), "error": f"{type(exc).__name__}: {exc}"})
    return rows


def projection(entry: dict[str, Any], cores_now: int) -> dict[str, Any]:
    """PROJECTION, not a measurement: verdicts/s if every process scaled perfectly onto more cores.

    From the measured CPU per verdict: ``cores * 1e6 / us``. Also the same 2 cores with the broker moved off
    the machine (a Redpanda or Kafka cluster on its own hosts), i.e. the broker's line removed; what such a
    broker costs on its own hosts is not measured here.
    """
    us = entry.get("us_per_verdict") or {}
    total = entry.get("total_us")
    if not total:
        return {}
    broker = float(us.get("broker", 0.0))
    generator = sum(
        v
        for k, v in us.items()
        if k.startswith(("load generator", "verdict reader")) and not k.startswith(ledger.NOT_THE_SYSTEM)
    )
    service_only = total - generator
    return {
        "note": "projection from the measured CPU per verdict, assuming perfect scaling; not measured",
        "cores_now": cores_now,
        "at_full_use_now": round(ledger.max_rate(cores_now, total)),
        "by_cores_services_only": {
            str(c): round(ledger.max_rate(c, service_only)) for c in (cores_now, 4, 8, 16) if service_only > 0
        },
        "broker_off_box_now": round(ledger.max_rate(cores_now, total - broker)) if total > broker else None,
    }
