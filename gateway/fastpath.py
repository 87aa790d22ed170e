"""Answers the write paths before FastAPI's router, which would cost as much as the real work.

Why: see :mod:`gateway.handlers`. The paths and their handlers come from the route table
(:func:`gateway.routes.fast_paths`); anything else, or a request arriving before the app has started,
goes on to FastAPI.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from .asgi import ClientGone
from .handlers import FastHandler, Gateway, serve


class FastPathMiddleware:
    """Sits inside :class:`gateway.metrics.MetricsMiddleware`, so these requests are counted like any other."""

    def __init__(self, app: ASGIApp, paths: Mapping[str, FastHandler]) -> None:
        self.app = app
        self.paths = dict(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.paths.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if handler is not None:
            gw: Gateway | None = getattr(scope["app"].state, "gateway", None)
            if gw is not None:
                try:
                    reply = await serve(gw, handler, scope, receive)
                except ClientGone:
                    return
                await reply.send(send)
                return
        await self.app(scope, receive, send)
