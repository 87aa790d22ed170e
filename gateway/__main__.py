"""``python -m gateway``: serve the HTTP gateway with settings from the environment (the image's entrypoint)."""

from __future__ import annotations

from gateway.server import run
from gateway.settings import load_settings

if __name__ == "__main__":
    run(load_settings())
