"""The streaming worker: ``transactions`` -> Triton -> ``fraud-verdicts`` / ``fraud-alerts`` / DLQ.

A thin loop over pure stages, so the logic is testable without a broker (docs/architecture.md, "The
consumer's stages"):

- :mod:`consumer.worker`: the confluent-kafka loop, rebalance callbacks, drain; ``run(settings)``.
- :mod:`consumer.core`: moves batches between the stages; holds the pipeline state, no client.
- stages, in order: :mod:`consumer.intake` (decode, DLQ records), :mod:`consumer.requests`,
  :mod:`consumer.scoring` (Triton), :mod:`consumer.verdicts`, :mod:`consumer.pipeline` (the output
  ``STAGES``: :mod:`consumer.outputs`, :mod:`consumer.shadow`), :mod:`consumer.sink`, :mod:`consumer.offsets`.
- beside them: :mod:`consumer.flow`, :mod:`consumer.retry`, :mod:`consumer.model_follow`,
  :mod:`consumer.monitoring`, :mod:`consumer.spans`, :mod:`consumer.metrics`, :mod:`consumer.batch`,
  :mod:`consumer.scored`, and the pure helpers :mod:`consumer.decode`, :mod:`consumer.dlq`, :mod:`consumer.drift`.
- :mod:`consumer.settings`: the one ``Settings`` class (shared Kafka/Triton keys plus ``CONSUMER_*``).
"""
