"""Baseline for the gateway's speed budget: the same route in idiomatic FastAPI, doing nothing.

The requirement is that ``POST /transactions`` on the real gateway (validate, stamp, produce, wait for the
broker's ack) reach at least 0.9x the request rate of this app under the same load (``wrk`` with the same
body). Run it exactly like the gateway: ``uvicorn operations.benchmarks.noop:app --port 8001 --no-access-log``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Body, FastAPI

app = FastAPI(title="taxifraud gateway no-op baseline")


@app.post("/transactions", status_code=202)
@app.post("/transaction", status_code=202)
async def transactions(body: dict[str, Any] | list[dict[str, Any]] = Body(...)) -> dict[str, Any]:  # noqa: B008
    """Parse the JSON body (FastAPI's own way) and answer like the gateway, without validating or storing."""
    count = len(body) if isinstance(body, list) else 1
    return {"accepted": count, "transaction_ids": []}
