"""The embedded Kafka's own costs: time to start (first start with formatting, and a restart on its
data), CPU while idle, and resident memory, on a broker of its own so nothing else runs in it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil

from operations.embedded.broker import BrokerOptions, start_broker
from operations.embedded.process import free_port


def _rss_mib(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / (1 << 20)


def measure(work_dir: Path, heap_mb: int, idle_seconds: float = 10.0) -> dict[str, Any]:
    options = BrokerOptions(
        host="127.0.0.1",
        port=free_port(),
        controller_port=free_port(),
        metrics_port=free_port(),
        data_dir=work_dir / "kafka-data",
        log_path=work_dir / "broker.log",
        heap_mb=heap_mb,
    )
    t0 = time.monotonic()
    proc = start_broker(options)
    first_start = time.monotonic() - t0
    try:
        ps = psutil.Process(proc.pid)
        time.sleep(2.0)  # past the start-up work (controller election, metadata log)
        cpu0 = ps.cpu_times()
        w0 = time.monotonic()
        time.sleep(idle_seconds)
        cpu1 = ps.cpu_times()
        idle_cores = ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / (time.monotonic() - w0)
        rss = _rss_mib(proc.pid)
    finally:
        proc.stop()
    t1 = time.monotonic()
    proc = start_broker(options)
    restart = time.monotonic() - t1
    proc.stop()
    return {
        "first_start_s": round(first_start, 2),
        "restart_s": round(restart, 2),
        "idle_cpu_cores": round(idle_cores, 4),
        "idle_seconds": idle_seconds,
        "rss_mib": round(rss, 1),
        "heap_mb": heap_mb,
        "note": "first start includes formatting the storage (a JVM run of its own); ready = a metadata answer",
    }
