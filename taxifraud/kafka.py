"""Kafka client configuration and topic creation, shared by gateway, consumer and tools.

The defaults are chosen for correctness first (idempotent producer, acks=all, manual offset store)
and then for latency on a broker that answers a waiting fetch as soon as data is appended (Kafka's
fetch purgatory, Redpanda likewise):

* ``fetch.wait.max.ms`` only bounds how long an *empty* fetch is held, so it costs no latency; 100 ms
  keeps an idle consumer to ten fetches a second per broker instead of a hundred.
* ``linger.ms`` 1 for shared producers: under load librdkafka batches while earlier requests are in
  flight anyway, and at low rates a message waits at most a millisecond.
* the session timeout (``KAFKA_SESSION_TIMEOUT_MS``, 10 s) is how long a crashed consumer's partitions
  wait before they are reassigned; heartbeats go every third of it.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from confluent_kafka import KafkaException, Message
from confluent_kafka.admin import AdminClient, NewTopic

from taxifraud.config import KafkaSettings

log = logging.getLogger(__name__)

#: How long the broker may hold a fetch that finds no data (it answers at once when data arrives).
FETCH_WAIT_MAX_MS = 100


def producer_config(settings: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """An idempotent, acks=all producer that batches for a few milliseconds."""
    conf: dict[str, Any] = {
        **settings.kafka_client_config(),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 1,
        "compression.type": "none",
        "message.timeout.ms": 30000,
        "socket.keepalive.enable": True,
    }
    conf.update(overrides)
    return conf


def consumer_config(settings: KafkaSettings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """At-least-once consumer: offsets are stored by the application only after its output is acked."""
    conf: dict[str, Any] = {
        **settings.kafka_client_config(),
        "group.id": group_id,
        "enable.auto.commit": True,  # commits what we *stored*, periodically and on close
        "enable.auto.offset.store": False,
        "auto.commit.interval.ms": 1000,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": settings.kafka_session_timeout_ms,
        "heartbeat.interval.ms": max(500, settings.kafka_session_timeout_ms // 3),
        "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
        "partition.assignment.strategy": "cooperative-sticky",
    }
    conf.update(overrides)
    return conf


def ensure_topics(settings: KafkaSettings, timeout: float = 15.0) -> None:
    """Create our topics with ``topic_partitions`` partitions (and ``topic_configs()``, e.g. the compacted
    labels topic); existing topics are left alone."""
    admin = AdminClient(settings.kafka_client_config())
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [t for t in dict.fromkeys(settings.topics()) if t not in existing]
    if not wanted:
        return
    configs = settings.topic_configs()
    futures = admin.create_topics(
        [
            NewTopic(
                t,
                num_partitions=settings.topic_partition_count(t),
                replication_factor=settings.topic_replication_factor,
                config=configs.get(t, {}),
            )
            for t in wanted
        ],
        operation_timeout=timeout,
    )
    for topic, future in futures.items():
        try:
            future.result()
            log.info("created topic %s with %d partitions", topic, settings.topic_partition_count(topic))
        except KafkaException as exc:
            if exc.args and exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
                continue
            raise


class Fetching(Protocol):
    """What :func:`receive` uses of confluent-kafka's ``Consumer``."""

    def consume(self, num_messages: int, timeout: float, /) -> list[Message]: ...
    def poll(self, timeout: float, /) -> Message | None: ...


def receive(consumer: Fetching, batch_max: int, timeout: float) -> list[Message]:
    """Everything already fetched (up to ``batch_max``) at once; when nothing is, wait for the first message.

    ``consume(n, timeout)`` would hold the batch until ``n`` messages or the whole timeout, adding that wait
    to every message at moderate load. This never waits while messages are there: under load batches grow
    by themselves (messages queue up while earlier batches are in Triton), and at low load each message
    goes on at once, to be batched with others by Triton's dynamic batcher if they meet there.
    """
    msgs: list[Message] = consumer.consume(batch_max, 0)
    if msgs or timeout <= 0:
        return msgs
    first = consumer.poll(timeout)
    if first is None:
        return []
    return [first, *consumer.consume(batch_max - 1, 0)] if batch_max > 1 else [first]
