"""``taxifraud up`` as a user runs it: killed with SIGKILL it leaves no process behind (so the next start
works), a start on a taken port fails before anything starts with one line that names the port, and a
child that dies is restarted (logged, counted on the supervisor's /metrics) until it keeps dying, when the
stack stops and says which and why."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from operations.embedded.process import port_open
from operations.embedded.prometheus import prometheus_binary
from operations.stack import free_ports

pytestmark = pytest.mark.integration

UP_LINE = "embedded stack is up"


def stack_env(run_dir: Path) -> dict[str, str]:
    env = {**os.environ, **{key.upper(): str(port) for key, port in free_ports().items()}}
    env |= {
        "STACK_RUN_DIR": str(run_dir),
        "STACK_PROMETHEUS": "true" if prometheus_binary() else "false",
        "TOPIC_PARTITIONS": "3",
        "PYTHONUNBUFFERED": "1",
    }
    return env


def start_up(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "operations.cli", "up"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_until_up(proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if UP_LINE in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"taxifraud up exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"taxifraud up not up after {timeout}s:\n{log.read_text()[-3000:]}")


def stack_ports(env: dict[str, str]) -> list[int]:
    return [int(v) for k, v in env.items() if k.startswith("STACK_") and k.endswith("_PORT")]


def test_sigkill_of_the_supervisor_leaves_no_process_and_a_second_up_starts(tmp_path: Path) -> None:
    env = stack_env(tmp_path / "run")
    log = tmp_path / "up.log"
    first = start_up(env, log)
    try:
        wait_until_up(first, log)
        children = psutil.Process(first.pid).children(recursive=True)
        names = sorted({c.name() for c in children})
        assert len(children) >= 4, names  # broker, triton (+ its stub), consumer, gateway (+ its worker)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        _, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, f"orphans after SIGKILL of taxifraud up: {[(p.pid, p.name()) for p in alive]}"
        taken = [p for p in stack_ports(env) if port_open("127.0.0.1", p)]
        assert not taken, f"ports still held: {taken}"
    finally:
        if first.poll() is None:
            first.kill()

    second = start_up(env, tmp_path / "up2.log")
    try:
        wait_until_up(second, tmp_path / "up2.log")
        children = psutil.Process(second.pid).children(recursive=True)
        second.send_signal(signal.SIGTERM)
        assert second.wait(90) == 0, (tmp_path / "up2.log").read_text()[-3000:]
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"left after a clean stop: {[(p.pid, p.name()) for p in alive]}"
    finally:
        if second.poll() is None:
            second.kill()


def test_a_taken_port_fails_at_once_naming_it(tmp_path: Path) -> None:
    env = stack_env(tmp_path / "run")
    port = int(env["STACK_GATEWAY_PORT"])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        done = subprocess.run(
            [sys.executable, "-m", "operations.cli", "up"], env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, done.stderr[-3000:]
    assert f"port {port}" in errors[0] and "(GATEWAY_PORT)" in errors[0], errors[0]
    assert "starting broker" not in done.stderr, "something was started before the port check"


def _consumer(up: subprocess.Popen[bytes]) -> psutil.Process:
    """The consumer child of ``taxifraud up`` (python -m operations.cli consumer)."""
    found = [
        p for p in psutil.Process(up.pid).children(recursive=True) if p.cmdline()[-2:] == ["operations.cli", "consumer"]
    ]
    assert len(found) == 1, [p.cmdline() for p in found]
    return found[0]


def _wait_for_text(log: Path, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} in the log after {timeout}s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def test_a_dead_child_is_restarted_and_one_that_keeps_dying_stops_the_stack_naming_it(tmp_path: Path) -> None:
    env = stack_env(tmp_path / "run") | {
        "STACK_PROMETHEUS": "false",
        "STACK_REVIEW": "false",
        "STACK_RESTART_MAX": "1",
        "STACK_RESTART_BACKOFF_S": "0.2",
    }
    log = tmp_path / "up.log"
    up = start_up(env, log)
    try:
        wait_until_up(up, log)
        first = _consumer(up)
        first.send_signal(signal.SIGKILL)
        _wait_for_text(log, "restarted consumer-0")
        second = _consumer(up)
        assert second.pid != first.pid
        with urllib.request.urlopen(f"http://127.0.0.1:{env['STACK_METRICS_PORT']}/metrics", timeout=5) as resp:
            metrics = resp.read().decode()
        assert 'stack_restarts_total{service="consumer-0"} 1.0' in metrics
        assert 'stack_restarts_total{service="triton"} 0.0' in metrics  # the others: counted from zero
        children = psutil.Process(up.pid).children(recursive=True)
        second.send_signal(signal.SIGKILL)  # a second death within the window: past STACK_RESTART_MAX=1
        assert up.wait(120) == 1, log.read_text()[-3000:]
        _, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, f"left after giving up: {[(p.pid, p.name()) for p in alive]}"
    finally:
        if up.poll() is None:
            up.kill()
    stopping = [line for line in log.read_text().splitlines() if "stopping the stack:" in line]
    assert len(stopping) == 1 and "consumer-0 failed 2 times" in stopping[0], stopping
