"""Stage 4b, shadow outputs: the shadow version's verdicts of the same rows, and their agreement.

They go to ``TOPIC_VERDICTS_SHADOW`` only (never to alerts), carry ``live_is_fraud``, and count as outputs
of the batch (at least once, like the live verdicts). A shadow that failed or does not match its metadata
costs only its own verdicts: the stage marks it and returns nothing.
"""

from __future__ import annotations

import logging

import orjson

from consumer.outputs import Output
from consumer.scored import Scored
from taxifraud.verdicts import build_verdicts

log = logging.getLogger(__name__)


def agreement(live_is_fraud: bool, shadow_is_fraud: bool) -> str:
    """The ``agreement`` label of ``consumer_shadow_verdicts_total``."""
    if live_is_fraud == shadow_is_fraud:
        return "agree_fraud" if live_is_fraud else "agree_legit"
    return "live_only" if live_is_fraud else "shadow_only"


def shadow_outputs(scored: Scored) -> list[Output]:
    result, batch, verdicts = scored.result, scored.batch, scored.verdicts
    if result.shadow_version is None:
        return []
    shadow = result.shadow_version
    if result.shadow_outputs is None:
        scored.shadow_failed = True
        log.warning("shadow version %s failed for batch %d: %s", shadow, batch.seq, result.shadow_error)
        return []
    decoded = batch.decoded
    try:
        shadow_verdicts = build_verdicts(
            decoded.transactions, decoded.rows, result.shadow_outputs, scored.meta_of(shadow)
        )
    except (ValueError, IndexError, KeyError, OSError) as exc:
        scored.shadow_failed = True
        log.warning("shadow version %s: outputs do not match its model_meta.json (%s)", shadow, exc)
        return []
    live_name = verdicts[0]["model_version"] if verdicts else ""
    shadow_name = shadow_verdicts[0]["model_version"] if shadow_verdicts else ""
    topic, skip = scored.topics.shadow, scored.skip
    out: list[Output] = []
    for i, (live, other) in enumerate(zip(verdicts, shadow_verdicts, strict=True)):
        if skip is not None and skip[i]:
            continue
        other["live_is_fraud"] = live["is_fraud"]
        out.append(Output(topic, orjson.dumps(other), live["transaction_id"].encode()))
        batch.shadow_agreement[(live_name, shadow_name, agreement(live["is_fraud"], other["is_fraud"]))] += 1
    return out
