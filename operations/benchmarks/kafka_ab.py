"""A/B of a Kafka client property in one run: the bare two-hop floor with and without it, windows interleaved.

The broker hops (gateway produce ack, broker hop, verdict produce ack) are the largest event -> verdict
spans. A client property's effect on them is measured here on one broker, in alternating windows of the
two-hop floor (:func:`operations.benchmarks.floors.two_hop`: producer -> topic -> relay -> topic -> reader,
our client settings), so a busy machine weighs on both sides alike.

``python -m operations.benchmarks.kafka_ab --set socket.nagle.disable=true`` starts an embedded broker of its
own; ``--bootstrap HOST:PORT`` uses a running one instead.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import click
import numpy as np

from operations.benchmarks.ab import ab_options, parse_changes, side_lines
from operations.benchmarks.floors import two_hop
from operations.embedded.broker import BrokerOptions, start_broker
from operations.embedded.process import free_port
from taxifraud.click_main import run_command
from taxifraud.config import KafkaSettings

log = logging.getLogger(__name__)


def parse_value(text: str) -> Any:
    """A librdkafka property value from the command line: true/false as booleans, integers as ints."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        return text


def compare(
    settings: KafkaSettings, client: dict[str, Any], rate: float, seconds: float, windows: int
) -> dict[str, Any]:
    """``windows`` two-hop windows per side, A (our settings) and B (with ``client``) alternating."""
    sides: dict[str, dict[str, Any]] = {"A": {}, "B": client}
    runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    for w in range(windows):
        for side in ("A", "B") if w % 2 == 0 else ("B", "A"):
            runs[side].append(two_hop(settings, rate, seconds, sides[side]))
    out: dict[str, Any] = {"client": client, "rate": rate, "seconds_per_window": seconds, "windows_each": windows}
    for side, figures in runs.items():
        # Medians over the windows of each percentile: one disturbed window moves neither side's figure much.
        out[side] = {key: float(np.median([f[key] for f in figures])) for key in ("p50_ms", "p95_ms", "p99_ms")} | {
            "received": sum(f["received"] for f in figures),
            "sent": sum(f["sent"] for f in figures),
        }
    return out


@click.command(name="kafka-ab", help=__doc__.splitlines()[0])
@ab_options("a librdkafka client property", "messages", seconds=10.0)
@click.option("--bootstrap", default=None, help="a running broker (default: start an embedded one)")
def command(changes: tuple[str, ...], rate: float, seconds: float, windows: int, bootstrap: str | None) -> int:
    client = {k: parse_value(v) for k, v in parse_changes(changes).items()}
    with tempfile.TemporaryDirectory(prefix="kafka-ab-") as scratch:
        proc = None
        if bootstrap is None:
            work = Path(scratch)
            options = BrokerOptions("127.0.0.1", free_port(), free_port(), work / "data", work / "broker.log")
            proc = start_broker(options)
            bootstrap = options.bootstrap
        try:
            result = compare(KafkaSettings(kafka_bootstrap_servers=bootstrap), client, rate, seconds, windows)
        finally:
            if proc is not None:
                proc.stop()
    for line in side_lines(result, "our settings", client, "{received}/{sent} messages, median of windows"):
        click.echo(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_command(command, prog_name="python -m operations.benchmarks.kafka_ab"))
