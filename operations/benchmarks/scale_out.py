"""Scale-out on this machine: verdicts/s, processing p99 and CPU per verdict for a few process layouts.

Each layout (consumers, gateway workers, the load generator's HTTP batch, the consumer's batch) gets a fresh
embedded stack and one peak run (:func:`operations.benchmarks.pipeline.max_throughput`, no profiler), so that
the table shows where another process helps on these cores and where it only adds contention. What more cores
or a broker cluster would change is derived from the measured ledger (:func:`projection`) and marked as a
projection, never mixed with the measurements.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from operations.benchmarks import ledger, pipeline
from operations.stack import Stack, StackSettings, free_ports

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


def default_layouts(http_batch: int = 1000, consumer_batch: int = 1024) -> list[Layout]:
    """1 and 2 consumers x 1 and 2 gateway workers, then the HTTP and consumer batch sizes on 1 x 1."""
    layouts = [Layout(c, g, http_batch, consumer_batch) for c in (1, 2) for g in (1, 2)]
    layouts += [Layout(1, 1, b, consumer_batch) for b in (100, 500) if b != http_batch]
    layouts += [Layout(1, 1, http_batch, b) for b in (256,) if b != consumer_batch]
    return layouts


def run_layout(base: StackSettings, layout: Layout, count: int, concurrency: int = 2) -> dict[str, Any]:
    settings = base.model_copy(
        update={
            **free_ports(),
            "stack_consumers": layout.consumers,
            "stack_gateway_workers": layout.gateway_workers,
            "stack_run_dir": base.stack_run_dir / f"scale-{layout.consumers}c{layout.gateway_workers}g"
            f"-{layout.http_batch}-{layout.consumer_batch}",
        }
    )
    extra = {"CONSUMER_BATCH_MAX": str(layout.consumer_batch)}
    with Stack(settings, extra_env=extra) as stack:
        run = pipeline.max_throughput(stack, count, batch=layout.http_batch, concurrency=concurrency, profile_seconds=0)
    return {
        "consumers": layout.consumers,
        "gateway_workers": layout.gateway_workers,
        "http_batch": layout.http_batch,
        "consumer_batch": layout.consumer_batch,
        "verdicts_per_s": run["end_to_end_rate"],
        "processing_p99_ms": run["processing_p99_ms"],
        "exactly_one_verdict_each": run["exactly_one_verdict_each"],
        "total_us_per_verdict": run["ledger"]["total_us"],
        "us_per_verdict": run["ledger"]["us_per_verdict"],
    }


def measure(base: StackSettings, layouts: list[Layout], count: int) -> list[dict[str, Any]]:
    rows = []
    for layout in layouts:
        log.info("bench: scale-out, %s, %d transactions", layout.label, count)
        try:
            rows.append(run_layout(base, layout, count))
        except Exception as exc:  # one layout failing to start must not lose the others' figures
            log.exception("scale-out layout %s failed", layout.label)
            rows.append({**layout.__dict__, "error": f"{type(exc).__name__}: {exc}"})
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
    generator = sum(v for k, v in us.items() if k.startswith(("load generator", "verdict reader")))
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
