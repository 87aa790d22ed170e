"""The project's one logging set-up, shared by the ``taxifraud`` command and the services it starts."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"


def configure_logging(level: int | str = logging.INFO) -> None:
    """Log ``level`` and above to stderr. Called again (a later ``-v``), it only changes the level."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format=LOG_FORMAT, stream=sys.stderr)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # One INFO line per HTTP request from the load generators' client would drown everything else.
    logging.getLogger("httpx").setLevel(logging.WARNING)
