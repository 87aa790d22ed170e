"""The HTTP gateway: ``POST /transactions`` to Kafka, ``POST /score`` on Triton, health and metrics.

Start it with ``taxifraud gateway`` (:func:`gateway.server.run`) or ``uvicorn gateway.app:app``.
"""
