"""Keep the embedded stack serving: restart a service that dies, give up only on one that keeps dying.

What users expect of a supervisor (compose ``restart:``, systemd, Kubernetes): a crash of one part degrades
the service and heals by itself; it never takes down the parts that did not crash. The broker keeps what
it acknowledged across a restart, consumers pick up from their committed offsets, and the gateway answers
503 while the broker is away, so restarting the crashed process alone is enough. When and how often is
:mod:`operations.embedded.restart_policy`'s call; this module only watches processes and acts on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from operations.embedded.process import ManagedProcess, ServiceFailed
from operations.embedded.restart_policy import GiveUp, RestartHistory, RestartPolicy
from operations.embedded.supervisor_metrics import SupervisorMetrics

log = logging.getLogger(__name__)


class Restartable(Protocol):
    """What the supervisor needs of a stack: its processes, and a way to start one of them again."""

    services: list[ManagedProcess]

    def restart_service(self, name: str) -> ManagedProcess: ...


class Supervisor:
    """Call :meth:`poll` every half second or so; it returns why the stack must stop, or None."""

    def __init__(
        self,
        stack: Restartable,
        policy: RestartPolicy,
        metrics: SupervisorMetrics,
        clock: Callable[[], float] = time.monotonic,
        on_restart: Callable[[str], None] | None = None,
    ) -> None:
        self.stack = stack
        self.policy = policy
        self.metrics = metrics
        self.clock = clock
        self.on_restart = on_restart
        self.histories: dict[str, RestartHistory] = {}
        self.pending: dict[str, float] = {}  # service -> when to restart it
        self.completed: dict[str, int] = {}  # service -> restarts that ended with it ready again

    def _failed(self, name: str, what: str) -> str | None:
        """Record a failure of ``name``; schedule its restart, or return why we give up on it."""
        history = self.histories.setdefault(name, RestartHistory(name, self.policy))
        decision = history.on_failure(self.clock())
        if isinstance(decision, GiveUp):
            return f"{decision.reason}; last failure: {what}"
        self.pending[name] = self.clock() + decision.delay_s
        log.warning(
            "restarting %s in %.1fs (restart %d of at most %d within %.0fs)",
            name,
            decision.delay_s,
            decision.attempt,
            self.policy.max_restarts,
            self.policy.window_s,
        )
        return None

    def poll(self) -> str | None:
        for proc in list(self.stack.services):
            if proc.alive() or proc.name in self.pending:
                continue
            code = proc.proc.returncode if proc.proc is not None else None
            log.error("%s exited unexpectedly (code %s); its log ends:\n%s", proc.name, code, proc.log_tail(20))
            reason = self._failed(proc.name, f"exited with code {code}")
            if reason is not None:
                return reason
        now = self.clock()
        for name, due in sorted(self.pending.items(), key=lambda item: item[1]):
            if due > now:
                continue
            del self.pending[name]
            self.metrics.restarted(name)
            try:
                proc = self.stack.restart_service(name)
            except ServiceFailed as exc:
                log.error("restarting %s failed: %s", name, exc)
                reason = self._failed(name, str(exc).splitlines()[0])
                if reason is not None:
                    return reason
                continue
            log.warning("restarted %s (pid %d)", name, proc.pid)
            self.completed[name] = self.completed.get(name, 0) + 1
            if self.on_restart is not None:
                self.on_restart(name)
        self.metrics.set_services((p.name, p.alive()) for p in self.stack.services)
        return None
