"""``taxifraud recalibrate``: what the analysts' labels say about the threshold, and a new version from it.

Reads every label (``fraud-labels``, compacted: the latest per transaction) and the verdicts of those
transactions (``fraud-verdicts``), then reports, on the labelled transactions, precision and recall at
the live threshold and the lowest threshold whose precision meets the stated budget (``--min-precision``,
by default the model card's figure rounded down: 0.9). ``--write`` writes that threshold as a new model
version (the same graph with the threshold initializer replaced, and its ``model_meta.json``), loads it
into Triton and, with ``--shadow``, starts it as the shadow version: a recalibration is shadowed first,
never shipped straight to live.

Labels come mostly from alerts (what analysts see), so recall here is "of the frauds someone labelled",
an upper bound; a fraud reported by hand for a transaction that was not alerted counts as a miss.
"""

from __future__ import annotations

import collections
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import click
import orjson
from confluent_kafka import Consumer, TopicPartition

from operations.model_versions import LifecycleSettings, current, list_versions, load_in_triton, switch, write_version
from taxifraud.kafka import consumer_config
from taxifraud.labels import LabelBook, precision_recall
from taxifraud.verdicts import utc_now_rfc3339

DEFAULT_MIN_PRECISION = 0.9


@dataclass(frozen=True)
class Labelled:
    transaction_id: str
    score: float
    flagged: bool
    label: str
    model_version: str
    threshold: float


@dataclass(frozen=True)
class Recalibration:
    labelled: int
    current_threshold: float | None
    at_current: dict[str, Any]
    min_precision: float
    threshold: float | None  # None: no threshold reaches the budget on these labels
    at_threshold: dict[str, Any] | None

    def lines(self) -> list[str]:
        def fmt(figures: dict[str, Any] | None) -> str:
            if figures is None:
                return "-"
            p, r = figures["precision"], figures["recall"]
            return (
                f"precision {'-' if p is None else f'{p:.3f}'}, recall {'-' if r is None else f'{r:.3f}'} "
                f"(tp {figures['true_positives']}, fp {figures['false_positives']}, fn {figures['false_negatives']})"
            )

        current = "-" if self.current_threshold is None else f"{self.current_threshold:.4f}"
        out = [
            f"labelled transactions with a verdict: {self.labelled}",
            f"at the live threshold {current}: {fmt(self.at_current)}",
        ]
        if self.threshold is None:
            out.append(f"no threshold reaches precision {self.min_precision:.2f} on these labels")
        else:
            budget = f"lowest threshold with precision >= {self.min_precision:.2f}"
            out.append(f"{budget}: {self.threshold:.4f}: {fmt(self.at_threshold)}")
        return out


def recalibrate(items: Sequence[Labelled], min_precision: float) -> Recalibration:
    """Pure: the figures at the live decisions, and the lowest threshold meeting ``min_precision``.

    Candidate thresholds sit just below each labelled score (a transaction is flagged when score > threshold);
    the lowest one that meets the budget keeps the most recall.
    """
    at_current = precision_recall((i.flagged, i.label) for i in items)
    thresholds = {i.score for i in items}
    used = collections.Counter(i.threshold for i in items)
    current = used.most_common(1)[0][0] if used else None
    best: tuple[float, dict[str, Any]] | None = None
    for score in sorted(thresholds):
        threshold = float(score) - 1e-6
        figures = precision_recall((i.score > threshold, i.label) for i in items)
        if figures["precision"] is not None and figures["precision"] >= min_precision:
            best = (threshold, figures)
            break
    return Recalibration(
        labelled=len(items),
        current_threshold=current,
        at_current=at_current,
        min_precision=min_precision,
        threshold=best[0] if best else None,
        at_threshold=best[1] if best else None,
    )


def read_all(settings: LifecycleSettings, topic: str, timeout: float = 60.0) -> Iterable[dict[str, Any]]:
    """Every record of ``topic`` up to its end now (decoded JSON objects; others skipped)."""
    consumer = Consumer(
        consumer_config(settings, group_id=f"taxifraud-recalibrate-{time.time_ns()}", **{"enable.auto.commit": False})
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return
        ends: dict[int, int] = {}
        assign = []
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
                assign.append(TopicPartition(topic, p, low))
        if not assign:
            return
        consumer.assign(assign)
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            p = msg.partition() or 0
            if (msg.offset() or 0) + 1 >= ends.get(p, 0):
                ends.pop(p, None)
            try:
                record = orjson.loads(msg.value() or b"null")
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record
    finally:
        consumer.close()


def labelled_verdicts(settings: LifecycleSettings) -> list[Labelled]:
    """Labels joined with the (first) verdict of each labelled transaction."""
    book = LabelBook()
    for record in read_all(settings, settings.topic_labels):
        book.add(record)
    labels = dict(book.items())
    out: dict[str, Labelled] = {}
    for v in read_all(settings, settings.topic_verdicts):
        tid = v.get("transaction_id")
        if not isinstance(tid, str) or tid not in labels or tid in out:
            continue
        try:
            score = float(v["score"])
        except (KeyError, TypeError, ValueError):
            continue
        out[tid] = Labelled(
            tid,
            score,
            bool(v.get("is_fraud")),
            labels[tid].label,
            str(v.get("model_version", "")),
            float(v.get("threshold", float("nan"))),
        )
    return list(out.values())


@click.command("recalibrate", help=__doc__)
@click.option("--min-precision", type=float, default=DEFAULT_MIN_PRECISION, show_default=True, help="the budget")
@click.option("--write", is_flag=True, help="write the threshold as a new model version")
@click.option("--shadow", is_flag=True, help="with --write: load it into Triton and shadow it")
def command(min_precision: float, write: bool, shadow: bool) -> int:
    """``taxifraud recalibrate``; returns the exit status (1: --write and no threshold meets the budget)."""
    settings = LifecycleSettings()
    items = labelled_verdicts(settings)
    result = recalibrate(items, min_precision)
    out = sys.stdout
    for line in result.lines():
        out.write(line + "\n")
    if not write:
        return 0
    if result.threshold is None:
        out.write("nothing written: no threshold meets the budget\n")
        return 1
    live = current(settings).live
    info = write_version(
        settings,
        live,
        result.threshold,
        {
            "recalibration": {
                "from_version": live,
                "labelled": result.labelled,
                "min_precision": result.min_precision,
                "precision": result.at_threshold["precision"] if result.at_threshold else None,
                "recall": result.at_threshold["recall"] if result.at_threshold else None,
                "at": utc_now_rfc3339(),
            }
        },
    )
    out.write(f"wrote version {info.version} ({info.model_version}, threshold {info.threshold:.4f})\n")
    if shadow:
        load_in_triton(settings)
        state = switch(settings, "shadow", info.version)
        out.write(f"shadowing: live {state.live}, shadow {state.shadow}\n")
    else:
        out.write(f"next: taxifraud model load && taxifraud model shadow {info.version}\n")
    known = [v.version for v in list_versions(settings)]
    out.write(f"versions now: {', '.join(known)}\n")
    return 0
