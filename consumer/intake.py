"""Stage 1, decode: consumed messages -> a :class:`~consumer.batch.Batch` (rows for Triton, poison for the DLQ).

Pure apart from the clock: it registers each partition's span of offsets with the
:class:`~consumer.offsets.OffsetTracker` (skipping offsets already in flight, which a restarted fetch
can deliver again) and decodes the values with :func:`consumer.decode.decode_batch`. Poison messages
become DLQ records here; they count as that message's output, so its offset moves only once the DLQ
has acknowledged them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from consumer.batch import Batch, Record
from consumer.decode import decode_batch
from consumer.dlq import dlq_headers
from consumer.offsets import OffsetTracker, Unit
from consumer.outputs import Output


def split_errors(msgs: Sequence[Record]) -> tuple[list[Record], list[Any]]:
    """Messages, and the consume errors (``KafkaError``) that came in their place."""
    good: list[Record] = []
    errors: list[Any] = []
    for msg in msgs:
        err = msg.error()
        if err is None:
            good.append(msg)
        else:
            errors.append(err)
    return good, errors


def admit(msgs: Sequence[Record], tracker: OffsetTracker) -> tuple[list[Record], list[Unit]]:
    """The messages not already in flight, and the tracker units they were registered as."""
    spans: dict[tuple[str, int], list[int]] = {}
    keep: list[Record] = []
    for msg in msgs:
        tp = (msg.topic() or "", msg.partition() or 0)
        offset = msg.offset() or 0
        span = spans.get(tp)
        if span is None:
            stored = tracker.last_registered(tp)
            if stored is not None and offset <= stored:
                continue  # already in flight (a fetch restarted behind us): not a new message
            spans[tp] = [offset, offset]
        elif offset <= span[1]:
            continue
        else:
            span[1] = offset
        keep.append(msg)
    units = [tracker.register(tp, first, last) for tp, (first, last) in spans.items()]
    return keep, units


def decode(seq: int, msgs: list[Record], units: list[Unit], sink: list[Batch]) -> Batch:
    """Decode admitted messages into a batch; a message without an id is named ``topic-partition-offset``."""
    started = time.perf_counter()

    def fallback_id(i: int) -> str:
        m = msgs[i]
        return f"{m.topic()}-{m.partition()}-{m.offset()}"

    decoded = decode_batch([m.value() for m in msgs], fallback_id)
    return Batch(seq, msgs, decoded, units, sink, decode_s=time.perf_counter() - started)


def dlq_outputs(batch: Batch, topic: str) -> list[Output]:
    """The batch's poison messages as DLQ records (original key and bytes, where and why in headers)."""
    out: list[Output] = []
    for poison in batch.decoded.poison:
        msg = batch.msgs[poison.index]
        headers: list[tuple[str, str | bytes | None]] = list(
            dlq_headers(poison.error, poison.stage, msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
        )
        out.append(Output(topic, msg.value(), msg.key(), headers))
        batch.dlq_kinds[poison.kind] += 1
    return out
