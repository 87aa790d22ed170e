"""Alias of :mod:`operations.cli`, kept so that ``python -m taxifraud.cli ...`` (the module name before the
operations layer had its own package) still runs the ``taxifraud`` command.

The only module of the core that imports upwards, and only to forward: nothing in the core imports it
(pyproject.toml's import-linter contracts ignore exactly this one import, ``taxifraud.cli -> operations.cli``).
New code and child processes use ``python -m operations.cli`` or the ``taxifraud`` console script.
"""

from __future__ import annotations

import sys

from operations.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
