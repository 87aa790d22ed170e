"""The pipeline's core with a fake producer and a fake Triton: no broker, no server, deterministic.

These pin the rules the integration tests can only sample: an offset is stored only after every output
up to it is acknowledged; a DLQ record is a message's output; a failed Triton call pauses the partitions
and a later success resumes them; a failed delivery is produced again; revoked partitions are dropped;
an output stage added to the pipeline is covered by the same rules.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson
import pytest
from prometheus_client import CollectorRegistry

from consumer import pipeline
from consumer.core import Core
from consumer.metrics import ConsumerMetrics
from consumer.model_follow import ModelFollower
from consumer.monitoring import DriftMonitor
from consumer.offsets import TopicPartitionKey
from consumer.outputs import Output
from consumer.settings import Settings
from consumer.sink import OutputSink
from taxifraud.config import DEFAULT_MODEL_VERSION
from tests.consumer.fakes import META, TOPIC, FakeMessage, FakeProducer, FakeTriton, tx


@dataclass
class Rig:
    core: Core
    producer: FakeProducer
    triton: FakeTriton
    metrics: ConsumerMetrics
    settings: Settings
    models: ModelFollower
    stored: dict[TopicPartitionKey, int] = field(default_factory=dict)

    def dispatch(self, msgs: list[FakeMessage]) -> None:
        self.core.dispatch(msgs)

    def step(self) -> None:
        """One loop turn as the worker makes it: harvest Triton, account acks, apply flow control."""
        self.core.advance(1e12)
        self.stored.update(self.core.finish())
        decision = self.core.flow_step(1e12)
        if decision is not None:
            self.core.flow.paused = decision[0]


@pytest.fixture
def rig() -> Iterator[Rig]:
    settings = Settings(
        consumer_metrics_port=0, consumer_retry_backoff_ms=1, consumer_retry_backoff_max_ms=1, _env_file=None
    )
    metrics = ConsumerMetrics(META.threshold, registry=CollectorRegistry())
    producer, triton = FakeProducer(), FakeTriton()
    models = ModelFollower(settings, DEFAULT_MODEL_VERSION, META, metrics, lambda version: None)
    core = Core(
        settings, metrics, triton, OutputSink(producer, threading.Event()), models, DriftMonitor(META.baseline, 100)
    )
    models.metas.update({"1": META, "2": META})
    yield Rig(core, producer, triton, metrics, settings, models)


def test_offsets_are_stored_only_after_every_output_is_acknowledged(rig: Rig) -> None:
    producer, triton = rig.producer, rig.triton
    rig.dispatch([FakeMessage(TOPIC, 0, o, tx(o)) for o in range(5)] + [FakeMessage(TOPIC, 1, 7, tx(7))])
    triton.answer(fraud_rows=(2,))
    rig.step()
    topics = [s[0] for s in producer.sent]
    assert topics.count(rig.settings.topic_verdicts) == 6 and topics.count(rig.settings.topic_alerts) == 1
    assert rig.stored == {}, "nothing stored before the broker acknowledged"
    producer.ack_all()
    rig.step()
    assert rig.stored == {(TOPIC, 0): 5, (TOPIC, 1): 8}
    verdict = orjson.loads(producer.sent[0][1] or b"")
    assert producer.sent[0][2] == b"tx0" and verdict["transaction_id"] == "tx0"
    alert = orjson.loads(next(s[1] or b"" for s in producer.sent if s[0] == rig.settings.topic_alerts))
    assert alert["transaction"]["i"] == 2 and alert["reasons"]


def test_a_later_batch_cannot_store_past_an_earlier_unacknowledged_one(rig: Rig) -> None:
    producer, triton = rig.producer, rig.triton
    rig.dispatch([FakeMessage(TOPIC, 0, o, tx(o)) for o in range(3)])
    first = triton.calls[-1][1]
    rig.dispatch([FakeMessage(TOPIC, 0, o, tx(o)) for o in range(3, 6)])
    triton.answer()  # the second batch is scored first
    rig.step()
    producer.ack_all()
    rig.step()
    assert rig.stored == {}, "batch 2 is acknowledged but batch 1 is not even scored"
    triton.calls.pop()
    triton.calls[-1] = (triton.calls[-1][0], first)
    triton.answer()
    rig.step()
    producer.ack_all()
    rig.step()
    assert rig.stored == {(TOPIC, 0): 6}


def test_poison_goes_to_the_dlq_and_its_ack_counts_as_output(rig: Rig) -> None:
    producer = rig.producer
    rig.dispatch([FakeMessage(TOPIC, 1, 40, b"{broken", key=b"k1"), FakeMessage(TOPIC, 1, 41, b"[]", key=b"k2")])
    assert [s[0] for s in producer.sent] == [rig.settings.topic_dlq] * 2
    _topic, value, key, headers, _ = producer.sent[0]
    assert (value, key) == (b"{broken", b"k1")
    assert dict(headers)["dlq.offset"] == b"40" and dict(headers)["dlq.partition"] == b"1"
    rig.step()
    assert rig.stored == {}
    producer.ack_all()
    rig.step()
    assert rig.stored == {(TOPIC, 1): 42}


def test_triton_failure_pauses_and_success_resumes_without_losing_the_batch(rig: Rig) -> None:
    producer, triton, core = rig.producer, rig.triton, rig.core
    rig.dispatch([FakeMessage(TOPIC, 0, o, tx(o)) for o in range(4)])
    triton.fail()
    rig.step()
    assert core.flow.paused and core.health.down
    rig.step()  # the retry is due (backoff 1 ms)
    assert len(triton.calls) == 2, "retried"
    triton.fail()
    rig.step()
    rig.step()
    assert core.flow.paused and len(triton.calls) == 3
    triton.answer()
    rig.step()
    assert not core.flow.paused and not core.health.down
    producer.ack_all()
    rig.step()
    assert rig.stored == {(TOPIC, 0): 4}


def test_failed_delivery_is_produced_again_before_the_offset_moves(rig: Rig) -> None:
    producer, triton = rig.producer, rig.triton
    rig.dispatch([FakeMessage(TOPIC, 0, 0, tx(0)), FakeMessage(TOPIC, 0, 1, tx(1))])
    triton.answer()
    rig.step()
    producer.fail_next = 1
    producer.ack_all()
    rig.step()
    assert rig.stored == {}
    assert len(producer.sent) == 3, "the failed verdict was produced again"
    producer.ack_all()
    rig.step()
    assert rig.stored == {(TOPIC, 0): 2}


def test_revoked_partitions_are_dropped_and_not_produced(rig: Rig) -> None:
    producer, triton = rig.producer, rig.triton
    rig.dispatch([FakeMessage(TOPIC, 0, 0, tx(0)), FakeMessage(TOPIC, 1, 0, tx(100))])
    rig.core.forget({(TOPIC, 1)})  # what on_revoke ends with (the drain could not finish: Triton slow)
    triton.answer()
    rig.step()
    assert [s[2] for s in producer.sent] == [b"tx0"], "the revoked partition's row is left to its new owner"
    producer.ack_all()
    rig.step()
    assert rig.stored == {(TOPIC, 0): 1}


def test_redelivered_offsets_already_in_flight_are_ignored(rig: Rig) -> None:
    triton = rig.triton
    rig.dispatch([FakeMessage(TOPIC, 0, o, tx(o)) for o in range(3)])
    rig.dispatch([FakeMessage(TOPIC, 0, o, tx(o)) for o in range(2, 5)])  # fetch restarted behind us
    assert len(triton.calls[-1][0]) == 2


def test_an_added_stage_is_one_line_and_its_records_gate_the_offset(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    def per_vehicle(scored: pipeline.Scored) -> list[Output]:
        return [Output("vehicle-state", b"{}", v["transaction_id"].encode()) for v in scored.verdicts]

    monkeypatch.setattr(pipeline, "STAGES", (*pipeline.STAGES, per_vehicle))
    rig.dispatch([FakeMessage(TOPIC, 0, 0, tx(0))])
    rig.triton.answer()
    rig.step()
    assert [s[0] for s in rig.producer.sent] == [rig.settings.topic_verdicts, "vehicle-state"]
    rig.producer.unacked.pop(0)[0](None, None)  # only the verdict is acknowledged
    rig.step()
    assert rig.stored == {}
    rig.producer.ack_all()
    rig.step()
    assert rig.stored == {(TOPIC, 0): 1}


def test_shadow_verdicts_are_outputs_and_counted_by_agreement(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rig.models, "roles", lambda: ("1", "2"))
    rig.dispatch([FakeMessage(TOPIC, 0, o, tx(o)) for o in range(3)])
    assert rig.triton.versions[-1] == ("1", "2")
    rig.triton.answer(fraud_rows=(0,), shadow_fraud_rows=(1,))
    rig.step()
    shadow = [orjson.loads(s[1] or b"") for s in rig.producer.sent if s[0] == rig.settings.topic_verdicts_shadow]
    assert [v["live_is_fraud"] for v in shadow] == [True, False, False]
    rig.producer.ack_all()
    rig.step()
    assert rig.stored == {(TOPIC, 0): 3}
    counted = {
        s.labels["agreement"]: s.value
        for s in next(iter(rig.metrics.shadow_verdicts.collect())).samples
        if s.name.endswith("_total")
    }
    assert counted == {"live_only": 1, "shadow_only": 1, "agree_legit": 1}


def test_a_failed_shadow_costs_only_its_own_verdicts(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rig.models, "roles", lambda: ("1", "2"))
    rig.dispatch([FakeMessage(TOPIC, 0, 0, tx(0))])
    rig.triton.answer()  # no shadow outputs: its call failed
    rig.step()
    assert [s[0] for s in rig.producer.sent] == [rig.settings.topic_verdicts]
    assert rig.metrics.shadow_errors._value.get() == 1


def test_spans_are_observed_per_transaction_once_acknowledged(rig: Rig) -> None:
    rig.dispatch([FakeMessage(TOPIC, 0, o, tx(o)) for o in range(4)])
    rig.triton.answer()
    rig.step()
    rig.producer.ack_all()
    rig.step()
    counts = {s.labels["span"]: s.value for s in rig.metrics.spans.collect()[0].samples if s.name.endswith("_count")}
    # broker_hop needs the gateway's ingested_at, which these trips do not carry
    assert counts == {
        "broker_hop": 0,
        "decode": 4,
        "consumer_wait": 4,
        "triton_call": 4,
        "verdict_build": 4,
        "verdict_produce_ack": 4,
    }
