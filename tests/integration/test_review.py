"""The analyst review page against the real pipeline, in a real headless Chromium.

An alert produced by the pipeline (gateway -> Kafka -> consumer -> Triton -> fraud-alerts) appears on
the page with its trip, score and reasons; a mouse click labels one "confirmed fraud", the keyboard labels
another "false alarm"; both labels land on the compacted labels topic, and the page and ``/metrics``
show the labelled precision.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from operations.stack import Stack
from tests.browser import Browser, chromium_binary
from tests.integration.kafka_reader import read_until
from tests.trips import FRAUD, NORMAL_FULL

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(chromium_binary() is None, reason="Debian package 'chromium' is not installed"),
]


def wait_for_alerts(stack: Stack, ids: set[str], timeout: float = 90.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = httpx.get(f"{stack.review_url}/api/alerts", params={"status": "all"}, timeout=5).json()
        if ids <= {r["transaction_id"] for r in rows}:
            return rows
        time.sleep(0.5)
    raise AssertionError(f"the review service never listed {sorted(ids)}; it has {[r['transaction_id'] for r in rows]}")


def metric(stack: Stack, sample: str) -> float | None:
    for line in httpx.get(f"{stack.review_url}/metrics", timeout=5).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_review_page_lists_pipeline_alerts_and_labels_them(pipeline: Stack, tmp_path: Path) -> None:
    batch = [dict(NORMAL_FULL, transaction_id=f"rv-normal-{i}") for i in range(20)]
    batch += [dict(FRAUD, transaction_id="rv-fraud-click"), dict(FRAUD, transaction_id="rv-fraud-key")]
    resp = httpx.post(f"{pipeline.gateway_url}/transactions", json=batch, timeout=30)
    assert resp.status_code == 202, resp.text
    rows = wait_for_alerts(pipeline, {"rv-fraud-click", "rv-fraud-key"})
    assert not {r["transaction_id"] for r in rows} & {f"rv-normal-{i}" for i in range(20)}
    family = next(r["family"] for r in rows if r["transaction_id"] == "rv-fraud-click")

    with Browser() as browser:
        browser.goto(pipeline.review_url + "/")
        dom = browser.dom()
        # (the first row also has class "selected": the keyboard selection starts there)
        assert 'data-transaction-id="rv-fraud-click"' in dom, dom[:3000]
        assert browser.evaluate("document.querySelectorAll('tr.alert').length") == 2
        assert "$400.00" in dom and "1.00 mi" in dom  # the trip
        assert "unreviewed" in dom
        alert = next(r for r in rows if r["transaction_id"] == "rv-fraud-click")
        assert f"{alert['score']:.3f}" in dom and alert["reasons"][0].split()[0] in dom  # score and reasons
        assert "http://" not in dom.split("<body", 1)[1].replace(pipeline.review_url, "")  # nothing from elsewhere

        # Filter by reason family: the alert is under its own family, not under another one.
        browser.goto(f"{pipeline.review_url}/?family={family}&status=all")
        assert 'data-transaction-id="rv-fraud-click"' in browser.dom()
        browser.goto(f"{pipeline.review_url}/?family=no-such-family&status=all")
        assert 'data-transaction-id="rv-fraud-click"' not in browser.dom()

        # A mouse click on "Confirmed fraud".
        browser.goto(pipeline.review_url + "/?status=all")
        browser.click('tr[data-transaction-id="rv-fraud-click"] button[value="fraud"]')
        dom = browser.dom()
        click_row = dom.split('data-transaction-id="rv-fraud-click"', 1)[1].split("</tr>", 1)[0]
        assert "confirmed fraud" in click_row

        # The keyboard: j/k to the other alert, then "l" for a false alarm.
        index = browser.evaluate(
            "Array.prototype.findIndex.call(document.querySelectorAll('tr.alert'),"
            " function(r){return r.dataset.transactionId === 'rv-fraud-key';})"
        )
        assert index >= 0
        selected = "document.querySelector('tr.selected').dataset.transactionId"
        browser.press("j")  # moves the selection down a row, "k" back up
        assert browser.evaluate(selected) == ("rv-fraud-click" if index == 0 else "rv-fraud-key")
        browser.press("k")
        for _ in range(index):
            browser.press("j")
        assert browser.evaluate(selected) == "rv-fraud-key"
        browser.press("l", expect_navigation=True)
        dom = browser.dom()
        key_row = dom.split('data-transaction-id="rv-fraud-key"', 1)[1].split("</tr>", 1)[0]
        assert "false alarm" in key_row
        assert "50.0%" in dom  # running precision: one confirmed of two labelled
        shot = browser.screenshot(tmp_path / "review.png")
        assert shot.stat().st_size > 10_000
        keep = os.environ.get("REVIEW_SCREENSHOT")
        if keep:
            shutil.copy(shot, keep)

    labels = read_until(pipeline.bootstrap, pipeline.settings.topic_labels, {"rv-fraud-click", "rv-fraud-key"})
    assert [r["label"] for r in labels["rv-fraud-click"]] == ["fraud"]
    assert [r["label"] for r in labels["rv-fraud-key"]] == ["legit"]
    assert metric(pipeline, 'review_label_precision{window="all"}') == 0.5
    assert metric(pipeline, 'review_labelled_alerts_in_window{window="15m"}') == 2.0
    unreviewed = metric(pipeline, "review_alerts_unreviewed_ratio")
    assert unreviewed is not None and 0 <= unreviewed < 1
