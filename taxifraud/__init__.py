"""Real-time taxi-payment fraud detection on Triton."""

__version__ = "0.1.0"
