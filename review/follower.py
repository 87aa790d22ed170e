"""Follows ``fraud-alerts``, ``fraud-labels`` and ``fraud-verdicts-shadow`` from their beginning into a
:class:`review.state.ReviewState`.

Every partition of the three topics is assigned directly (no consumer group, nothing committed): each review
instance builds the whole picture itself on start, and the labels topic is compacted, so reading it from
the beginning costs one record per labelled transaction. The loop is confluent-kafka's usual one (poll,
error branch, close in ``finally``) in a daemon thread; a topic that does not exist yet is waited for.
"""

from __future__ import annotations

import logging
import threading
import uuid

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from review.state import ReviewState
from taxifraud.config import KafkaSettings
from taxifraud.kafka import consumer_config

log = logging.getLogger(__name__)
RDKAFKA_LOG = logging.getLogger("review.rdkafka")


class Follower:
    """Reads both topics into ``state`` until :meth:`stop`; ``caught_up`` is set once the backlog is read."""

    def __init__(self, settings: KafkaSettings, state: ReviewState) -> None:
        self.settings = settings
        self.state = state
        self.stopping = threading.Event()
        self.caught_up = threading.Event()
        self.bad_records = 0
        self._thread = threading.Thread(target=self._run, name="review-follower", daemon=True)

    def start(self) -> Follower:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self._thread.join(timeout)

    def _partitions(self, consumer: Consumer) -> list[TopicPartition]:
        """Every partition of both topics, waiting (with backoff) until both exist."""
        topics = (self.settings.topic_alerts, self.settings.topic_labels, self.settings.topic_verdicts_shadow)
        delay = 0.5
        while not self.stopping.is_set():
            try:
                meta = consumer.list_topics(timeout=5.0)
                found = {t: meta.topics.get(t) for t in topics}
                if all(m is not None and m.error is None and m.partitions for m in found.values()):
                    return [
                        TopicPartition(t, p, OFFSET_BEGINNING)
                        for t, m in found.items()
                        if m is not None
                        for p in sorted(m.partitions)
                    ]
                missing = [t for t, m in found.items() if m is None or m.error is not None or not m.partitions]
                log.warning("topics %s not there yet; retrying in %.1fs", ", ".join(missing), delay)
            except KafkaException as exc:
                log.warning("broker not reachable (%s); retrying in %.1fs", exc, delay)
            self.stopping.wait(delay)
            delay = min(delay * 2, 10.0)
        return []

    def _run(self) -> None:
        conf = consumer_config(
            self.settings,
            group_id=f"review-{uuid.uuid4().hex}",
            **{"enable.auto.commit": False, "enable.partition.eof": True},
        )
        consumer = Consumer(conf, logger=RDKAFKA_LOG)
        try:
            partitions = self._partitions(consumer)
            if not partitions:
                return
            consumer.assign(partitions)
            backlog = {(tp.topic, tp.partition) for tp in partitions}
            log.info("following %s and %s", self.settings.topic_alerts, self.settings.topic_labels)
            alerts_topic, shadow_topic = self.settings.topic_alerts, self.settings.topic_verdicts_shadow
            while not self.stopping.is_set():
                msg = consumer.poll(0.2)
                if msg is None:
                    continue
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        backlog.discard((msg.topic() or "", msg.partition() or 0))
                        if not backlog and not self.caught_up.is_set():
                            log.info("caught up: %d alerts, %d labels", self.state.alerts_read, self.state.labels_read)
                            self.caught_up.set()
                    else:
                        log.warning("consume error: %s", err)
                    continue
                try:
                    record = orjson.loads(msg.value() or b"null")
                except orjson.JSONDecodeError:
                    record = None
                if not isinstance(record, dict):
                    self.bad_records += 1
                    continue
                topic = msg.topic()
                applied: object
                if topic == alerts_topic:
                    applied = self.state.add_alert(record)
                elif topic == shadow_topic:
                    applied = self.state.add_shadow(record)
                else:
                    applied = self.state.add_label(record)
                if applied is None:
                    self.bad_records += 1
        except Exception:
            log.exception("the follower stopped")
        finally:
            consumer.close()
