"""What the write endpoints need from raw ASGI: reading a bounded body, and answering with JSON bytes.

Kept apart from the handlers (:mod:`gateway.handlers`) so that they read as the rules of each endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from . import schema

_JSON_HEADERS = [(b"content-type", b"application/json")]


class ClientGone(Exception):
    """The client disconnected before its body arrived; there is nobody to answer."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    retry_after: int | None = None

    def headers(self) -> list[tuple[bytes, bytes]]:
        extra = [(b"retry-after", str(self.retry_after).encode())] if self.retry_after is not None else []
        return [*_JSON_HEADERS, (b"content-length", str(len(self.body)).encode()), *extra]

    async def send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers()})
        await send({"type": "http.response.body", "body": self.body})

    def response(self) -> Response:
        """The same answer as a Starlette response, for the FastAPI routes."""
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return Response(self.body, status_code=self.status, media_type="application/json", headers=headers)


def problem(status: int, detail: Any, reason: str | None = None, retry_after: int | None = None) -> Reply:
    body: dict[str, Any] = {"detail": detail}
    if reason is not None:
        body["reason"] = reason
    return Reply(status, orjson.dumps(body), retry_after)


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The body, refusing (413) as soon as it is known to exceed ``limit``: by header, else while streaming."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > limit:
                raise schema.Rejected(413, f"body of {int(value)} bytes exceeds GATEWAY_MAX_BODY_BYTES={limit}")
            break
    message = await receive()
    if message["type"] != "http.request":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the usual case: the whole body in one message
        if len(body) > limit:
            raise schema.Rejected(413, f"body exceeds GATEWAY_MAX_BODY_BYTES={limit}")
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise schema.Rejected(413, f"body exceeds GATEWAY_MAX_BODY_BYTES={limit}")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
