"""The ``taxifraud`` command (Click): every service and tool of the project behind one entry point, with one
logging set-up (:func:`configure_logging`) and ``-v`` accepted before or after any subcommand.

Subcommands import their dependencies lazily so that, say, ``taxifraud score`` does not need the broker
client and ``taxifraud gateway`` does not need torch. ``train``, ``export``, ``bench``, ``recalibrate`` and
``model`` are Click commands declared beside their code (:data:`LAZY`), imported only when they run.
"""

from __future__ import annotations

import importlib
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from taxifraud.click_main import run_command
from taxifraud.config import REPO_ROOT
from taxifraud.logs import configure_logging

if TYPE_CHECKING:
    from operations.embedded.process import ManagedProcess

log = logging.getLogger("taxifraud")

#: Commands declared in their own modules, imported only when run: name -> (``module:attr``, short help).
#: ``attr`` is a Click command, or a function that returns one.
LAZY: dict[str, tuple[str, str]] = {
    "train": ("export.train:command", "train the autoencoder on the shared TLC data"),
    "export": ("operations.model_export:command", "export ONNX into model_repository, check parity, evaluate"),
    "bench": ("operations.bench:command", "measure throughput and latency, write bench/results.*"),
    "recalibrate": ("operations.recalibrate:command", "precision/recall from analyst labels; --write a new version"),
    "model": ("operations.model_versions:command", "model versions: list | shadow N | promote N | rollback | load"),
}


