"""Analyst labels: the one format of a ``fraud-labels`` record, and its validation.

A label says what a person found out about a transaction: ``fraud`` (the alert was right, or a missed
fraud was reported) or ``legit`` (a false alarm). Both ways in, the gateway's ``POST /labels`` and the
review page, validate with :func:`parse_labels`, so a label on the topic always has this shape:

    {"transaction_id", "label": "fraud" | "legit", "analyst": str | null, "note": str | null,
     "labelled_at": RFC 3339 UTC}

The topic is compacted and keyed by ``transaction_id``: a later label of the same transaction replaces
the earlier one, on the broker and in every reader (:class:`LabelBook`), so a corrected mistake stops
counting. Pure code, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, StringConstraints, TypeAdapter, ValidationError, with_config
from pydantic_core import from_json
from typing_extensions import Required, TypedDict

from taxifraud.confusion import Confusion
from taxifraud.rejection import Rejected
from taxifraud.rejection import issue as _issue

#: Same alphabet and length as a transaction's own id (``gateway.schema``), so every id can be labelled.
TRANSACTION_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
LABELS = ("fraud", "legit")
MAX_NOTE_CHARS = 2000
MAX_ANALYST_CHARS = 100
MAX_REPORTED_ERRORS = 50

TransactionId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=TRANSACTION_ID_PATTERN)]
Analyst = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ANALYST_CHARS, strip_whitespace=True)]
Note = Annotated[str, StringConstraints(max_length=MAX_NOTE_CHARS)]


@with_config(ConfigDict(extra="forbid", title="Label", strict=True))
class Label(TypedDict, total=False):
    """What an analyst found out about one transaction."""

    transaction_id: Required[TransactionId]
    label: Required[Literal["fraud", "legit"]]
    analyst: Analyst | None
    note: Note | None


ONE = TypeAdapter(Label)


class LabelRejected(Rejected):
    """The labels cannot be accepted; ``status`` (422, 413) and ``detail`` (issues or a sentence)."""


def _issues(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [
        _issue((*prefix, *err["loc"]), "Unknown field" if err["type"] == "extra_forbidden" else err["msg"], err["type"])
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def validate_labels(data: Any, max_batch: int) -> tuple[list[dict[str, Any]], bool]:
    """Validate a decoded body (one label object or a non-empty array); returns labels and "was an array"."""
    if isinstance(data, dict):
        try:
            return [dict(ONE.validate_python(data))], False
        except ValidationError as exc:
            raise LabelRejected(422, _issues(exc)[:MAX_REPORTED_ERRORS]) from None
    if not isinstance(data, list):
        raise LabelRejected(422, [_issue((), "Input should be a label object or an array of them", "model_type")])
    if not data:
        raise LabelRejected(422, [_issue((), "Batch should contain at least 1 label", "too_short")])
    if len(data) > max_batch:
        raise LabelRejected(413, f"batch of {len(data)} labels exceeds the limit of {max_batch}")
    labels, issues = [], []
    for i, raw in enumerate(data):
        try:
            labels.append(dict(ONE.validate_python(raw)))
        except ValidationError as exc:
            issues.extend(_issues(exc, (i,)))
    if issues:
        raise LabelRejected(422, issues[:MAX_REPORTED_ERRORS])
    return labels, True


def parse_labels(body: bytes, max_batch: int) -> tuple[list[dict[str, Any]], bool]:
    """Decode and validate a JSON request body; raises :class:`LabelRejected`."""
    try:
        data = from_json(body)
    except ValueError as exc:
        raise LabelRejected(422, [_issue((), f"Invalid JSON: {exc}", "json_invalid")]) from None
    return validate_labels(data, max_batch)


def label_record(label: Mapping[str, Any], labelled_at: str) -> dict[str, Any]:
    """The ``fraud-labels`` record of a validated label: every field present, plus when it was labelled."""
    return {
        "transaction_id": label["transaction_id"],
        "label": label["label"],
        "analyst": label.get("analyst"),
        "note": label.get("note"),
        "labelled_at": labelled_at,
    }


@dataclass(frozen=True)
class LabelEntry:
    label: str
    labelled_at: str
    analyst: str | None = None


class LabelBook:
    """The latest label of each transaction, as a compacted topic's reader sees it (later replaces earlier)."""

    def __init__(self) -> None:
        self._latest: dict[str, LabelEntry] = {}

    def add(self, record: Mapping[str, Any]) -> LabelEntry | None:
        """Apply one ``fraud-labels`` record; a record that is not a valid label is ignored (None)."""
        tid, label, at = record.get("transaction_id"), record.get("label"), record.get("labelled_at")
        if not isinstance(tid, str) or label not in LABELS or not isinstance(at, str):
            return None
        entry = LabelEntry(label, at, record.get("analyst"))
        self._latest[tid] = entry
        return entry

    def get(self, transaction_id: str) -> LabelEntry | None:
        return self._latest.get(transaction_id)

    def items(self) -> Iterable[tuple[str, LabelEntry]]:
        return self._latest.items()

    def __len__(self) -> int:
        return len(self._latest)


def precision_recall(pairs: Iterable[tuple[bool, str]]) -> dict[str, float | int | None]:
    """Precision and recall of the model's decisions on labelled transactions.

    ``pairs``: (the model flagged it, the label). Precision is the share of flagged labelled transactions
    labelled ``fraud``; recall the share of ``fraud`` labels the model flagged. None where undefined.
    """
    c = Confusion.count((flagged, label == "fraud") for flagged, label in pairs)
    return {
        "true_positives": c.tp,
        "false_positives": c.fp,
        "false_negatives": c.fn,
        "true_negatives": c.tn,
        "precision": c.precision,
        "recall": c.recall,
    }
