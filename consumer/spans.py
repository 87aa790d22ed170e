"""Where a transaction's time goes inside the consumer: the spans of a completed batch, per transaction.

The spans follow each other without gaps, so they add up to ``consumer_event_to_verdict_seconds``:
broker_hop (the gateway's ``ingested_at`` -> received here), decode, consumer_wait (decoded -> submitted
to Triton, retries included), triton_call, verdict_build (Triton answered -> every output handed to the
producer: the loop noticing the answer, building verdicts, produce calls), verdict_produce_ack (-> the
broker acknowledged every output). Every message of the batch shares its batch's spans but the first.
"""

from __future__ import annotations

from consumer.batch import Batch
from consumer.metrics import SpanHistogram


def observe_spans(spans: SpanHistogram, batch: Batch, now_mono: float) -> None:
    h = spans.spans
    n_msgs = len(batch.msgs)
    h["broker_hop"].observe_many(batch.received_wall - batch.decoded.ingested_at)
    h["decode"].observe(batch.decode_s, n_msgs)
    n = len(batch.decoded.transactions)
    if n and batch.first_submitted and batch.scored_at:
        h["consumer_wait"].observe(max(0.0, batch.first_submitted - batch.received_mono - batch.decode_s), n)
        h["triton_call"].observe(batch.triton_s, n)
        h["verdict_build"].observe(max(0.0, batch.outputs_at - batch.scored_at), n)
    h["verdict_produce_ack"].observe(max(0.0, now_mono - batch.outputs_at), n_msgs)
