"""``make chaos``: kill -9 one service of a supervised stack mid-stream, measure how the stack heals.

For each kill (Triton, a consumer, the gateway, the broker; one at a time, on one stack): a steady stream of
marked single trips goes to ``POST /transactions``; the service's whole process group gets SIGKILL; the
supervisor restarts it. Measured: the seconds from the kill to the first verdict of a trip accepted after the
kill, the longest gap between two verdicts, the answers that were not 202 (5xx and refused connections), and
whether every trip answered 202 got its verdict (and how many twice). The integration test
``tests/integration/test_chaos.py`` runs the same scenario and asserts the guarantees; this module reports
the figures.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import click

from operations.embedded.foreground import Supervised
from operations.stack import Stack, StackSettings, free_ports
from operations.steady_load import Load, wait_until
from operations.verdict_collector import VerdictCollector
from taxifraud.click_main import run_command
from taxifraud.config import REPO_ROOT

log = logging.getLogger(__name__)

KILLS = ("triton", "consumer-0", "gateway", "broker")


@dataclass
class KillResult:
    """What one kill did to the stream; times in seconds from the kill."""

    service: str
    accepted: int
    missing: int
    duplicates: int
    not_accepted: dict[str, int]  # status ("0": no answer) -> requests
    five_xx: int
    restart_s: float | None  # until the supervisor had the service running (and ready) again
    first_verdict_s: float | None  # until the first verdict of a trip accepted after the kill
    longest_stall_s: float  # the longest gap between two verdicts, from 1 s before the kill to the end
    restarts_metric: float  # stack_restarts_total{service} after the kill
    not_accepted_after_recovery: int = 0  # non-202 answers once a request sent after the restart got a 202
    last_not_accepted_s: float | None = None  # when the last non-202 request was sent
    missing_ids: list[str] = field(default_factory=list)


def restarts(metrics_url: str, service: str) -> float:
    """``stack_restarts_total{service}`` as the supervisor serves it."""
    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    prefix = f'stack_restarts_total{{service="{service}"}} '
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


def kill_and_recover(
    supervised: Supervised,
    service: str,
    before_s: float = 3.0,
    after_s: float = 5.0,
    recover_timeout: float = 240.0,
) -> KillResult:
    """SIGKILL ``service``'s process group mid-stream, let the supervisor restart it, account for every trip."""
    stack = cast(Stack, supervised.stack)  # chaos always supervises an operations.stack.Stack
    prefix = f"chaos-{service}-{uuid.uuid4().hex[:8]}-"
    # The observer's own reconnect attempts while the broker is down are expected: keep them out of the log.
    quiet = {**stack.kafka_settings().kafka_client_config(), "log_level": 2}
    collector = VerdictCollector(stack.bootstrap, stack.settings.topic_verdicts, prefix, quiet).start()
    load = Load(stack.gateway_url, prefix).start()
    restart_s: float | None = None
    accepting_at = float("inf")
    try:
        wait_until(lambda: len(load.accepted()) >= 50, recover_timeout, "traffic before the kill")
        time.sleep(before_s)
        supervisor = supervised.supervisor
        assert supervisor is not None, "the stack is not started"
        done_before = supervisor.completed.get(service, 0)
        victim = stack.service(service)
        killed_at = time.time()
        log.info("chaos: kill -9 %s (pid %d)", service, victim.pid)
        victim.kill()

        def back() -> bool:  # the supervisor restarted it and it passed its readiness probe
            return supervisor.completed.get(service, 0) > done_before

        wait_until(back, recover_timeout, f"the supervisor to restart {service}")
        restart_s = time.time() - killed_at
        # ingestion is back with the first 202 to a request sent after the restart
        wait_until(lambda: load.accepted(after=killed_at + restart_s), recover_timeout, f"202s after {service}")
        accepting_at = min(a.started for a in load.answers if a.status == 202 and a.started >= killed_at + restart_s)
        time.sleep(after_s)
    finally:
        load.stop()
    accepted = load.accepted()
    missing = collector.wait_for(set(accepted), recover_timeout)
    seen = collector.snapshot()
    duplicates = collector.duplicates
    collector.stop()
    after_kill = {i for i in load.accepted(after=killed_at)}
    first = min((seen[i].seen_at for i in after_kill if i in seen), default=None)
    times = sorted(s.seen_at for s in seen.values() if s.seen_at >= killed_at - 1)
    stall = max((b - a for a, b in itertools.pairwise(times)), default=0.0)
    refused: dict[str, int] = {}
    for a in load.answers:
        if a.status != 202:
            refused[str(a.status)] = refused.get(str(a.status), 0) + 1
    return KillResult(
        service=service,
        accepted=len(accepted),
        missing=len(missing),
        duplicates=duplicates,
        not_accepted=refused,
        five_xx=sum(n for status, n in refused.items() if status.startswith("5")),
        restart_s=restart_s,
        first_verdict_s=None if first is None else first - killed_at,
        longest_stall_s=stall,
        restarts_metric=restarts(supervised.metrics_url, service),
        not_accepted_after_recovery=sum(1 for a in load.answers if a.status != 202 and a.started >= accepting_at),
        last_not_accepted_s=max((a.started - killed_at for a in load.answers if a.status != 202), default=None),
        missing_ids=sorted(missing)[:10],
    )


