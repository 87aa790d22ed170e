"""The small pure parts around the core: the model-version selector, flow control, retry delays, intake."""

from __future__ import annotations

import threading

import pytest

from consumer.flow import FlowControl, TritonHealth
from consumer.intake import admit, decode, dlq_outputs
from consumer.offsets import OffsetTracker
from consumer.retry import Backoff, backoff, until_ready
from consumer.shadow import agreement
from taxifraud.families import alert_family
from taxifraud.model_control import ModelControl, VersionSelector
from tests.consumer.fakes import TOPIC, FakeMessage, tx


def selector(serving: set[str]) -> tuple[VersionSelector, list[tuple[str, str, str]]]:
    fallbacks: list[tuple[str, str, str]] = []
    chosen = VersionSelector(
        "1", lambda v: None if v in serving else "not loaded", lambda *args: fallbacks.append(args)
    )
    return chosen, fallbacks


def test_selector_follows_servable_versions() -> None:
    chosen, fallbacks = selector({"1", "2"})
    assert chosen.apply(ModelControl("m", "1", shadow="2", action="shadow"))
    assert chosen.roles() == ("1", "2")
    assert chosen.apply(ModelControl("m", "2", previous="1", action="promote"))
    assert chosen.roles() == ("2", None) and fallbacks == []
    assert not chosen.apply(ModelControl("m", "2", previous="1", action="promote")), "same roles: no change"
    assert not chosen.apply(None)


def test_selector_keeps_the_last_good_live_version_loudly(caplog: pytest.LogCaptureFixture) -> None:
    chosen, fallbacks = selector({"1"})
    assert not chosen.apply(ModelControl("m", "2", previous="1", action="promote"))
    assert chosen.roles() == ("1", None)
    assert fallbacks == [("live", "2", "not loaded")]
    assert "cannot be served" in caplog.text and "staying on live version 1" in caplog.text


def test_selector_drops_an_unservable_shadow_and_takes_it_up_once_it_loads() -> None:
    serving = {"1"}
    chosen, fallbacks = selector(serving)
    assert not chosen.apply(ModelControl("m", "1", shadow="2", action="shadow"))
    assert chosen.roles() == ("1", None) and fallbacks == [("shadow", "2", "not loaded")]
    assert not chosen.recheck(), "still not loaded"
    assert len(fallbacks) == 1, "a recheck is not a new fallback"
    serving.add("2")
    assert chosen.recheck() and chosen.roles() == ("1", "2")
    assert not chosen.recheck()


def test_flow_pauses_when_the_pipeline_stays_full_and_resumes_with_room() -> None:
    flow = FlowControl(max_in_flight=2, max_unacked=3, pause_after_s=1.0)
    assert flow.decide(0.0, scoring=2, producing=0, triton_down=False) is None, "full, not yet for long"
    assert flow.decide(1.0, scoring=2, producing=0, triton_down=False) == (
        True,
        "pipeline full (Triton or broker slow)",
    )
    flow.paused = True
    assert flow.decide(1.5, scoring=1, producing=3, triton_down=False) is None, "still full (unacked)"
    assert flow.decide(2.0, scoring=1, producing=2, triton_down=False) == (False, "Triton available, pipeline has room")


def test_flow_pauses_at_once_while_triton_is_down() -> None:
    flow = FlowControl(max_in_flight=4, max_unacked=32, pause_after_s=1.0)
    assert flow.decide(0.0, 1, 0, triton_down=True) == (True, "Triton unavailable")
    flow.paused = True
    assert flow.decide(5.0, 1, 0, triton_down=True) is None


def test_only_a_call_made_after_the_outage_began_ends_it() -> None:
    health = TritonHealth()
    assert health.failed(10.0) and not health.failed(11.0)
    assert not health.answered(submitted_at=9.0), "sent before the outage: may just have been lucky"
    assert health.down
    assert health.answered(submitted_at=12.0) and not health.down


def test_backoff_grows_to_its_cap_with_bounded_jitter() -> None:
    delays = Backoff(0.1, 1.0)
    first, fourth, far = delays.delay(1), delays.delay(4), delays.delay(50)
    assert 0.1 <= first <= 0.2
    assert 0.8 <= fourth <= 0.9
    assert 1.0 <= far <= 1.1


def test_until_ready_retries_then_returns_and_gives_up_on_stop() -> None:
    stopping = threading.Event()
    tries: list[int] = []

    def flaky() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionError("not yet")
        return "up"

    assert until_ready(flaky, "thing", stopping, backoff(0.001, 0.001)) == "up" and len(tries) == 3

    def never() -> str:
        stopping.set()
        raise ConnectionError("down")

    assert until_ready(never, "thing", stopping, backoff(0.001, 0.001)) is None


def test_intake_skips_offsets_in_flight_and_registers_one_unit_per_partition() -> None:
    tracker = OffsetTracker()
    msgs = [FakeMessage(TOPIC, 0, o, tx(o)) for o in range(3)] + [FakeMessage(TOPIC, 1, 9, tx(9))]
    keep, units = admit(msgs, tracker)
    assert len(keep) == 4 and [(u.owner.tp, u.first, u.last) for u in units] == [
        ((TOPIC, 0), 0, 2),
        ((TOPIC, 1), 9, 9),
    ]
    again, units2 = admit([FakeMessage(TOPIC, 0, o, tx(o)) for o in range(1, 5)], tracker)
    assert [m.offset() for m in again] == [3, 4] and [(u.first, u.last) for u in units2] == [(3, 4)]


def test_decode_names_anonymous_transactions_by_position_and_dlqs_poison() -> None:
    msgs = [FakeMessage(TOPIC, 2, 7, b'{"trip_distance": 1, "fare_amount": 5, "duration_minutes": 3}')]
    msgs.append(FakeMessage(TOPIC, 2, 8, b"nope", key=b"k"))
    batch = decode(1, list(msgs), [], [])
    assert batch.decoded.transactions[0]["transaction_id"] == f"{TOPIC}-2-7"
    [record] = dlq_outputs(batch, "dlq")
    assert (record.topic, record.value, record.key) == ("dlq", b"nope", b"k")
    assert dict(record.headers or [])["dlq.offset"] == b"8"
    assert batch.dlq_kinds == {"not_json": 1}


def test_alert_family_and_shadow_agreement_labels() -> None:
    assert alert_family({"reasons": []}) == "other"  # the review page files it under the same family
    details = [{"family": "fare", "text": "fare ...", "evidence": {}}, {"family": "tip", "text": "tip", "evidence": {}}]
    assert alert_family({"reasons": ["fare ...", "tip"], "reason_details": details}) == "fare"
    assert alert_family({"reasons": ["fare ..."]}) == "other"  # no structured reason: never parsed from words
    assert [agreement(a, b) for a, b in ((True, True), (False, False), (True, False), (False, True))] == [
        "agree_fraud",
        "agree_legit",
        "live_only",
        "shadow_only",
    ]
