"""The operations layer: what runs, drives and measures the services, and never runs in production itself.

The ``taxifraud`` command (:mod:`operations.cli`), the embedded stack and its supervisor
(:mod:`operations.stack`, :mod:`operations.embedded`), demo, replay, the traffic generator, batch
scoring, the verdict tail and the benchmarks. It imports the services (``gateway``, ``consumer``,
``export``) and the shared core (``taxifraud``); nothing below imports it (pyproject.toml's
import-linter contracts, checked by ``make lint`` and ``make test``). See docs/architecture.md.
"""
