"""The ``taxifraud`` command: every service and tool of the project behind one entry point.

Subcommands import their dependencies lazily so that, say, ``taxifraud score`` does not need the
broker client and ``taxifraud gateway`` does not need torch.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from operations.embedded.process import ManagedProcess

log = logging.getLogger("taxifraud")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # One INFO line per HTTP request from the load generators' client would drown everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)


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


def cmd_up(args: argparse.Namespace) -> int:
    from operations.stack import StackSettings, run_foreground

    overrides: dict[str, Any] = {}
    if args.consumers is not None:
        overrides["stack_consumers"] = args.consumers
    if args.no_prometheus:
        overrides["stack_prometheus"] = False
    settings = StackSettings(**overrides)
    return run_foreground(settings)


def cmd_broker(args: argparse.Namespace) -> int:
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


def cmd_triton(args: argparse.Namespace) -> int:
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
        config_name=args.config_name or s.stack_triton_config_name,
    )
    return _serve_until_signal(
        proc, "triton gRPC on %s:%d, metrics :%d.", s.stack_host, s.stack_triton_grpc_port, s.stack_triton_metrics_port
    )


def cmd_gateway(args: argparse.Namespace) -> int:
    from gateway.server import run
    from gateway.settings import Settings

    run(Settings())
    return 0


def cmd_consumer(args: argparse.Namespace) -> int:
    from consumer.settings import Settings
    from consumer.worker import run

    return run(Settings())


def cmd_review(args: argparse.Namespace) -> int:
    from review.app import run
    from review.settings import load_settings

    run(load_settings())
    return 0


def cmd_label(args: argparse.Namespace) -> int:
    from operations.labels import post_labels

    body = {"transaction_id": args.transaction_id, "label": args.label}
    if args.analyst:
        body["analyst"] = args.analyst
    if args.note:
        body["note"] = args.note
    status, answer = post_labels([body], gateway_url=args.gateway, api_key=args.api_key)
    if status != 202:
        log.error("label not stored (HTTP %d): %s", status, answer)
        return 1
    sys.stdout.write(f"labelled {args.transaction_id} {args.label} at {answer['labelled_at']}\n")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from operations.batch_score import score_file

    count, unscorable, flagged = score_file(args.input, args.output, args.model_repository)
    print(f"scored {count} rows -> {args.output}: {flagged} flagged, {unscorable} unscorable (see reasons)")
    return 0


def cmd_verdicts(args: argparse.Namespace) -> int:
    from operations.tail import tail_topic

    return tail_topic(args.topic, follow=args.follow, limit=args.limit)


#: Subcommands with their own argument parsers: everything after the name is theirs.
DELEGATED: dict[str, tuple[str, str, str]] = {
    "train": ("export.train", "main", "train the autoencoder on the shared TLC data"),
    "export": ("operations.model_export", "main", "export ONNX into model_repository, check parity, evaluate"),
    "replay": ("operations.replay", "main", "replay trips (files or generator) to the gateway or Kafka"),
    "demo": ("operations.demo", "main", "run the stack, replay trips with injected fraud, report"),
    "bench": ("operations.bench", "main", "measure throughput and latency, write bench/results.*"),
    "recalibrate": ("operations.recalibrate", "main", "precision/recall from analyst labels; --write a new version"),
    "model": ("operations.model_versions", "main", "model versions: list | shadow N | promote N | rollback | load"),
}


def _run_delegated(name: str, rest: list[str], verbose: bool) -> int:
    import importlib

    _setup_logging(verbose)
    module, func, _ = DELEGATED[name]
    entry = getattr(importlib.import_module(module), func)
    return int(entry(rest) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taxifraud", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole embedded stack in the foreground (Ctrl-C stops all)")
    up.add_argument("--consumers", type=int, default=None, help="consumer processes (STACK_CONSUMERS)")
    up.add_argument("--no-prometheus", action="store_true", help="do not start Prometheus")
    up.set_defaults(func=cmd_up)

    sub.add_parser("broker", help="run the embedded Kafka broker and create the topics").set_defaults(func=cmd_broker)
    triton = sub.add_parser("triton", help="run the embedded Triton server on model_repository/")
    triton.add_argument("--config-name", default=None, help="configs/NAME.pbtxt (default: embedded)")
    triton.set_defaults(func=cmd_triton)
    sub.add_parser("gateway", help="run the HTTP gateway (GATEWAY_* settings)").set_defaults(func=cmd_gateway)
    sub.add_parser("consumer", help="run one streaming consumer (CONSUMER_* settings)").set_defaults(func=cmd_consumer)

    sub.add_parser("review", help="run the analyst review page (REVIEW_* settings)").set_defaults(func=cmd_review)
    label = sub.add_parser("label", help="label a transaction fraud or legit (through the gateway's POST /labels)")
    label.add_argument("transaction_id")
    label.add_argument("label", choices=["fraud", "legit"])
    label.add_argument("--analyst", default=None, help="who labels it")
    label.add_argument("--note", default=None, help="free text kept with the label")
    label.add_argument(
        "--gateway", default=None, help="gateway URL (default: the embedded stack's, STACK_GATEWAY_PORT)"
    )
    label.add_argument("--api-key", default=None, help="X-API-Key (default: env TAXIFRAUD_API_KEY)")
    label.set_defaults(func=cmd_label)

    score = sub.add_parser("score", help="score a CSV or Parquet trip file in-process with the same ONNX graph")
    score.add_argument("input", help="CSV or Parquet, TLC's own files as they are or wire-field column names")
    score.add_argument("-o", "--output", required=True, help="output CSV: transaction_id, score, is_fraud, reasons")
    score.add_argument("--model-repository", default=None, help="default: MODEL_REPOSITORY or ./model_repository")
    score.set_defaults(func=cmd_score)

    verdicts = sub.add_parser("verdicts", help="print verdicts (or alerts) from the broker")
    verdicts.add_argument("--topic", default=None, help="default: TOPIC_VERDICTS")
    verdicts.add_argument("--follow", "-f", action="store_true", help="keep reading new verdicts")
    verdicts.add_argument("--limit", type=int, default=20, help="stop after this many (without --follow)")
    verdicts.set_defaults(func=cmd_verdicts)

    for name, (_, _, text) in DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    verbose = bool(args_list) and args_list[0] in ("-v", "--verbose")
    rest = args_list[1:] if verbose else args_list
    if rest and rest[0] in DELEGATED:
        return _run_delegated(rest[0], rest[1:], verbose)
    args = build_parser().parse_args(args_list)
    _setup_logging(args.verbose)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
