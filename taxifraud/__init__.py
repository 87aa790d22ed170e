"""Real-time taxi-payment fraud detection on Triton: the shared core.

Wire format, settings, Kafka helpers, model metadata, reasons, verdicts, the Triton and ONNX Runtime
scorers, and the process rules (heap, parent death) that the services (``gateway``, ``consumer``,
``export``) and the operations layer (``operations``) import. It imports none of them
(pyproject.toml's import-linter contracts). See docs/architecture.md.
"""

__version__ = "0.1.0"
