"""How every Click command of the project runs as a program (``taxifraud``, ``python -m operations.benchmarks.chaos``,
...): the command's returned integer is the exit status, a usage error exits 2 with Click's message, and logging is
set up once, by :func:`taxifraud.logs.configure_logging`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click

from taxifraud.logs import configure_logging


def run_command(command: click.Command, argv: Sequence[str] | None = None, prog_name: str | None = None) -> int:
    """Run ``command`` on ``argv`` (default: ``sys.argv[1:]``) and return its exit status instead of exiting."""
    if not logging.getLogger().handlers:
        configure_logging(logging.INFO)
    try:
        code = command.main(
            args=list(sys.argv[1:] if argv is None else argv), prog_name=prog_name, standalone_mode=False
        )
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 1
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return int(code or 0)
