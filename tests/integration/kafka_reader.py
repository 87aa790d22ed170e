"""Test helper: read a topic from the beginning until the wanted keys are all seen (or time runs out)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from confluent_kafka import Consumer


def read_until(
    bootstrap: str,
    topic: str,
    want_ids: set[str],
    timeout: float = 60.0,
    settle: float = 1.0,
    conf: dict[str, Any] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """All messages of ``topic`` grouped by ``transaction_id``; reads ``settle`` s past the last wanted id
    so duplicates that arrive just after are counted too. ``conf``: security settings of a secured broker."""
    consumer = Consumer(
        {
            **(conf or {}),
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            "fetch.wait.max.ms": 50,
        }
    )
    consumer.subscribe([topic])
    seen: dict[str, list[dict[str, Any]]] = {}
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            if settle_until is not None and time.monotonic() > settle_until:
                break
            for msg in consumer.consume(num_messages=10000, timeout=0.2):
                if msg.error():
                    continue
                record = orjson.loads(msg.value())
                seen.setdefault(str(record.get("transaction_id")), []).append(record)
            if settle_until is None and want_ids <= seen.keys():
                settle_until = time.monotonic() + settle
    finally:
        consumer.close()
    return seen
