"""Labels from the terminal and from scripts: ``taxifraud label ID fraud|legit`` and the demo's reviewer.

Both go through the gateway's ``POST /labels``, the one way in for labels from outside, so they meet the
same validation, auth and broker acknowledgement as any other client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from taxifraud.config import ToolSettings, load_from_env


def default_gateway_url() -> str:
    from operations.stack import Stack, StackSettings

    return Stack(StackSettings()).gateway_url


def post_labels(
    labels: Sequence[dict[str, Any]],
    gateway_url: str | None = None,
    api_key: str | None = None,
    verify: Any = True,
    timeout: float = 10.0,
) -> tuple[int, Any]:
    """POST ``labels`` (one or a batch) to the gateway; returns the HTTP status and the decoded answer."""
    url = (gateway_url or default_gateway_url()).rstrip("/") + "/labels"
    key = api_key if api_key is not None else load_from_env(ToolSettings, "tools").taxifraud_api_key.get_secret_value()
    headers = {"X-API-Key": key} if key else {}
    body: Any = labels[0] if len(labels) == 1 else list(labels)
    resp = httpx.post(url, json=body, headers=headers, timeout=timeout, verify=verify)
    try:
        answer = resp.json()
    except ValueError:
        answer = resp.text
    return resp.status_code, answer
