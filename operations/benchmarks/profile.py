"""Where the time goes during the peak-throughput run: CPU per process, and py-spy's hottest functions.

CPU seconds per process (from ``/proc``) name the bottleneck on a 2-core box where every service
competes; py-spy (sampling, no code changes) says which functions inside the Python services burn it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo.extend(int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split())
        except OSError:
            continue
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its descendants so far."""
    total = 0
    for p in _descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / _TICKS


@dataclass
class CpuMeter:
    """CPU used by named processes between ``start()`` and ``stop()``, as cores busy on average."""

    pids: dict[str, int]
    _before: dict[str, float] = field(default_factory=dict)
    _t0: float = 0.0

    def start(self) -> CpuMeter:
        self._before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._t0 = time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        return {name: round(seconds / elapsed, 2) for name, seconds in self.seconds().items()}

    def seconds(self) -> dict[str, float]:
        """CPU seconds each process (with its descendants) used since ``start()``."""
        return {name: cpu_seconds(pid) - self._before[name] for name, pid in self.pids.items()}


def reap(proc: subprocess.Popen[Any]) -> float:
    """Wait for a child that has closed its output and return the CPU seconds it used, all its threads.

    ``os.wait4`` gives the rusage of exactly this child (``RUSAGE_CHILDREN`` would mix in every other
    child reaped in between, such as py-spy). The child must already be exiting: read its pipes first.
    """
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def top_functions(collapsed: str, limit: int = 8) -> list[tuple[str, float]]:
    """Self-time share of the hottest leaf frames in py-spy's collapsed ("raw") output."""
    counts: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        leaf = stack.split(";")[-1]
        counts[leaf] += int(n)
        total += int(n)
    return [(frame, round(n / total, 3)) for frame, n in counts.most_common(limit)] if total else []


def py_spy(pid: int, seconds: float) -> subprocess.Popen[bytes] | None:
    """Start sampling ``pid`` (and its children) for ``seconds``; None if py-spy is unavailable."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(binary).exists():
        return None
    out = Path(tempfile.mkdtemp()) / "profile.txt"
    proc = subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--format",
            "raw",
            "--output",
            str(out),
            "--subprocesses",
            "--nonblocking",
            # Only samples holding the GIL: where Python burns CPU, not where its threads wait (poll loops).
            "--gil",
            "--rate",
            "200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    proc.output_path = out  # type: ignore[attr-defined]
    return proc


def py_spy_result(proc: subprocess.Popen[bytes] | None) -> dict[str, Any]:
    """The hottest functions, and the CPU py-spy itself took from the machine (it shares the cores)."""
    if proc is None:
        return {"error": "py-spy not installed"}
    cpu = reap(proc) if proc.returncode is None else None
    path: Path = proc.output_path  # type: ignore[attr-defined]
    if not path.exists():
        return {"error": f"py-spy exited with {proc.returncode} (ptrace not permitted?)"}
    return {"top_self_time": top_functions(path.read_text()), "cpu_seconds": cpu}
