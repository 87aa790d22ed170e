"""A child process with a readiness probe and a clean, bounded shutdown.

Every embedded service (broker, Triton, Prometheus, gateway, consumer) runs as a real OS process so
the embedded stack exercises the same code paths as production. This wrapper gives them one shape:
start, wait until a probe says ready (or fail with the tail of the process's log), stop with SIGTERM
then SIGKILL.

A child must never outlive its supervisor: if ``taxifraud up`` (or a test) is killed with SIGKILL it
gets no chance to stop anything, and the orphans would hold their ports so that the next start fails.
So each child asks the kernel for a parent-death signal (Linux ``PR_SET_PDEATHSIG``) before it runs;
children that fork workers of their own (the gateway's uvicorn workers) do the same for theirs
(:func:`taxifraud.lifecycle.die_with_parent`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from taxifraud.lifecycle import die_with_parent

log = logging.getLogger(__name__)


class ServiceFailed(RuntimeError):
    """A managed service exited or never became ready."""


class PortInUse(ServiceFailed):
    """A port the stack needs is taken (another stack, or an orphan of one)."""


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port and we could bind it ourselves."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return not port_open(host, port, timeout=0.2)


def require_free_ports(host: str, ports: dict[str, int]) -> None:
    """Fail at once, naming the first taken port and who wanted it, before anything is started."""
    seen: dict[int, str] = {}
    for name, port in ports.items():
        if port in seen:
            raise PortInUse(f"port {port} is configured for both {seen[port]} and {name}")
        seen[port] = name
        if not port_free(host, port):
            raise PortInUse(
                f"port {port} on {host} ({name}) is already in use: another stack is running, "
                f"or set a different port for {name}"
            )


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """An ephemeral TCP port that was free a moment ago (for tests and parallel stacks)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_runs(widths: dict[str, int], attempts: int = 100) -> dict[str, int]:
    """For each name, the first of ``width`` consecutive free ports, no two names sharing one.

    Every port stays bound until all are picked: ports released one by one can be handed out twice.
    """
    held: list[socket.socket] = []

    def hold(port: int) -> bool:
        sock = socket.socket()
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            return False
        held.append(sock)
        return True

    try:
        picked: dict[str, int] = {}
        for name, width in widths.items():
            for _ in range(attempts):
                if not hold(0):
                    continue
                first = int(held[-1].getsockname()[1])
                if all(hold(first + offset) for offset in range(1, width)):
                    picked[name] = first
                    break
            else:
                raise PortInUse(f"no run of {width} free ports for {name} in {attempts} attempts")
        return picked
    finally:
        for sock in held:
            sock.close()


def _child_setup(parent_pid: int) -> Callable[[], None]:
    """Runs in the child between fork and exec: die with the supervisor (the signal survives exec)."""

    def setup() -> None:
        die_with_parent(parent_pid)

    return setup


class ManagedProcess:
    """One service process whose output goes to a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        log.info("starting %s: %s (log %s)", self.name, " ".join(self.argv), self.log_path)
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(self.env or {})},
            cwd=self.cwd,
            start_new_session=True,  # Ctrl-C in the terminal reaches the supervisor, which stops us in order
            preexec_fn=_child_setup(os.getpid()),
        )
        log_file.close()
        return self

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ServiceFailed(f"{self.name} was never started")
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_ready(self, probe: Callable[[], bool], timeout: float, what: str = "ready") -> None:
        """Poll ``probe`` until it is true; raise with the log tail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise ServiceFailed(f"{self.name} exited before it was {what}:\n{self.log_tail()}")
            try:
                if probe():
                    log.info("%s is %s (pid %d)", self.name, what, self.pid)
                    return
            except Exception:  # a probe that raises just means "not yet"
                pass
            time.sleep(0.1)
        raise ServiceFailed(f"{self.name} not {what} after {timeout:.0f}s:\n{self.log_tail()}")

    def signal(self, sig: int) -> None:
        if self.alive() and self.proc is not None:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait, then SIGKILL the whole process group. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            log.info("stopping %s (pid %d)", self.name, self.proc.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s ignored SIGTERM for %.0fs; killing it", self.name, timeout)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL without any chance to clean up (crash tests)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