def _verbose_after_the_name(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        configure_logging(logging.DEBUG)


def _verbose_option() -> click.Option:
    return click.Option(
        ["-v", "--verbose"], is_flag=True, expose_value=False, callback=_verbose_after_the_name, help="debug logging"
    )


def _with_verbose(command: click.Command) -> click.Command:
    """``-v`` after the name too (``taxifraud model list -v``), on a command and every subcommand."""
    if not any(p.name == "verbose" for p in command.params):
        command.params.append(_verbose_option())
    for sub in getattr(command, "commands", {}).values():
        _with_verbose(sub)
    return command


class _Command(click.Command):
    """A subcommand that also takes ``-v``, so ``taxifraud demo -v`` works like ``taxifraud -v demo``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _with_verbose(self)


class _Group(click.Group):
    """The top-level group: its own commands plus :data:`LAZY`'s, listed in ``--help`` without importing them."""

    command_class = _Command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in LAZY:
            return super().get_command(ctx, cmd_name)
        module, _, attr = LAZY[cmd_name][0].partition(":")
        found = getattr(importlib.import_module(module), attr)
        return _with_verbose(found if isinstance(found, click.Command) else found())

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = [(name, self.commands[name].get_short_help_str(limit)) for name in super().list_commands(ctx)]
        rows += [(name, text) for name, (_, text) in LAZY.items()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


@click.group(cls=_Group, help="taxifraud: every service and tool of the project behind one command.")
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
def cli(verbose: bool) -> None:
    configure_logging(logging.DEBUG if verbose else logging.INFO)


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _serve_until_signal(proc: ManagedProcess, message: str, *args: object) -> int:
    """Log where a single service is, run it until Ctrl-C or SIGTERM, then stop it."""
    try:
        log.info(message + " Ctrl-C stops it.", *args)
        _wait_for_signal()
    finally:
        proc.stop()
    return 0


# -- the stack and its services -----------------------------------------------------------------------------
@cli.command(help="run the whole embedded stack in the foreground (Ctrl-C stops all)")
@click.option("--consumers", type=int, default=None, help="consumer processes (STACK_CONSUMERS)")
@click.option("--no-prometheus", is_flag=True, help="do not start Prometheus")
def up(consumers: int | None, no_prometheus: bool) -> int:
    from operations.stack import StackSettings, run_foreground

    overrides: dict[str, Any] = {}
    if consumers is not None:
        overrides["stack_consumers"] = consumers
    if no_prometheus:
        overrides["stack_prometheus"] = False
    return int(run_foreground(StackSettings(**overrides)) or 0)


@cli.command(help="run the embedded Kafka broker and create the topics")
def broker() -> int:
    from operations.embedded.broker import start_broker
    from operations.embedded.process import require_free_ports
    from operations.stack import Stack, StackSettings
    from taxifraud.kafka import ensure_topics

    stack = Stack(StackSettings())
    options = stack.broker_options()
    require_free_ports(options.host, {k: v for k, v in stack.ports().items() if k.startswith("STACK_BROKER_")})
    proc = start_broker(options)
    try:
        ensure_topics(stack.kafka_settings())
    except BaseException:
        proc.stop()
        raise
    return _serve_until_signal(
        proc,
        "Kafka on %s, data in %s (kept across restarts), metrics :%s.",
        options.bootstrap,
        options.data_dir,
        options.metrics_port,
    )


@cli.command(help="run the embedded Triton server on model_repository/")
@click.option("--config-name", default=None, help="configs/NAME.pbtxt (default: embedded)")
def triton(config_name: str | None) -> int:
    from operations.embedded.triton import start_triton
    from operations.stack import StackSettings

    s = StackSettings()
    proc = start_triton(
        s.model_repository,
        s.stack_run_dir / "triton",
        s.stack_host,
        s.stack_triton_http_port,
        s.stack_triton_grpc_port,
        s.stack_triton_metrics_port,
        s.stack_run_dir / "triton.log",
        config_name=config_name or s.stack_triton_config_name,
    )
    return _serve_until_signal(
        proc, "triton gRPC on %s:%d, metrics :%d.", s.stack_host, s.stack_triton_grpc_port, s.stack_triton_metrics_port
    )


@cli.command(help="run the HTTP gateway (GATEWAY_* settings)")
def gateway() -> int:
    from gateway.server import run
    from gateway.settings import load_settings

    run(load_settings())
    return 0


@cli.command(help="run one streaming consumer (CONSUMER_* settings)")
def consumer() -> int:
    from consumer.settings import Settings
    from consumer.worker import run

    return int(run(Settings()) or 0)


@cli.command(help="run the analyst review page (REVIEW_* settings)")
def review() -> int:
    from review.app import run
    from review.settings import load_settings

    run(load_settings())
    return 0


# -- tools --------------------------------------------------------------------------------------------------
@cli.command(help="label a transaction fraud or legit (through the gateway's POST /labels)")
@click.argument("transaction_id")
@click.argument("label", type=click.Choice(["fraud", "legit"]))
@click.option("--analyst", default=None, help="who labels it")
@click.option("--note", default=None, help="free text kept with the label")
@click.option("--gateway", "gateway_url", default=None, help="gateway URL (default: the embedded stack's)")
@click.option("--api-key", default=None, help="X-API-Key (default: TAXIFRAUD_API_KEY)")
def label(
    transaction_id: str, label: str, analyst: str | None, note: str | None, gateway_url: str | None, api_key: str | None
) -> int:
    from operations.labels import post_labels

    body = {"transaction_id": transaction_id, "label": label}
    if analyst:
        body["analyst"] = analyst
    if note:
        body["note"] = note
    status, answer = post_labels([body], gateway_url=gateway_url, api_key=api_key)
    if status != 202:
        log.error("label not stored (HTTP %d): %s", status, answer)
        return 1
    click.echo(f"labelled {transaction_id} {label} at {answer['labelled_at']}")
    return 0


@cli.command(help="score a CSV or Parquet trip file in-process with the same ONNX graph")
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", required=True, help="output CSV: transaction_id, score, is_fraud, reasons")
@click.option("--model-repository", default=None, help="default: MODEL_REPOSITORY or ./model_repository")
def score(input_path: str, output: str, model_repository: str | None) -> int:
    """INPUT: CSV or Parquet, TLC's own files as they are or wire-field column names."""
    from operations.batch_score import score_file

    count, unscorable, flagged = score_file(input_path, output, model_repository)
    click.echo(f"scored {count} rows -> {output}: {flagged} flagged, {unscorable} unscorable (see reasons)")
    return 0


@cli.command(help="print verdicts (or alerts) from the broker")
@click.option("--topic", default=None, help="default: TOPIC_VERDICTS")
@click.option("--follow", "-f", is_flag=True, help="keep reading new verdicts")
@click.option("--limit", type=int, default=20, show_default=True, help="stop after this many (without --follow)")
def verdicts(topic: str | None, follow: bool, limit: int) -> int:
    from operations.tail import tail_topic

    return int(tail_topic(topic, follow=follow, limit=limit) or 0)


def _trip_files(data: tuple[str, ...], more: tuple[str, ...]) -> list[str] | None:
    """``--data a.csv b.csv``: Click gives the first file to ``--data`` and the rest as arguments."""
    if more and not data:
        raise click.UsageError(f"unexpected argument {more[0]!r}: trip files go after --data")
    return [*data, *more] or None


@cli.command(help="replay trips (files or generator) to the gateway or Kafka")
@click.option("--data", multiple=True, help="trip files, CSV or Parquet, TLC's or wire names; default: generator")
@click.argument("more_data", nargs=-1, metavar="")
@click.option("--count", type=int, default=None, help="trips to send (default 10,000 without --duration)")
@click.option("--duration", type=float, default=None, help="seconds to send for")
@click.option("--rate", type=float, default=1000.0, show_default=True, help="transactions/s; 0 = as fast as possible")
@click.option("--fraud-rate", type=float, default=0.05, show_default=True, help="share of trips with injected fraud")
@click.option("--batch", type=int, default=50, show_default=True, help="transactions per HTTP request")
@click.option("--concurrency", type=int, default=8, show_default=True, help="HTTP requests in flight")
@click.option("--to", type=click.Choice(["http", "kafka"]), default="http", show_default=True)
@click.option("--gateway", "gateway_url", default="http://127.0.0.1:8000", show_default=True)
@click.option("--api-key", default=None, help="X-API-Key, if the gateway requires one")
@click.option("--labels", default=None, help="write transaction_id -> injected family as JSON here")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--run-id", default=None, help="prefix of the generated transaction ids")
def replay(data: tuple[str, ...], more_data: tuple[str, ...], gateway_url: str, **options: Any) -> int:
    from operations.replay import run_replay

    return int(run_replay(data=_trip_files(data, more_data), gateway=gateway_url, **options) or 0)


@cli.command(help="run the stack, replay trips with injected fraud, report")
@click.option("--duration", type=float, default=60.0, show_default=True, help="seconds of replay")
@click.option("--wait", type=float, default=60.0, show_default=True, help="longest wait for the last verdicts")
@click.option("--rate", type=float, default=1000.0, show_default=True, help="offered transactions/s")
@click.option("--fraud-rate", type=float, default=0.05, show_default=True)
@click.option("--data", multiple=True, help="TLC trip files (CSV/Parquet); default: calibrated generator")
@click.argument("more_data", nargs=-1, metavar="")
@click.option("--batch", type=int, default=20, show_default=True, help="transactions per HTTP request")
@click.option("--concurrency", type=int, default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-prometheus", is_flag=True)
@click.option("--review", is_flag=True, help="label a share of the alerts from the injected ground truth")
@click.option("--review-share", type=float, default=0.5, show_default=True, help="share of alerts --review labels")
@click.option("--report-dir", default=str(REPO_ROOT / "run"), help="where demo-report.{md,json,png} go (default run/)")
def demo(data: tuple[str, ...], more_data: tuple[str, ...], **options: Any) -> int:
    from operations.demo import DemoOptions
    from operations.demo import demo as run

    return int(run(DemoOptions(data=tuple(_trip_files(data, more_data) or ()), **options)) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """The console script ``taxifraud`` (and ``python -m operations.cli``); returns the exit status."""
    return run_command(cli, argv, prog_name="taxifraud")


if __name__ == "__main__":
    sys.exit(main())
