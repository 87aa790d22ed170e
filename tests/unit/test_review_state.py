"""The review service's pure state: newest alerts, latest labels, precision per window, unreviewed share."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from prometheus_client import CollectorRegistry, generate_latest

from review.metrics import QualityCollector
from review.page import render_error, render_page, trip_summary
from review.state import ReviewState

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def stamp(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def alert(tid: str, reason: str = "Fare $400.00 is 33x the usual for this trip", family: str = "fare") -> dict:
    return {
        "transaction_id": tid,
        "is_fraud": True,
        "score": 9.5,
        "threshold": 4.2,
        "reasons": [reason],
        "reason_details": [{"family": family, "text": reason, "evidence": {}}],
        "model_version": "1",
        "scored_at": stamp(1),
        "transaction": {"trip_distance": 1.0, "fare_amount": 400.0, "duration_minutes": 8},
    }


def label(tid: str, value: str, minutes_ago: float) -> dict:
    return {"transaction_id": tid, "label": value, "analyst": None, "note": None, "labelled_at": stamp(minutes_ago)}


def test_precision_windows_replacement_and_unreviewed() -> None:
    state = ReviewState(max_alerts=100)
    for i in range(10):
        state.add_alert(alert(f"a{i}"))
    state.add_label(label("a0", "fraud", 5))
    state.add_label(label("a1", "legit", 5))
    state.add_label(label("a2", "fraud", 120))  # outside 15m and 1h, inside 24h
    state.add_label(label("a3", "legit", 30))
    state.add_label(label("a3", "fraud", 2))  # corrected: the latest label wins
    state.add_label(label("zz", "fraud", 1))  # not an alert: a missed fraud, left out of precision
    q = state.quality(NOW)
    assert q.windows["15m"] == (2, 3)
    assert q.windows["1h"] == (2, 3)
    assert q.windows["24h"] == (3, 4)
    assert q.precision("all") == 0.75
    assert q.unreviewed_alerts == 6 and q.unreviewed_share == 0.6
    family = state.rows()[0].alert.family
    assert q.labelled == {("fraud", family): 3, ("legit", family): 1, ("fraud", "unknown"): 1}


def test_rows_newest_first_filtered_and_bounded() -> None:
    state = ReviewState(max_alerts=3)
    for i in range(5):
        state.add_alert(
            alert(f"a{i}", "Tip $90.00 is 80% of the fare", "tip") if i % 2 else alert(f"a{i}", "Fare $400.00 is 33x")
        )
    assert [r.alert.transaction_id for r in state.rows(status="all")] == ["a4", "a3", "a2"]
    families = state.families()
    assert sum(families.values()) == 3 and len(families) == 2
    tip = next(f for f in families if f != state.rows(status="all")[0].alert.family)
    assert [r.alert.transaction_id for r in state.rows(family=tip, status="all")] == ["a3"]
    state.add_label(label("a4", "legit", 1))
    assert [r.alert.transaction_id for r in state.rows(status="unreviewed")] == ["a3", "a2"]
    assert [r.alert.transaction_id for r in state.rows(status="labelled")] == ["a4"]
    assert state.add_alert({"no": "id"}) is None


def test_metrics_and_page_show_the_same_figures() -> None:
    state = ReviewState(max_alerts=100)
    state.add_alert(alert("a1"))
    state.add_alert(alert("a2"))
    state.add_label({**label("a1", "fraud", 0), "labelled_at": datetime.now(timezone.utc).isoformat()})
    registry = CollectorRegistry()
    registry.register(QualityCollector(state))
    text = generate_latest(registry).decode()
    assert 'review_label_precision{window="1h"} 1.0' in text
    assert "review_alerts_unreviewed_ratio 0.5" in text
    assert 'review_labelled_alerts_in_window{window="15m"} 1.0' in text
    html = render_page(state.rows(status="all"), state.quality(), state.families(), None, "all")
    assert "a1" in html and "a2" in html and "confirmed fraud" in html and "50.0%" in html
    assert "http://" not in html and "https://" not in html  # nothing from the internet
    assert "8.00 min" in trip_summary({"duration_minutes": 8, "fare_amount": 400.0})


def test_precision_per_version_live_from_alerts_shadow_from_its_verdicts() -> None:
    state = ReviewState(max_alerts=100)
    for i in range(4):
        state.add_alert(alert(f"a{i}"))  # live version "1" flagged all four
    # the shadow version "2" flags a0 and a1 only, and a transaction the live one let through
    for tid, flagged, live in (("a0", True, True), ("a1", True, True), ("a2", False, True), ("a3", False, True)):
        assert state.add_shadow(
            {"transaction_id": tid, "model_version": "2", "is_fraud": flagged, "live_is_fraud": live}
        )
    assert state.add_shadow({"transaction_id": "x", "model_version": "2", "is_fraud": True, "live_is_fraud": False})
    assert (
        state.add_shadow({"transaction_id": "n", "model_version": "2", "is_fraud": False, "live_is_fraud": False})
        is False
    )
    for tid, value in (("a0", "fraud"), ("a1", "fraud"), ("a2", "legit"), ("a3", "legit"), ("x", "fraud")):
        state.add_label(label(tid, value, 1))
    q = state.quality(NOW)
    assert q.versions["1"] == (2, 4)  # live: half of its labelled alerts were fraud
    assert q.versions["2"] == (3, 3)  # shadow: everything it flagged and someone labelled was fraud


def test_page_template_escapes_wire_fields_and_keeps_its_controls() -> None:
    state = ReviewState(max_alerts=100)
    state.add_alert(alert("a1", 'Fare "<script>alert(1)</script>" & more'))
    state.add_label({**label("a1", "legit", 0), "analyst": "<b>eve</b>"})
    html = render_page(state.rows(status="all"), state.quality(NOW), state.families(), None, "all", "<i>saved</i>")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>eve</b>" not in html and "false alarm</span> by &lt;b&gt;eve&lt;/b&gt;" in html
    assert "&lt;i&gt;saved&lt;/i&gt;" in html
    assert 'data-transaction-id="a1"' in html and html.count('<button type="submit" name="label"') == 2
    assert "e.key === 'j'" in html and "tr.selected{outline" in html  # the inline script and style, no CDN
    assert 'href="/?status=unreviewed"' in html and 'aria-current="page">all</a>' in html  # status filters
    empty = render_page([], state.quality(NOW), {}, "fare", "unreviewed")
    assert "No alerts match" in empty and 'href="/?family=fare&amp;status=unreviewed"' in empty
    assert "&lt;x&gt;" in render_error(422, "<x>")


def test_alert_family_comes_from_the_structured_reason_when_there_is_one() -> None:
    state = ReviewState(max_alerts=10)
    details = [{"family": "tip", "text": "Fare $400.00 is 33x the usual", "evidence": {}}]
    structured = state.add_alert({**alert("s1"), "reason_details": details})
    assert structured is not None and structured.family == "tip"  # the words would say "fare"
    legacy = state.add_alert({k: v for k, v in alert("l1").items() if k != "reason_details"})
    assert legacy is not None and legacy.family == "other"  # no structured reason: the words are not parsed
    bare = state.add_alert({**alert("b1"), "reasons": [], "reason_details": []})
    assert bare is not None and bare.family == "other"