def chaos_settings(run_dir: Path, **overrides: Any) -> StackSettings:
    """A stack on free ports with a fast first restart (the policy's backoff is measured, not waited out)."""
    values: dict[str, Any] = {
        **free_ports(),
        "stack_prometheus": False,
        "stack_review": False,
        "stack_run_dir": run_dir,
        "topic_partitions": 3,
        "stack_restart_backoff_s": 0.5,
        "stack_warmup_transactions": 8,
    }
    return StackSettings(**(values | overrides))


def render(results: list[KillResult]) -> str:
    lines = [
        "| kill -9 | restarted, ready (s) | kill -> first verdict (s) | longest stall (s) | 5xx | refused "
        "| accepted | missing | duplicates | restarts |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        first = "-" if r.first_verdict_s is None else f"{r.first_verdict_s:.1f}"
        restart = "-" if r.restart_s is None else f"{r.restart_s:.1f}"
        lines.append(
            f"| {r.service} | {restart} | {first} | {r.longest_stall_s:.1f} | {r.five_xx} "
            f"| {r.not_accepted.get('0', 0)} | {r.accepted} | {r.missing} | {r.duplicates} | {r.restarts_metric:.0f} |"
        )
    return "\n".join(lines)


def run_kills(run_dir: Path, kills: list[str] | tuple[str, ...] = KILLS) -> list[KillResult]:
    """One supervised stack, each service killed in turn (what ``make chaos`` and ``make bench`` run)."""
    results = []
    with Supervised(Stack(chaos_settings(run_dir))) as supervised:
        for service in kills:
            results.append(kill_and_recover(supervised, service))
            log.info("chaos: %s", asdict(results[-1]))
    return results


@click.command(name="chaos", help=__doc__.splitlines()[0].replace("``", ""))
@click.option(
    "--kills",
    multiple=True,
    type=click.Choice(KILLS),
    default=KILLS,
    show_default=True,
    help="a service to kill, one at a time (repeat the option for several)",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=REPO_ROOT / "bench",
    help="where chaos.{json,md} go",
)
@click.option("--run-dir", type=click.Path(path_type=Path, file_okay=False), default=REPO_ROOT / "run" / "chaos")
def command(kills: tuple[str, ...], out: Path, run_dir: Path) -> int:
    results = run_kills(run_dir, kills)
    out.mkdir(parents=True, exist_ok=True)
    (out / "chaos.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    table = render(results)
    (out / "chaos.md").write_text(table + "\n")
    click.echo(table)
    return 0 if all(r.missing == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(run_command(command, prog_name="python -m operations.benchmarks.chaos"))
