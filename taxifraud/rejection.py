"""Why a request body is refused: one exception and one issue shape for every write route's validation.

Transactions (``gateway.schema``) and analyst labels (:mod:`taxifraud.labels`) answer their clients the
same way, an HTTP status and a ``detail`` in FastAPI's shape, so both raise this one class.
"""

from __future__ import annotations

from typing import Any


class Rejected(ValueError):
    """The request cannot be accepted; carries the HTTP status and the ``detail`` for the client."""

    def __init__(self, status: int, detail: str | list[dict[str, Any]]) -> None:
        super().__init__(detail if isinstance(detail, str) else f"{len(detail)} validation errors")
        self.status = status
        self.detail = detail


def issue(loc: tuple[Any, ...], msg: str, type_: str) -> dict[str, Any]:
    """One validation issue under the request ``body``, as FastAPI reports them."""
    return {"loc": ["body", *loc], "msg": msg, "type": type_}
