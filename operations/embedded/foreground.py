"""``taxifraud up``: the embedded stack under its supervisor, warm before it says ready.

:class:`Supervised` is the same thing for code that runs a stack in-process (the chaos tests and
``make chaos``): the stack, the supervisor's ``/metrics``, warm-up traffic, and a thread that polls the
supervisor until stopped or until a service keeps failing.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

from operations.embedded.model_check import VersionCheck
from operations.embedded.process import ManagedProcess, PortInUse, ServiceFailed
from operations.embedded.restart_policy import RestartPolicy
from operations.embedded.supervisor import Supervisor
from operations.embedded.supervisor_metrics import SupervisorMetrics
from operations.embedded.warmup import WarmupFailed

log = logging.getLogger(__name__)

POLL_S = 0.5


class SupervisableStack(Protocol):
    """What :class:`Supervised` needs of :class:`operations.stack.Stack` (which imports this package)."""

    settings: Any  # operations.stack.StackSettings
    services: list[ManagedProcess]
    model_checks: list[VersionCheck]
    supervised: bool

    def start(self) -> Any: ...
    def warm_up(self) -> float: ...
    def stop(self) -> None: ...
    def restart_service(self, name: str) -> ManagedProcess: ...
    def service(self, name: str) -> ManagedProcess: ...


def policy_of(settings: Any) -> RestartPolicy:
    return RestartPolicy(
        initial_delay_s=settings.stack_restart_backoff_s,
        max_delay_s=max(settings.stack_restart_backoff_s, settings.stack_restart_backoff_max_s),
        max_restarts=settings.stack_restart_max,
        window_s=settings.stack_restart_window_s,
    )


@dataclass
class Supervised:
    """A started, warmed-up stack with a supervisor thread; ``failure`` says why it gave up, if it did."""

    stack: SupervisableStack
    metrics: SupervisorMetrics = field(default_factory=SupervisorMetrics)
    failure: str | None = None
    gave_up: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    supervisor: Supervisor | None = None
    _thread: threading.Thread | None = None

    @property
    def metrics_url(self) -> str:
        s = self.stack.settings
        return f"http://{s.stack_host}:{s.stack_metrics_port}/metrics"

    def start(self) -> Supervised:
        s = self.stack.settings
        self.stack.supervised = True
        try:
            self.stack.start()
            self.metrics.serve(s.stack_host, s.stack_metrics_port)
            self.metrics.known_services(p.name for p in self.stack.services)
            self._versions_changed("triton")
            self.stack.warm_up()
            self.metrics.ready.set(1)
        except BaseException:
            self.stop()
            raise
        self.supervisor = Supervisor(self.stack, policy_of(s), self.metrics, on_restart=self._versions_changed)
        self._thread = threading.Thread(target=self._watch, args=(self.supervisor,), name="supervisor", daemon=True)
        self._thread.start()
        return self

    def _versions_changed(self, service: str) -> None:
        if service == "triton":
            self.metrics.set_versions(self.stack.settings.triton_model_name, self.stack.model_checks)

    def _watch(self, supervisor: Supervisor) -> None:
        while not self._stop.wait(POLL_S):
            reason = supervisor.poll()
            if reason is not None:
                self.failure = reason
                log.error("stopping the stack: %s", reason)
                self.gave_up.set()
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.metrics.ready.set(0)
        self.stack.stop()
        self.metrics.close()

    def __enter__(self) -> Supervised:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run(stack: SupervisableStack) -> int:
    """Start, warm up, announce; then supervise until Ctrl-C/SIGTERM (0) or a service keeps failing (1)."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received signal %d: stopping the stack", signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    supervised = Supervised(stack)
    try:
        try:
            supervised.start()
        except PortInUse as exc:
            log.error("cannot start the stack: %s", exc)
            return 2
        except (ServiceFailed, WarmupFailed) as exc:  # e.g. no model version can be served: say it in one place
            log.error("cannot start the stack: %s", exc)
            return 1
        _announce(supervised)
        while not stop.wait(POLL_S):
            if supervised.gave_up.is_set():
                return 1
        return 0
    finally:
        supervised.stop()
        log.info("stack stopped")


def _announce(supervised: Supervised) -> None:
    stack: Any = supervised.stack  # an operations.stack.Stack: its addresses, beyond the protocol
    s = stack.settings
    lines = [
        "embedded stack is up, warm and supervised (Ctrl-C stops everything):",
        f"  gateway      {stack.gateway_url}   (POST /transactions, POST /score, /docs, /metrics)",
        f"  broker       {stack.bootstrap}   ("
        + (
            f"Kafka, data in {stack.broker_options().data_dir}, metrics :{s.stack_broker_metrics_port})"
            if s.stack_embedded_broker
            else "external)"
        ),
        f"  triton       grpc {stack.triton_grpc}, http :{s.stack_triton_http_port}, "
        f"metrics :{s.stack_triton_metrics_port}",
        f"  consumers    {s.stack_consumers}, metrics from :{s.stack_consumer_metrics_port}",
    ]
    if s.stack_review:
        lines.append(
            f"  review       {stack.review_url}   (analyst review page; labels: taxifraud label ID fraud|legit)"
        )
    if any(p.name == "prometheus" for p in stack.services):
        lines.append(f"  prometheus   {stack.prometheus_url}")
    lines.append(f"  supervisor   {supervised.metrics_url}   (restarts, services up, broken model versions)")
    lines.append(f"  logs         {s.stack_run_dir}/*.log")
    lines.append(f"  verdicts     taxifraud verdicts --follow   (reads topic {s.topic_verdicts})")
    log.info("\n".join(lines))
