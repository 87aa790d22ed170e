"""``taxifraud verdicts``: read verdicts (or alerts, or the DLQ) from the broker and print them.

A read-only consumer with its own throwaway group and no commits, so it never disturbs the real
consumers' offsets.
"""

from __future__ import annotations

import logging
import sys
import uuid

import orjson
from confluent_kafka import Consumer

from taxifraud.config import KafkaSettings
from taxifraud.kafka import consumer_config

log = logging.getLogger(__name__)


def tail_topic(topic: str | None, follow: bool = False, limit: int = 20, idle_timeout_s: float = 5.0) -> int:
    settings = KafkaSettings()
    name = topic or settings.topic_verdicts
    conf = consumer_config(settings, f"taxifraud-tail-{uuid.uuid4().hex[:8]}", **{"enable.auto.commit": False})
    consumer = Consumer(conf)
    consumer.subscribe([name])
    shown = 0
    idle = 0.0
    try:
        while follow or shown < limit:
            msg = consumer.poll(0.5)
            if msg is None:
                idle += 0.5
                if not follow and idle >= idle_timeout_s:
                    break
                continue
            if msg.error():
                log.warning("read error on %s: %s", name, msg.error())
                continue
            idle = 0.0
            value = msg.value() or b""
            try:
                text = orjson.dumps(orjson.loads(value)).decode()
            except orjson.JSONDecodeError:
                text = value.decode(errors="replace")
            sys.stdout.write(text + "\n")  # the records are this command's output, one JSON per line
            sys.stdout.flush()
            shown += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return 0
