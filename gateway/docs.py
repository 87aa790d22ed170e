"""Interactive API docs that work offline.

FastAPI's ``/docs`` page loads Swagger UI's JavaScript and CSS from a CDN, so on an air-gapped host (or
behind a strict proxy) it renders blank. The assets come instead from the ``swagger-ui-bundle-v2`` wheel
(Swagger UI 5.x, which understands the OpenAPI 3.1 documents FastAPI emits) and are served under
``/static/swagger-ui``. ReDoc has no such wheel and is switched off.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

STATIC_PREFIX = "/static/swagger-ui"


def swagger_ui_dir() -> Path:
    import swagger_ui_bundle

    return Path(str(swagger_ui_bundle.swagger_ui_path))


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` from local assets. The app must be created with ``docs_url=None, redoc_url=None``."""
    app.mount(STATIC_PREFIX, StaticFiles(directory=swagger_ui_dir()), name="swagger-ui")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - API docs",
            swagger_js_url=f"{root}{STATIC_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_PREFIX}/favicon-32x32.png",
        )

    app.add_api_route("/docs", swagger_ui, methods=["GET"], include_in_schema=False)
