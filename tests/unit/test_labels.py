"""Labels: what the gateway's POST /labels and the review page accept, and how readers fold them."""

from __future__ import annotations

import orjson
import pytest

from taxifraud.confusion import Confusion, precision
from taxifraud.labels import LabelBook, LabelRejected, label_record, parse_labels, precision_recall, validate_labels


def test_one_label_and_a_batch_are_accepted() -> None:
    [one], is_batch = parse_labels(b'{"transaction_id": "abc-1", "label": "fraud"}', 10)
    assert one == {"transaction_id": "abc-1", "label": "fraud"} and not is_batch
    body = [{"transaction_id": f"t{i}", "label": "legit", "analyst": " ana ", "note": "ok"} for i in range(3)]
    labels, is_batch = parse_labels(orjson.dumps(body), 10)
    assert is_batch and [lb["transaction_id"] for lb in labels] == ["t0", "t1", "t2"]
    assert labels[0]["analyst"] == "ana"  # trimmed


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"transaction_id": "t1", "label": "maybe"}, "label", 422),
        ({"transaction_id": "t1"}, "label", 422),
        ({"label": "fraud"}, "transaction_id", 422),
        ({"transaction_id": "has space", "label": "fraud"}, "transaction_id", 422),
        ({"transaction_id": "x" * 65, "label": "fraud"}, "transaction_id", 422),
        ({"transaction_id": 12, "label": "fraud"}, "transaction_id", 422),
        ({"transaction_id": "t1", "label": "fraud", "score": 1}, "score", 422),
        ({"transaction_id": "t1", "label": "fraud", "note": "n" * 2001}, "note", 422),
    ],
)
def test_invalid_labels_are_rejected_naming_the_field(body: dict, field: str, status: int) -> None:
    with pytest.raises(LabelRejected) as info:
        validate_labels(body, 10)
    assert info.value.status == status
    assert isinstance(info.value.detail, list)
    assert any(issue["loc"][-1] == field for issue in info.value.detail), info.value.detail


def test_batch_limits_and_positions() -> None:
    with pytest.raises(LabelRejected) as info:
        validate_labels([{"transaction_id": "a", "label": "fraud"}] * 3, 2)
    assert info.value.status == 413
    with pytest.raises(LabelRejected) as info:
        validate_labels([], 2)
    assert info.value.status == 422
    with pytest.raises(LabelRejected) as info:
        validate_labels([{"transaction_id": "a", "label": "fraud"}, {"transaction_id": "b", "label": "x"}], 5)
    assert [issue["loc"][:2] for issue in info.value.detail] == [["body", 1]]  # type: ignore[index]
    with pytest.raises(LabelRejected):
        parse_labels(b"{not json", 5)


def test_record_and_book_latest_label_wins() -> None:
    record = label_record({"transaction_id": "t1", "label": "fraud"}, "2026-12-01T10:00:00.000000Z")
    assert record == {
        "transaction_id": "t1",
        "label": "fraud",
        "analyst": None,
        "note": None,
        "labelled_at": "2026-12-01T10:00:00.000000Z",
    }
    book = LabelBook()
    book.add(record)
    book.add({**record, "label": "legit", "labelled_at": "2026-12-01T10:05:00.000000Z"})
    assert len(book) == 1 and book.get("t1") is not None and book.get("t1").label == "legit"  # type: ignore[union-attr]
    assert book.add({"transaction_id": "t2", "label": "unsure", "labelled_at": "x"}) is None


def test_precision_recall() -> None:
    figures = precision_recall([(True, "fraud"), (True, "fraud"), (True, "legit"), (False, "fraud"), (False, "legit")])
    assert figures["precision"] == pytest.approx(2 / 3)
    assert figures["recall"] == pytest.approx(2 / 3)
    assert precision_recall([])["precision"] is None


def test_one_precision_for_every_reader() -> None:
    """taxifraud.confusion: the definitions the labels, the review page and the demo all use."""
    c = Confusion.count([(True, True), (True, True), (True, False), (False, True), (False, False), (False, False)])
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 2)
    assert c.precision == pytest.approx(2 / 3) and c.recall == pytest.approx(2 / 3) and c.fpr == pytest.approx(1 / 3)
    assert precision(0, 0) is None and Confusion().recall is None and Confusion().fpr is None  # undefined, not 0
    assert precision(0, 3) == 0.0
