"""Stage 4, outputs: live verdicts and alerts as records to produce, plus what the metrics count.

Pure: records are :class:`Output` tuples; the worker's sink produces them. Rows whose partition was
revoked after they were consumed are skipped (their new owner scores them again), so each transaction
still gets exactly one verdict from the partition's current owner.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import orjson

from consumer.scored import Scored
from taxifraud.families import alert_family
from taxifraud.verdicts import build_alert


class Output(NamedTuple):
    """One record to produce; it counts as an output of its batch until the broker acknowledges it."""

    topic: str
    value: bytes | None
    key: bytes | None
    headers: list[tuple[str, str | bytes | None]] | None = None


def revoked_rows(batch: Any) -> np.ndarray | None:
    """Mask of rows whose partition was revoked since consumption (the new owner re-scores them)."""
    gone = {u.owner.tp for u in batch.units if u.owner.revoked}
    if not gone:
        return None
    msgs = batch.msgs
    return np.array([(msgs[j].topic(), msgs[j].partition()) in gone for j in batch.decoded.index.tolist()])


def live_outputs(scored: Scored) -> list[Output]:
    """A verdict per row to the verdict topic, and an alert per flagged row to the alert topic."""
    batch, skip = scored.batch, scored.skip
    txs = batch.decoded.transactions
    topic_verdicts, topic_alerts = scored.topics.verdicts, scored.topics.alerts
    dumps = orjson.dumps
    out: list[Output] = []
    for i, verdict in enumerate(scored.verdicts):
        if skip is not None and skip[i]:
            continue
        key = verdict["transaction_id"].encode()
        out.append(Output(topic_verdicts, dumps(verdict), key))
        if verdict["is_fraud"]:
            out.append(Output(topic_alerts, dumps(build_alert(verdict, txs[i])), key))
            batch.alert_families[alert_family(verdict)] += 1
            batch.n_fraud += 1
        batch.n_verdicts += 1
    return out
