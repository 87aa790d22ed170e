"""``python -m consumer``: run the worker with settings from the environment."""

from __future__ import annotations

import sys

from consumer.settings import Settings
from consumer.worker import run

if __name__ == "__main__":
    sys.exit(run(Settings()))
