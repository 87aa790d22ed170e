"""Kafka client configuration and topic creation, shared by gateway, consumer and tools.

The defaults are chosen for correctness first (idempotent producer, acks=all, manual offset store)
and then for the embedded Tansu broker's quirks: its fetch does not wake on new data, so consumers
use a short ``fetch.wait.max.ms``; its group joins take about half the session timeout, so the
session timeout is short; and producers linger a few milliseconds so the broker sees batches
rather than single messages.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from taxifraud.config import KafkaSettings

log = logging.getLogger(__name__)


def producer_config(settings: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """An idempotent, acks=all producer that batches for a few milliseconds."""
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 2,
        "compression.type": "none",
        "message.timeout.ms": 30000,
        "socket.keepalive.enable": True,
    }
    conf.update(overrides)
    return conf


def consumer_config(settings: KafkaSettings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """At-least-once consumer: offsets are stored by the application only after its output is acked."""
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "group.id": group_id,
        "enable.auto.commit": True,  # commits what we *stored*, periodically and on close
        "enable.auto.offset.store": False,
        "auto.commit.interval.ms": 1000,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": settings.kafka_session_timeout_ms,
        "heartbeat.interval.ms": max(500, settings.kafka_session_timeout_ms // 4),
        "fetch.wait.max.ms": 10,
        "partition.assignment.strategy": "cooperative-sticky",
    }
    conf.update(overrides)
    return conf


def ensure_topics(settings: KafkaSettings, timeout: float = 15.0) -> None:
    """Create our topics with ``topic_partitions`` partitions; existing topics are left alone."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [t for t in dict.fromkeys(settings.topics()) if t not in existing]
    if not wanted:
        return
    futures = admin.create_topics(
        [
            NewTopic(t, num_partitions=settings.topic_partitions, replication_factor=settings.topic_replication_factor)
            for t in wanted
        ],
        operation_timeout=timeout,
    )
    for topic, future in futures.items():
        try:
            future.result()
            log.info("created topic %s with %d partitions", topic, settings.topic_partitions)
        except KafkaException as exc:
            if exc.args and exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
                continue
            raise
