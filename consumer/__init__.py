"""The streaming worker: ``transactions`` -> Triton -> ``fraud-verdicts`` / ``fraud-alerts`` / DLQ.

Layout (pure logic in the middle, I/O at the edges, so the logic is testable without a broker):

- :mod:`consumer.settings`: the one ``Settings`` class (shared Kafka/Triton keys plus ``CONSUMER_*``).
- :mod:`consumer.decode`: pure, bytes -> transactions + the model's input tensor, or a DLQ reason.
- :mod:`consumer.offsets`: pure, which offset may be stored once outputs are acknowledged.
- :mod:`consumer.dlq`: pure, dead-letter headers.
- :mod:`consumer.drift`: pure, population stability index over a rolling window.
- :mod:`consumer.metrics`: the Prometheus metrics of docs/architecture.md.
- :mod:`consumer.scoring`: Triton calls on an asyncio loop in a helper thread, with reconnects.
- :mod:`consumer.worker`: the consume -> score -> produce -> store-offset loop; ``run(settings)``.
"""
