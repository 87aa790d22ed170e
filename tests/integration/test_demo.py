"""``make demo``, short: the README's first command runs to the end, exits 0, and leaves its report and PNG;
with ``--review`` it also closes the label loop.

It runs exactly what ``make demo`` runs (``.venv/bin/taxifraud demo``), as a separate process that starts
and stops its own whole stack, with a 15 s replay instead of 60 s, every port free (``STACK_*_PORT``)
and everything written under this test's own directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from operations.stack import free_ports
from taxifraud.config import REPO_ROOT

pytestmark = pytest.mark.integration

DURATION_S = 15
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def demo_command() -> list[str]:
    entry = Path(sys.executable).with_name("taxifraud")  # what `make demo` calls: .venv/bin/taxifraud
    return [str(entry)] if entry.exists() else [sys.executable, "-m", "operations.cli"]


def stack_env(run_dir: Path) -> dict[str, str]:
    """The environment with a free port for every ``STACK_*_PORT`` setting the stack has."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STACK_", "KAFKA_", "GATEWAY_", "CONSUMER_"))}
    env |= {name.upper(): str(port) for name, port in free_ports().items()}
    env["STACK_RUN_DIR"] = str(run_dir)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_short_demo_exits_0_with_report_and_png(tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    argv = [*demo_command(), "demo", "--duration", str(DURATION_S), "--report-dir", str(report_dir), "--review"]
    proc = subprocess.run(
        argv,
        cwd=REPO_ROOT,
        env={**stack_env(tmp_path / "run"), "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert "Traceback" not in output, output[-6000:]

    report = orjson.loads((report_dir / "demo-report.json").read_bytes())
    assert report["ok"] is True
    assert report["errors"] == 0 and report["failures"] == []
    assert report["accepted"] > 0, report  # it really replayed (how fast is `make bench`'s question)
    assert report["accepted"] == report["sent"]
    assert report["missing_verdicts"] == 0
    assert report["verdicts"] >= report["accepted"]
    # event -> verdict percentiles over every transaction from the very first (no warm-up left out)
    assert report["latency_samples"] == report["verdicts"], report
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p95"] <= report["latency_ms"]["p99"]
    assert report["injected"] > 0 and report["alerts"] > 0
    q = report["quality"]
    assert q["tp"] + q["fp"] + q["fn"] + q["tn"] == report["verdicts"]
    assert q["recall"] > 0.5 and q["precision"] > 0.5, q  # the detector works end to end, not only the plumbing

    # --review: a share of the alerts labelled from the ground truth went through POST /labels to the review
    # service, whose labelled precision is exactly the labels' own figure.
    review = report["review"]
    assert review["labelled"] > 0 and review["label_errors"] == 0, review
    assert review["review_service_labelled"] == review["labelled"], review
    assert review["review_service_precision"] == pytest.approx(review["precision_by_labels"]), review

    md = (report_dir / "demo-report.md").read_text()
    assert "labelled precision: review page / injected labels" in md
    assert f"{report['accepted']:,} / {report['verdicts']:,}" in md  # accepted / verdicts
    assert f"{report['alerts']:,} / {report['injected']:,}" in md  # alerts / injected fraud
    assert re.search(r"\| result \| ok \|", md), md
    assert f"over all {report['verdicts']:,} verdicts, from the first" in md
    assert "demo report" in proc.stdout

    png = report_dir / "demo-report.png"
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 20_000  # three plots, not an empty canvas
    assert report["png"] == str(png)
