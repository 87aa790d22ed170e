"""``taxifraud demo --review``: an analyst stand-in that closes the loop during the demo.

It labels a share of the alerts as they arrive, from the injected ground truth (an injected fraud is
``fraud``, anything else ``legit``), through the gateway's ``POST /labels``, exactly as an analyst's clicks
or a case system would. The review service then computes the labelled precision from those labels, and
the demo shows it beside the precision it measures itself against the injected labels: the two agree
only if every label went through gateway, broker and review service.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass

import httpx

from operations.labels import post_labels
from operations.replay import LabelledTrips
from operations.verdict_collector import VerdictCollector
from taxifraud.confusion import precision

log = logging.getLogger(__name__)
BATCH = 500


@dataclass(frozen=True)
class ReviewCounts:
    labelled: int
    labelled_fraud: int
    errors: int

    @property
    def precision(self) -> float | None:
        """Precision on the labelled alerts by the injected ground truth (what the labels say)."""
        return precision(self.labelled_fraud, self.labelled - self.labelled_fraud)


class DemoReviewer:
    """Labels ``share`` of the alerts the collector has seen, once each, every ``interval`` seconds."""

    def __init__(
        self,
        collector: VerdictCollector,
        trips: LabelledTrips,
        gateway_url: str,
        share: float,
        seed: int = 0,
        interval: float = 1.0,
    ) -> None:
        self.collector = collector
        self.trips = trips
        self.gateway_url = gateway_url
        self.share = share
        self.interval = interval
        self._rng = random.Random(seed)
        self._considered: set[str] = set()
        self._lock = threading.Lock()
        self._labelled = 0
        self._labelled_fraud = 0
        self._errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-reviewer", daemon=True)

    def start(self) -> DemoReviewer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Label what has arrived so far, then stop."""
        self._stop.set()
        self._thread.join(60)
        self.review_once()

    def counts(self) -> ReviewCounts:
        with self._lock:
            return ReviewCounts(self._labelled, self._labelled_fraud, self._errors)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.review_once()

    def review_once(self) -> None:
        labels = []
        for tid, seen in self.collector.snapshot().items():
            if not seen.is_fraud or tid in self._considered:
                continue
            self._considered.add(tid)
            if self._rng.random() < self.share:
                truth = "fraud" if self.trips.labels.get(tid) else "legit"
                labels.append({"transaction_id": tid, "label": truth, "analyst": "demo-reviewer"})
        for i in range(0, len(labels), BATCH):
            chunk = labels[i : i + BATCH]
            try:
                status, answer = post_labels(chunk, gateway_url=self.gateway_url)
            except httpx.HTTPError as exc:
                status, answer = 0, str(exc)
            with self._lock:
                if status != 202:
                    self._errors += len(chunk)
                    log.warning("labels not stored (%s): %s", status, answer)
                    continue
                self._labelled += len(chunk)
                self._labelled_fraud += sum(1 for lb in chunk if lb["label"] == "fraud")


def review_precision(review_url: str, window: str = "all") -> tuple[float | None, int]:
    """The review service's labelled precision and how many labelled alerts it counts, from its /metrics."""
    precision, count = None, 0
    text = httpx.get(f"{review_url}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(f'review_label_precision{{window="{window}"}} '):
            precision = float(line.rsplit(" ", 1)[1])
        elif line.startswith(f'review_labelled_alerts_in_window{{window="{window}"}} '):
            count = int(float(line.rsplit(" ", 1)[1]))
    return precision, count
