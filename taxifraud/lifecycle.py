"""Process lifetime rules shared by the supervisor and the services it starts.

Only the operating system can guarantee that a child dies with its parent when the parent is killed
with SIGKILL (no handler runs then). On Linux that is ``prctl(PR_SET_PDEATHSIG)``: the kernel sends
the signal to the child the moment its parent thread exits. Elsewhere this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
#: Set by a supervisor for its children: "you (and the workers you fork) must not outlive me".
ENV_DIE_WITH_PARENT = "TAXIFRAUD_DIE_WITH_PARENT"

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent(expected_parent: int | None = None, sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies.

    ``expected_parent`` closes the race in which the parent died before the request was made: then
    the process has already been re-parented, and it exits at once. Safe to call between fork and exec
    (no allocation beyond the ctypes call, no locks).
    """
    if _libc is None:
        return
    _libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)


def die_with_parent_if_asked() -> None:
    """For processes forked by a service itself (uvicorn workers): follow the supervisor's request."""
    if os.environ.get(ENV_DIE_WITH_PARENT) == "1":
        die_with_parent()
