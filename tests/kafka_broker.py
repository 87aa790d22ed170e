"""Real Apache Kafka brokers for tests: one per session (``broker`` fixture), or one of a test's own.

Each broker gets free ports and its own data directory, so a test can stop one (SIGTERM or SIGKILL) and
start it again on the same port and the same data, exactly as a restart in production.
"""

from __future__ import annotations

from pathlib import Path

from operations.embedded.broker import BrokerOptions, BrokerSecurity, start_broker
from operations.embedded.process import ManagedProcess, free_port


def broker_options(root: Path, port: int | None = None, partitions: int = 3, secure: bool = False) -> BrokerOptions:
    """``secure``: a SASL_SSL listener (SCRAM users and a throwaway CA in ``root/tls``)."""
    return BrokerOptions(
        security=BrokerSecurity(root / "tls") if secure else None,
        host="127.0.0.1",
        port=port or free_port(),
        controller_port=free_port(),
        metrics_port=None,
        data_dir=root / "kafka-data",
        log_path=root / "broker.log",
        partitions=partitions,
        heap_mb=256,
    )


def start_test_broker(
    root: Path, port: int | None = None, secure: bool = False
) -> tuple[ManagedProcess, BrokerOptions]:
    """A broker on ``port`` (free if None) with its data in ``root``; the same root restarts it on its data."""
    options = broker_options(root, port, secure=secure)
    return start_broker(options), options
