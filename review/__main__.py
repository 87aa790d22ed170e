"""``python -m review``: serve the analyst review page with settings from the environment (the image's
entrypoint)."""

from __future__ import annotations

from review.app import run
from review.settings import load_settings

if __name__ == "__main__":
    run(load_settings())
